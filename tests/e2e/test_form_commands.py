"""A command typed into any form leaves the form and does what it says; it is never stored as the
form's value (issue 15)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.models import Comment, Lead, Pipeline, Task, User
from crm_core.models.activities import Activity
from crm_core.models.items import ItemType
from crm_core.services import required_fields as required_service
from crm_core.services.conversion import Scheme
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user
from tests.e2e.test_conversion import SALES_ID, choose, counts, make_lead, open_convert

COMMANDS = ("/cancel", "/menu", "/start")


async def _check_command(bot: Harness, user_id: int, command: str) -> None:
    """The command's own answer, and the form is over (a second /cancel finds nothing open)."""
    replies = await bot.say(user_id, command)
    assert replies, command
    if command == "/cancel":
        assert [r.text for r in replies] == ["Cancelled."]
    else:
        assert "Main menu" in replies[-1].text, [r.text for r in replies]
    [after] = await bot.say(user_id, "/cancel")
    assert after.text == "There is nothing to cancel."


async def _lead(bot: Harness) -> tuple[User, int]:
    await admin_user(bot)
    sales = await add_member(bot, SALES_ID, "Boris")
    return sales, await make_lead(bot, sales, title="Old title")


async def _titles(bot: Harness) -> list[str]:
    async with bot.app.db.unit_of_work() as s:
        return list(await s.scalars(select(Lead.title).order_by(Lead.id)))


async def _count(bot: Harness, model: type) -> int:
    async with bot.app.db.unit_of_work() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("command", COMMANDS)
async def test_card_field_form(bot: Harness, command: str) -> None:
    _sales, lead_id = await _lead(bot)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [fields] = await bot.press(SALES_ID, card, "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Title")
    assert "Send the new value" in prompt.text
    await _check_command(bot, SALES_ID, command)
    assert await _titles(bot) == ["Old title"]


@pytest.mark.parametrize("command", COMMANDS)
async def test_new_lead_form(bot: Harness, command: str) -> None:
    await _lead(bot)
    await bot.say(SALES_ID, "/new")
    await _check_command(bot, SALES_ID, command)
    assert await _titles(bot) == ["Old title"]


@pytest.mark.parametrize("command", COMMANDS)
async def test_conversion_question(bot: Harness, command: str) -> None:
    admin = await admin_user(bot)
    sales = await add_member(bot, SALES_ID, "Boris")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, admin.id)
        await required_service.set_required_fields(s, me, ItemType.COMPANY, ["industry"])
    lead_id = await make_lead(bot, sales, company_title="Racks Ltd")
    screen = await open_convert(bot, lead_id, "en")
    ask = await choose(bot, screen, Scheme.DEAL_COMPANY, "en")
    assert "Industry" in ask.text
    await _check_command(bot, SALES_ID, command)
    assert await counts(bot) == {"deals": 0, "contacts": 0, "companies": 0}


@pytest.mark.parametrize("command", COMMANDS)
async def test_task_form(bot: Harness, command: str) -> None:
    _sales, lead_id = await _lead(bot)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [tasks] = await bot.press(SALES_ID, card, "Task")
    await bot.press(SALES_ID, tasks, "New task")
    await _check_command(bot, SALES_ID, command)
    assert await _count(bot, Task) == 0


@pytest.mark.parametrize("command", COMMANDS)
async def test_activity_description(bot: Harness, command: str) -> None:
    _sales, lead_id = await _lead(bot)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Call")
    assert "Skip" in str(screen.inline_keyboard)  # the description is asked for
    await _check_command(bot, SALES_ID, command)
    assert await _count(bot, Activity) == 0


@pytest.mark.parametrize("command", COMMANDS)
async def test_comment_form(bot: Harness, command: str) -> None:
    _sales, lead_id = await _lead(bot)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [prompt] = await bot.press(SALES_ID, card, "Comment")
    assert "Send the text of the comment" in prompt.text
    await _check_command(bot, SALES_ID, command)
    assert await _count(bot, Comment) == 0


@pytest.mark.parametrize("command", COMMANDS)
async def test_admin_form(bot: Harness, command: str) -> None:
    await admin_user(bot)
    [screen] = await bot.say(ADMIN_ID, "/admin")
    await bot.press(ADMIN_ID, screen, "Pipelines")
    await bot.press(ADMIN_ID, screen, "New deal pipeline")
    before = await _count(bot, Pipeline)
    await _check_command(bot, ADMIN_ID, command)
    assert await _count(bot, Pipeline) == before
