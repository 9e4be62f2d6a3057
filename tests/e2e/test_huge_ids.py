"""Ids from outside (forged buttons, typed refs, deep links) that no database column can hold are
simply missing items: "Not found", never a crash (issue 15)."""

from __future__ import annotations

import logging

import pytest

from crm_core.models.items import ItemType
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from handlers.activity_screens import ActAction, ActCB
from handlers.admin_pipelines import PipelineAction, PipelinesCB
from handlers.admin_users import UserAction, UsersCB
from handlers.agenda import AvAction, AvCB
from handlers.callbacks import CardAction, CardCB
from handlers.card_fields import FieldAction, FieldCB
from handlers.card_people import PeopleAction, PeopleCB
from handlers.card_stages import StageAction, StageCB
from handlers.card_trash import TrashAction, TrashCB
from handlers.conversion import ConvAction, ConvCB
from handlers.kanban import KbAction, KbCB
from handlers.tasks import TkAction, TkCB
from handlers.timeline import TlAction, TlCB
from handlers.today import TodayAction, TodayCB
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import admin_user

# Past BIGINT, at BIGINT's end, and past INTEGER (what PostgreSQL's id columns hold).
HUGE = (2**63, 99999999999999999999999999999999, 2**63 - 1, 2**31)
NOT_FOUND = "Not found"


def _forged(big: int) -> list[str]:
    lead = ItemType.LEAD
    return [
        CardCB(type=lead, id=big, action=CardAction.OPEN).pack(),
        CardCB(type=lead, id=big, action=CardAction.TIMELINE).pack(),
        CardCB(type=lead, id=big, action=CardAction.TASK).pack(),
        ConvCB(action=ConvAction.SCHEME, lead=big, s="contact").pack(),
        FieldCB(t=lead, id=big, f="currency", a=FieldAction.EDIT).pack(),
        PeopleCB(t=lead, id=big, a=PeopleAction.PICK_OBSERVERS).pack(),
        StageCB(t=lead, id=big, a=StageAction.MOVE, v=1).pack(),
        ActCB(action=ActAction.OPEN, id=big).pack(),
        ActCB(action=ActAction.LIST, t="lead", id=big).pack(),
        TkCB(action=TkAction.OPEN, id=big).pack(),
        TlCB(action=TlAction.VIEW, t="lead", id=big).pack(),
        TrashCB(a=TrashAction.RESTORE, t="lead", id=big).pack(),
        TodayCB(action=TodayAction.DONE, id=big).pack(),
        UsersCB(action=UserAction.OPEN, id=big).pack(),
        PipelinesCB(action=PipelineAction.OPEN, id=big).pack(),
    ]


async def _press_all_calmly(bot: Harness, caplog: pytest.LogCaptureFixture, payloads: list[str]) -> None:
    """The admin presses each forged button on their menu: each is answered, none with "went
    wrong", and nothing is logged as an error."""
    [menu] = await bot.say(ADMIN_ID, "/menu")
    caplog.set_level(logging.ERROR)
    for data in payloads:
        update = bot.tg.forge_callback(ADMIN_ID, data, message_id=menu.message_id)
        await bot.settle()
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer is not None, data
        assert "went wrong" not in (answer.get("text") or ""), (data, answer)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("big", HUGE)
async def test_forged_buttons_with_huge_ids_say_not_found(
    bot: Harness, big: int, caplog: pytest.LogCaptureFixture
) -> None:
    await admin_user(bot)
    await _press_all_calmly(bot, caplog, _forged(big))


@pytest.mark.parametrize("big", HUGE)
async def test_a_card_button_with_a_huge_id_says_not_found(bot: Harness, big: int) -> None:
    await admin_user(bot)
    [menu] = await bot.say(ADMIN_ID, "/menu")
    update = bot.tg.forge_callback(ADMIN_ID, f"c:lead:{big}:open", message_id=menu.message_id)
    await bot.settle()
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None and NOT_FOUND in answer["text"]


@pytest.mark.parametrize("text", ["L-99999999999999999999", "D-9223372036854775808", "C 2147483648"])
async def test_a_typed_ref_with_a_huge_id_says_not_found(bot: Harness, text: str) -> None:
    await admin_user(bot)
    [reply] = await bot.say(ADMIN_ID, text)
    assert NOT_FOUND in reply.text


async def test_a_deep_link_with_a_huge_id_says_not_found(bot: Harness) -> None:
    await admin_user(bot)
    [reply] = await bot.say(ADMIN_ID, "/start L-99999999999999999999")
    assert NOT_FOUND in reply.text


async def test_searching_a_huge_ref_finds_nothing_without_error(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await admin_user(bot)
    caplog.set_level(logging.ERROR)
    await bot.say(ADMIN_ID, "/find L-99999999999999999999")
    await bot.say(ADMIN_ID, "/find C-2147483648")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("big", (*HUGE, 10**40, -1))
async def test_forged_pages_past_any_end_show_a_page(
    bot: Harness, big: int, caplog: pytest.LogCaptureFixture
) -> None:
    """A page number or offset no list has (a forged button): an answer and a screen, no crash."""
    admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        lead = await items_service.create_lead(s, admin, title="Paged")
        stage = await pipelines_service.first_stage(s, lead.pipeline_id)
        lead_id, stage_id = lead.id, stage.id
    await _press_all_calmly(bot, caplog, [
        KbCB(action=KbAction.STAGE, s=stage_id, o=big).pack(),
        AvCB(a=AvAction.GROUP, g="overdue", o=big).pack(),
        PeopleCB(t=ItemType.LEAD, id=lead_id, a=PeopleAction.PICK_OBSERVERS, p=big).pack(),
        TrashCB(a=TrashAction.LIST, p=big).pack(),
        TlCB(action=TlAction.VIEW, t="lead", id=lead_id, p=big).pack(),
        TodayCB(action=TodayAction.PAGE, p=big).pack(),
        UsersCB(action=UserAction.LIST, page=big).pack(),
    ])  # fmt: skip
