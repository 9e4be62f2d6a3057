"""/settings and /admin, driven as people would, in English and in Russian."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
from sqlalchemy import select

from bot.fake_telegram.models import StoredMessage
from crm_core.errors import RequiredFieldsMissing
from crm_core.models import Invite, Role, User
from crm_core.models.items import ItemType, Pipeline, Stage
from crm_core.services import admin_queries
from crm_core.services import items as items_service
from crm_core.services import notifications as notifications_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.required_fields import get_required_fields
from handlers.admin_common import AdmCB
from handlers.admin_pipelines import PipelineAction, PipelinesCB
from handlers.admin_required import RequiredAction, RequiredCB
from handlers.admin_users import UserAction, UsersCB
from handlers.settings import SetAction, SetCB
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

BOB = 2002


async def _user(bot: Harness, tg_id: int) -> User:
    async with bot.app.db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.telegram_id == tg_id))
    assert user is not None
    return user


# Pushed on their own schedule (the daily digest is due at 09:00 by default): not replies.
PUSHED = ("☀️ Good morning", "☀️ Доброе утро")


async def _say(bot: Harness, user_id: int, text: str) -> list[StoredMessage]:
    return [m for m in await bot.say(user_id, text) if not (m.text or "").startswith(PUSHED)]


def _last_answer(bot: Harness) -> dict:
    answer = list(bot.tg.callback_answers.values())[-1]
    assert answer is not None
    return answer


def _labels(message: StoredMessage) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


def test_longest_callback_data_fits() -> None:
    longest = [
        RequiredCB(action=RequiredAction.TOGGLE, id=2**31, kind="company", field="company_title").pack(),
        UsersCB(action=UserAction.DEPARTMENT_NEW, id=2**31, page=999).pack(),
        UsersCB(action=UserAction.DEPARTMENT, id=2**31, page=999, value=str(2**31)).pack(),
        SetCB(action=SetAction.TIMEZONE_SET, v="America/New_York").pack(),
        SetCB(action=SetAction.MUTE_TOGGLE, v="task_status_changed").pack(),
    ]
    assert all(len(d.encode()) <= 64 for d in longest), longest


# --- /settings -----------------------------------------------------------------------------------


async def test_timezone_by_button_and_by_typed_name(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(bot)
    [screen] = await _say(bot, ADMIN_ID, "/settings")
    assert "Settings" in screen.text and "Timezone: UTC" in screen.text
    await bot.press(ADMIN_ID, screen, "Timezone")
    assert "Europe/Moscow (UTC+3)" in _labels(bot.current(screen))
    await bot.press(ADMIN_ID, screen, "Asia/Vladivostok")
    assert "Asia/Vladivostok (UTC+10)" in bot.current(screen).text
    assert (await _user(bot, ADMIN_ID)).timezone == "Asia/Vladivostok"

    # Typed: a wrong name changes nothing and says why; a right one is taken.
    await bot.press(ADMIN_ID, screen, "Timezone")
    await bot.press(ADMIN_ID, screen, "Type a timezone")
    assert "Cancel" in _labels(bot.current(screen))[0]
    [refusal] = await _say(bot, ADMIN_ID, "Mars/Olympus_<b>")
    assert "don't know the timezone «Mars/Olympus_<b>»" in refusal.text
    assert (await _user(bot, ADMIN_ID)).timezone == "Asia/Vladivostok"
    replies = await _say(bot, ADMIN_ID, "America/Sao_Paulo")
    assert "Timezone: America/Sao_Paulo" in replies[0].text
    assert "America/Sao_Paulo (UTC−3)" in replies[-1].text
    assert (await _user(bot, ADMIN_ID)).timezone == "America/Sao_Paulo"
    # The form is over: a later message is not taken for a timezone.
    [hint] = await _say(bot, ADMIN_ID, "Europe/Berlin")
    assert "don't know what to do" in hint.text
    assert (await _user(bot, ADMIN_ID)).timezone == "America/Sao_Paulo"


async def test_reminders_digest_and_muting_in_russian(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(bot)
    me = await add_member(bot, BOB, "Борис", lang="ru")
    assert me.reminder_offsets == [0, 15]
    [screen] = await _say(bot, BOB, "/settings")
    assert "Настройки" in screen.text and "за 15 минут, в момент срока" in screen.text

    await bot.press(BOB, screen, "Напоминания")
    await bot.press(BOB, screen, "за 1 час")
    await bot.press(BOB, screen, "в момент срока")
    assert "Выбрано: за 1 час, за 15 минут" in bot.current(screen).text
    assert (await _user(bot, BOB)).reminder_offsets == [0, 15]  # nothing saved before "Save"
    await bot.press(BOB, screen, "Сохранить")
    assert _last_answer(bot).get("text") == "Напоминания сохранены."
    assert (await _user(bot, BOB)).reminder_offsets == [60, 15]
    assert "за 1 час, за 15 минут" in bot.current(screen).text

    await bot.press(BOB, screen, "Утренняя сводка")
    await bot.press(BOB, screen, "07:30")
    await bot.press(BOB, screen, "Только рабочие дни")
    me = await _user(bot, BOB)
    assert me.digest_time == time(7, 30) and me.digest_workdays_only is False
    assert "07:30, каждый день" in bot.current(screen).text
    await bot.press(BOB, screen, "Ввести время")
    [bad] = await _say(bot, BOB, "25:99")
    assert "не время" in bad.text
    replies = await _say(bot, BOB, "8.45")
    assert "08:45, каждый день" in replies[-1].text
    assert (await _user(bot, BOB)).digest_time == time(8, 45)

    await bot.press(BOB, replies[-1], "Назад")
    await bot.press(BOB, replies[-1], "Уведомления")
    await bot.press(BOB, replies[-1], "Упоминания")
    assert "🔕 Упоминания" in _labels(bot.current(replies[-1]))
    await bot.press(BOB, replies[-1], "Новые комментарии")
    async with bot.app.db.unit_of_work() as s:
        assert await notifications_service.muted_categories(s, me.id) == {"mentioned", "comment_added"}
        # A muted category queues nothing.
        assert await notifications_service.notify(s, me.id, "mentioned", {}) is None
    await bot.press(BOB, replies[-1], "Новые комментарии")  # on again
    await bot.press(BOB, replies[-1], "Назад")
    assert "Отключённые уведомления: Упоминания" in bot.current(replies[-1]).text
    async with bot.app.db.unit_of_work() as s:
        assert await notifications_service.muted_categories(s, me.id) == {"mentioned"}

    # Forged settings data changes nothing.
    marker_tz = (await _user(bot, BOB)).timezone
    bot.tg.forge_callback(BOB, "set:tzs:Mars/Base", message_id=screen.message_id)
    bot.tg.forge_callback(BOB, "set:mut:" + "x" * 30, message_id=screen.message_id)
    bot.tg.forge_callback(BOB, "set:rmt:99999", message_id=screen.message_id)
    await bot.settle()
    assert (await _user(bot, BOB)).timezone == marker_tz
    async with bot.app.db.unit_of_work() as s:
        assert await notifications_service.muted_categories(s, me.id) == {"mentioned"}


# --- /admin: users and invites -------------------------------------------------------------------


async def test_admin_changes_role_department_and_access(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(bot)
    bob = await add_member(bot, BOB, "Bob")
    [menu] = await _say(bot, ADMIN_ID, "/menu")
    [screen] = await bot.press(ADMIN_ID, menu, "Admin")
    assert "Administration" in screen.text
    await bot.press(ADMIN_ID, screen, "Users")
    assert "Users: 2" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Bob")
    assert "Role: salesperson" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Head of department")
    assert (await _user(bot, BOB)).role == Role.HEAD
    assert "Role: head of department" in bot.current(screen).text

    await bot.press(ADMIN_ID, screen, "Change department")
    await bot.press(ADMIN_ID, screen, "New department")
    replies = await _say(bot, ADMIN_ID, "North <sales>")
    assert "Department: North <sales>" in replies[-1].text
    bob = await _user(bot, BOB)
    assert bob.department_id is not None
    card = replies[-1]
    await bot.press(ADMIN_ID, card, "Change department")
    await bot.press(ADMIN_ID, card, "No department")
    assert (await _user(bot, BOB)).department_id is None
    await bot.press(ADMIN_ID, card, "Change department")
    await bot.press(ADMIN_ID, card, "North")
    assert (await _user(bot, BOB)).department_id == bob.department_id

    await bot.press(ADMIN_ID, card, "Deactivate")
    assert "Switch off access for Bob?" in bot.current(card).text
    await bot.press(ADMIN_ID, card, "Yes, deactivate")
    assert not (await _user(bot, BOB)).is_active
    assert "switched off" in bot.current(card).text
    [refusal] = await _say(bot, BOB, "/start")
    assert "access to this CRM has been switched off" in refusal.text
    await bot.press(ADMIN_ID, card, "Reactivate")
    [menu] = await _say(bot, BOB, "/menu")
    assert "Main menu" in menu.text


async def test_last_admin_cannot_step_down_russian(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    anna = await admin_user(bot, lang="ru")
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    assert "Администрирование" in screen.text
    await bot.press(ADMIN_ID, screen, "Сотрудники")
    await bot.press(ADMIN_ID, screen, "Anna")
    assert "(вы)" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Менеджер по продажам")
    assert "последний администратор" in _last_answer(bot)["text"] and _last_answer(bot)["show_alert"]
    await bot.press(ADMIN_ID, screen, "Отключить доступ")
    await bot.press(ADMIN_ID, screen, "Да, отключить")
    assert "последний администратор" in _last_answer(bot)["text"]
    anna = await _user(bot, ADMIN_ID)
    assert anna.role == Role.ADMIN and anna.is_active

    # The lead pipeline in Russian: the success stage is kept, with a clear reason.
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Воронки")
    await bot.press(ADMIN_ID, screen, "Лиды: Лиды")
    assert "Воронка лидов: Лиды" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Качественный лид")
    assert "Тип: успех" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Удалить")
    await bot.press(ADMIN_ID, screen, "Да, удалить")
    assert "Успешную стадию удалить нельзя" in _last_answer(bot)["text"]
    async with bot.app.db.unit_of_work() as s:
        assert (
            await s.scalar(select(Stage).where(Stage.entity_type == ItemType.LEAD, Stage.code == "CONVERTED"))
            is not None
        )


async def test_invites_are_listed_and_revoked(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(bot)
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Invites")
    assert "No active invites" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "New invite")
    await bot.press(ADMIN_ID, screen, "Salesperson")
    assert "?start=inv_" in bot.current(screen).text
    async with bot.app.db.unit_of_work() as s:
        invite = await s.scalar(select(Invite))
    assert invite is not None

    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Invites")
    assert f"inv_{invite.code}" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Revoke 1")
    assert "link no longer works" in _last_answer(bot)["text"]
    assert "No active invites" in bot.current(screen).text
    bot.tg.add_user(3003, "Eve", language_code="en")
    [refusal] = await _say(bot, 3003, f"/start inv_{invite.code}")
    assert "not valid" in refusal.text
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(User).where(User.telegram_id == 3003)) is None


# --- /admin: pipelines, stages, required fields --------------------------------------------------


async def _stages(bot: Harness, pipeline_id: int) -> list[Stage]:
    async with bot.app.db.unit_of_work() as s:
        return list(await pipelines_service.list_stages(s, pipeline_id))


async def test_pipeline_and_stage_editing(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    anna = await admin_user(bot)
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Pipelines")
    await bot.press(ADMIN_ID, screen, "New deal pipeline")
    replies = await _say(bot, ADMIN_ID, "Wholesale")
    assert replies[0].text.startswith("Pipeline created.")
    screen = replies[-1]
    assert "Deal pipeline: Wholesale" in screen.text and "In progress" in screen.text
    async with bot.app.db.unit_of_work() as s:
        pipeline = await s.scalar(select(Pipeline).where(Pipeline.name == "Wholesale"))
    assert pipeline is not None
    assert [st.code for st in await _stages(bot, pipeline.id)][:2] == ["NEW", "PREPARATION"]

    # Rename, recolour and move a stage up.
    await bot.press(ADMIN_ID, screen, "Preparing documents")
    await bot.press(ADMIN_ID, screen, "Rename")
    replies = await _say(bot, ADMIN_ID, "Docs")
    card = replies[-1]
    assert card.text.startswith("Stage renamed.") and "Docs" in card.text
    await bot.press(ADMIN_ID, card, "Colour")
    await bot.press(ADMIN_ID, card, "Purple")
    assert "#9D6BE0" in bot.current(card).text
    await bot.press(ADMIN_ID, card, "Up")
    stages = await _stages(bot, pipeline.id)
    docs = next(st for st in stages if st.name == "Docs")
    assert docs.code == "PREPARATION" and docs.color == "#9D6BE0"  # renamed: the admin's word, any language
    assert [(st.code, st.name) for st in stages][:2] == [("PREPARATION", "Docs"), ("NEW", None)]
    assert "Up" not in " ".join(_labels(bot.current(card)))  # first of its group now

    # Delete an empty stage.
    await bot.press(ADMIN_ID, card, "Back")
    await bot.press(ADMIN_ID, card, "Final invoice")
    await bot.press(ADMIN_ID, card, "Delete")
    await bot.press(ADMIN_ID, card, "Yes, delete")
    assert _last_answer(bot)["text"] == "Stage deleted."
    assert "FINAL_INVOICE" not in [st.code for st in await _stages(bot, pipeline.id)]
    assert "Final invoice" not in bot.current(card).text

    # Add a failure stage.
    await bot.press(ADMIN_ID, card, "Add stage")
    [ask] = await _say(bot, ADMIN_ID, "Too expensive")
    await bot.press(ADMIN_ID, ask, "Lost (failure)")
    added = next(st for st in await _stages(bot, pipeline.id) if st.name == "Too expensive")
    assert added.semantics == "failure"
    assert "Too expensive" in bot.current(ask).text

    # A stage with a deal on it is not deleted, and says why.
    new = next(st for st in await _stages(bot, pipeline.id) if st.code == "NEW")
    async with bot.app.db.unit_of_work() as s:
        await items_service.create_deal(s, anna, title="Big order", stage_id=new.id)
    await bot.press(ADMIN_ID, ask, "New")
    await bot.press(ADMIN_ID, ask, "Delete")
    await bot.press(ADMIN_ID, ask, "Yes, delete")
    answer = _last_answer(bot)
    assert answer["show_alert"] and "still holds 1 item" in answer["text"]
    assert new.id in [st.id for st in await _stages(bot, pipeline.id)]

    # Rename the pipeline.
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Pipelines")
    await bot.press(ADMIN_ID, screen, "Deals: Wholesale")
    await bot.press(ADMIN_ID, screen, "Rename")
    replies = await _say(bot, ADMIN_ID, "Wholesale B2B")
    assert "Deal pipeline: Wholesale B2B" in replies[-1].text
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Pipeline, pipeline.id)).name == "Wholesale B2B"


async def test_required_fields_per_type_and_pipeline(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    anna = await admin_user(bot)
    [screen] = await _say(bot, ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Required fields")
    await bot.press(ADMIN_ID, screen, "Deals (all pipelines)")
    await bot.press(ADMIN_ID, screen, "Amount")
    await bot.press(ADMIN_ID, screen, "Contact")
    await bot.press(ADMIN_ID, screen, "Contact")  # off again
    async with bot.app.db.unit_of_work() as s:
        assert await get_required_fields(s, ItemType.DEAL) == []  # nothing before Save
    await bot.press(ADMIN_ID, screen, "Save")
    assert _last_answer(bot)["text"] == "Required fields saved."
    assert "Chosen: Amount" in bot.current(screen).text

    await bot.press(ADMIN_ID, screen, "Back")
    await bot.press(ADMIN_ID, screen, "Deals: General")
    assert "Also required in every deal pipeline: Amount" in bot.current(screen).text
    await bot.press(ADMIN_ID, screen, "Close date")
    await bot.press(ADMIN_ID, screen, "Save")
    async with bot.app.db.unit_of_work() as s:
        general = await pipelines_service.default_pipeline(s, ItemType.DEAL)
        assert await admin_queries.required_fields_of(s, ItemType.DEAL) == ["amount"]
        own = await admin_queries.required_fields_of(s, ItemType.DEAL, pipeline_id=general.id)
        assert own == ["close_date"]
    # crm_core now refuses a deal without them.
    with pytest.raises(RequiredFieldsMissing) as missing:
        async with bot.app.db.unit_of_work() as s:
            await items_service.create_deal(s, anna, title="No amount")
    assert set(missing.value.fields) == {"deal.amount", "deal.close_date"}
    async with bot.app.db.unit_of_work() as s:
        deal = await items_service.create_deal(
            s, anna, title="Fine", amount=Decimal("100"), close_date=date(2030, 1, 1)
        )
        assert deal.id


async def test_non_admins_are_refused_even_with_forged_buttons(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(bot)
    bob = await add_member(bot, BOB, "Bob", lang="ru")
    [refusal] = await _say(bot, BOB, "/admin")
    assert refusal.text == "Этот раздел доступен только администраторам."
    [menu] = await _say(bot, BOB, "/menu")
    assert not any("Админка" in label for label in _labels(menu))
    async with bot.app.db.unit_of_work() as s:
        lead_pipeline = await pipelines_service.default_pipeline(s, ItemType.LEAD)
        stage = (await pipelines_service.list_stages(s, lead_pipeline.id))[0]
    marker = bot.tg.mark()
    forged = [
        "m:admin",
        UsersCB(action=UserAction.ROLE, id=bob.id, value="admin").pack(),
        PipelinesCB(action=PipelineAction.DELETE_YES, id=stage.id).pack(),
        PipelinesCB(action=PipelineAction.COLOUR, id=stage.id, value="4").pack(),
        PipelinesCB(action=PipelineAction.NEW).pack(),
        RequiredCB(action=RequiredAction.SAVE, kind="deal").pack(),
        AdmCB().pack(),
    ]
    updates = [bot.tg.forge_callback(BOB, data, message_id=menu.message_id) for data in forged]
    await bot.settle()
    for update in updates:
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer is not None and answer["text"] == "Этот раздел доступен только администраторам."
    assert bot.new_bot_messages(BOB, marker) == []
    assert bot.current(menu).text == menu.text
    bob = await _user(bot, BOB)
    assert bob.role == Role.SALESPERSON
    stages = await _stages(bot, lead_pipeline.id)
    assert stage.id in [st.id for st in stages] and stages[0].color == stage.color
    # Typing a name afterwards is not taken for a pipeline either.
    [hint] = await _say(bot, BOB, "Evil pipeline")
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(Pipeline).where(Pipeline.name == "Evil pipeline")) is None
    assert hint.text.startswith("Не понимаю")
