"""Planning "call tomorrow 10:00" in at most three actions from a card, and by one message (on the
open card or as a reply to a card); unclear text gets one question; other texts keep their way."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_core.models import User
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, ReminderState
from crm_core.services import activities as activities_service
from crm_core.services import items as items_service
from crm_core.services import users as users_service
from crm_core.services.when import at_local
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2301
VLAD = ZoneInfo("Asia/Vladivostok")


async def _sales(bot: Harness, lang: str = "en") -> User:
    bot.tg.set_rate_limits(False)
    await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    async with bot.app.db.unit_of_work() as s:
        user = await s.get(User, sales.id)
        assert user is not None
        users_service.set_timezone(user, "Asia/Vladivostok")
    return sales


async def _lead(bot: Harness, owner: User, title: str = "Window order") -> int:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        lead = await items_service.create_lead(s, actor, title=title)
        return lead.id


async def _activities(bot: Harness, lead_id: int) -> list[Activity]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(Activity).where(Activity.owner_id == lead_id).order_by(Activity.deadline, Activity.id)
        )
        return list(rows)


async def _pending_offsets(bot: Harness, activity_id: int) -> set[int]:
    async with bot.app.db.unit_of_work() as s:
        return set(
            await s.scalars(
                select(ActivityReminder.offset_minutes).where(
                    ActivityReminder.activity_id == activity_id,
                    ActivityReminder.kind == ReminderKind.REMINDER,
                    ActivityReminder.state == ReminderState.PENDING,
                )
            )
        )


def _tomorrow_at(hour: int) -> datetime:
    today: date = datetime.now(UTC).astimezone(VLAD).date()
    return at_local(today + timedelta(days=1), time(hour), VLAD)


async def _card(bot: Harness, lead_id: int):  # type: ignore[no-untyped-def]
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert f"L-{lead_id}" in card.text
    return card


async def _reply(bot: Harness, text: str, message_id: int):  # type: ignore[no-untyped-def]
    marker = bot.tg.mark()
    bot.tg.send_text(SALES_ID, text, reply_to_message_id=message_id)
    await bot.settle()
    return bot.new_bot_messages(SALES_ID, marker)


def _labels(message) -> list[str]:  # type: ignore[no-untyped-def]
    return [b[0] for row in message.inline_keyboard for b in row]


async def test_call_tomorrow_from_the_card_in_three_actions(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")  # 1
    assert "📞 Call tomorrow 10:00" in _labels(screen) and "🤝 Meeting tomorrow 10:00" in _labels(screen)
    [saved] = await bot.press(SALES_ID, screen, "Call tomorrow 10:00")  # 2: saved
    assert saved.message_id == card.message_id
    assert "Planned" in saved.text and "tomorrow 10:00" in saved.text and f"L-{lead_id}" in saved.text
    assert "15 min before, at the deadline" in saved.text
    assert {"📝 Add description", "📅 Reschedule"} <= set(_labels(saved))
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "call" and activity.is_open and activity.subject == ""
    assert activity.deadline == _tomorrow_at(10)
    assert activity.reminder_offsets is None  # follows the defaults
    assert await _pending_offsets(bot, activity.id) == {0, 15}

    # The description is optional, later: its first line becomes the subject.
    [ask] = await bot.press(SALES_ID, saved, "Add description")
    assert "Type the description" in ask.text
    [shown] = await bot.say(SALES_ID, "Discuss the <estimate>\nand the delivery date")
    assert "Discuss the &lt;estimate&gt;" not in shown.text and "«Discuss the <estimate>»" in shown.text
    [activity] = await _activities(bot, lead_id)
    assert activity.subject == "Discuss the <estimate>"
    assert activity.description == "Discuss the <estimate>\nand the delivery date"
    assert activity.deadline == _tomorrow_at(10)


async def test_quick_choices_on_the_list_when_activities_are_open(bot: Harness) -> None:
    sales = await _sales(bot, "ru")
    lead_id = await _lead(bot, sales, "Окна")
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        await activities_service.create_activity(
            s, actor, owner_type="lead", owner_id=lead_id, deadline=datetime.now(UTC) + timedelta(days=3)
        )
    card = await _card(bot, lead_id)
    [listing] = await bot.press(SALES_ID, card, "Дело")  # 1: the list of open activities
    [saved] = await bot.press(SALES_ID, listing, "Встреча завтра 10:00")  # 2: saved
    assert "Запланировано" in saved.text and "завтра 10:00" in saved.text
    meeting = [a for a in await _activities(bot, lead_id) if a.type == "meeting"]
    assert len(meeting) == 1 and meeting[0].deadline == _tomorrow_at(10)


async def test_one_message_on_the_open_card(bot: Harness) -> None:
    sales = await _sales(bot, "ru")
    lead_id = await _lead(bot, sales, "Окна")
    await _card(bot, lead_id)
    [saved] = await bot.say(SALES_ID, "звонок завтра в 10 обсудить смету")
    assert "Запланировано" in saved.text and "«обсудить смету»" in saved.text and f"L-{lead_id}" in saved.text
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "call" and activity.subject == "обсудить смету"
    assert activity.deadline == _tomorrow_at(10)
    assert await _pending_offsets(bot, activity.id) == {0, 15}
    # The card stays open: another message plans another activity on it.
    await bot.say(SALES_ID, "Meeting Friday 15:30 at the client's office")
    kinds = sorted(a.type for a in await _activities(bot, lead_id))
    assert kinds == ["call", "meeting"]


async def test_one_message_as_a_reply_to_a_card(bot: Harness) -> None:
    sales = await _sales(bot)
    first = await _lead(bot, sales, "First order")
    second = await _lead(bot, sales, "Second order")
    first_card = await _card(bot, first)
    await _card(bot, second)  # the open card is now the second one
    [saved] = await _reply(bot, "call tomorrow 10:00 discuss the estimate", first_card.message_id)
    assert f"L-{first}" in saved.text and "«discuss the estimate»" in saved.text
    [activity] = await _activities(bot, first)
    assert activity.subject == "discuss the estimate" and activity.deadline == _tomorrow_at(10)
    assert await _activities(bot, second) == []


async def test_a_reply_naming_only_a_time_asks_which_kind(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    card = await _card(bot, lead_id)
    [question] = await _reply(bot, "tomorrow 16:00 sign the contract", card.message_id)
    assert "What kind of activity" in question.text and "«sign the contract»" in question.text
    assert await _activities(bot, lead_id) == []
    [saved] = await bot.press(SALES_ID, question, "Meeting")
    assert "Planned" in saved.text
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "meeting" and activity.deadline == _tomorrow_at(16)
    assert activity.subject == "sign the contract"


async def test_an_unclear_message_gets_one_question(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    await _card(bot, lead_id)
    # No time: "When?" with the date input; nothing is created until it is answered.
    [question] = await bot.say(SALES_ID, "call discuss the estimate")
    assert "When?" in question.text and "«discuss the estimate»" in question.text
    assert "Tomorrow 10:00" in _labels(question)
    assert await _activities(bot, lead_id) == []
    [saved] = await bot.press(SALES_ID, question, "Tomorrow 10:00")
    assert "Planned" in saved.text
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "call" and activity.subject == "discuss the estimate"
    assert activity.deadline == _tomorrow_at(10)

    # Two times: which one? The buttons name them.
    [question] = await bot.say(SALES_ID, "meeting tomorrow 11:00 or 12:00")
    assert "two times" in question.text
    assert {"tomorrow 11:00", "tomorrow 12:00"} <= set(_labels(question))
    await bot.press(SALES_ID, question, "tomorrow 12:00")
    meeting = [a for a in await _activities(bot, lead_id) if a.type == "meeting"]
    assert len(meeting) == 1 and meeting[0].deadline == _tomorrow_at(12)


async def test_a_past_time_asks_when(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    await _card(bot, lead_id)
    yesterday = datetime.now(UTC).astimezone(VLAD).date() - timedelta(days=1)
    [question] = await bot.say(SALES_ID, f"call {yesterday:%d.%m.%Y} 10:00 about the invoice")
    assert "has already passed" in question.text and "When?" in question.text
    assert await _activities(bot, lead_id) == []


async def test_other_texts_keep_their_way(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    # A kind word with no card opened: as before, the bot does not understand.
    [answer] = await bot.say(SALES_ID, "call tomorrow 10:00 discuss the estimate")
    assert "I don't know what to do with" in answer.text
    await _card(bot, lead_id)
    # A text not starting with a kind word, with a card open: as before.
    [answer] = await bot.say(SALES_ID, "tomorrow 10:00 discuss the estimate")
    assert "I don't know what to do with" in answer.text
    # A ref still opens its card.
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Window order" in card.text
    assert await _activities(bot, lead_id) == []


async def test_a_subject_over_the_limit_is_refused(bot: Harness) -> None:
    sales = await _sales(bot)
    lead_id = await _lead(bot, sales)
    await _card(bot, lead_id)
    [answer] = await bot.say(SALES_ID, "call tomorrow 10:00 " + "x" * 501)
    assert "at most 500 characters" in answer.text
    assert await _activities(bot, lead_id) == []
    # The planning form refuses such a first line too, instead of cutting it.
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Call")
    [answer] = await bot.say(SALES_ID, "y" * 501)
    assert "at most 500 characters" in answer.text
    [picker] = await bot.say(SALES_ID, "y" * 500)
    [summary] = await bot.press(SALES_ID, picker, "Tomorrow 10:00")
    await bot.press(SALES_ID, summary, "Save")
    [activity] = await _activities(bot, lead_id)
    assert activity.subject == "y" * 500
