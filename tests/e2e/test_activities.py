"""Activities from an item's card as a salesperson uses them: plan (quick choice, calendar + time,
typed text), reminders, Done then plan next, snooze, reschedule; forged buttons refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_core.clock import ensure_utc
from crm_core.models import User
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, ReminderState
from crm_core.services import activities as activities_service
from crm_core.services import items as items_service
from crm_core.services import users as users_service
from crm_core.services.when import at_local
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2201
OTHER_ID = 2202
VLAD = ZoneInfo("Asia/Vladivostok")


async def _team(bot: Harness, lang: str = "en", tz: str = "Asia/Vladivostok") -> tuple[User, User]:
    bot.tg.set_rate_limits(False)  # people do not tap ten times a second; limits are tested elsewhere
    await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    async with bot.app.db.unit_of_work() as s:
        user = await s.get(User, sales.id)
        assert user is not None
        users_service.set_timezone(user, tz)
    return sales, other


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


async def _plan(bot: Harness, owner: User, lead_id: int, deadline: datetime, subject: str = "") -> int:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        activity = await activities_service.create_activity(
            s, actor, owner_type="lead", owner_id=lead_id, deadline=deadline, subject=subject
        )
        return activity.id


def _today_local() -> date:
    return datetime.now(UTC).astimezone(VLAD).date()


async def _card(bot: Harness, lead_id: int, tg_id: int = SALES_ID):  # type: ignore[no-untyped-def]
    [card] = await bot.say(tg_id, f"L-{lead_id}")
    assert f"L-{lead_id}" in card.text
    return card


async def test_plan_with_a_quick_choice_in_english(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    card = await _card(bot, lead_id)
    # No open activity yet: "Activity" goes straight to planning.
    [screen] = await bot.press(SALES_ID, card, "Activity")
    assert screen.message_id == card.message_id
    assert "New activity" in screen.text and f"L-{lead_id}" in screen.text
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert any("Call" in x for x in labels) and any("Meeting" in x for x in labels)
    assert any("Cancel" in x for x in labels)
    [screen] = await bot.press(SALES_ID, screen, "Call")
    assert "Skip" in str(screen.inline_keyboard)
    [screen] = await bot.press(SALES_ID, screen, "Skip")
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert {"In 1 hour", "Tomorrow 10:00", "Next Monday 10:00"} <= set(labels)
    [screen] = await bot.press(SALES_ID, screen, "Tomorrow 10:00")
    assert "tomorrow 10:00" in screen.text
    assert "15 min before, at the deadline" in screen.text  # the default [0, 15]
    [card_again] = await bot.press(SALES_ID, screen, "Save")
    assert card_again.message_id == card.message_id
    assert "What needs to be done" in card_again.text and "Window order" in card_again.text
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "call" and activity.is_open
    assert activity.deadline == at_local(_today_local() + timedelta(days=1), time(10), VLAD)
    assert activity.deadline.astimezone(UTC).hour == 0  # 10:00 in Vladivostok is midnight UTC
    assert activity.reminder_offsets is None  # follows the defaults
    async with bot.app.db.unit_of_work() as s:
        offsets = set(
            await s.scalars(
                select(ActivityReminder.offset_minutes).where(
                    ActivityReminder.activity_id == activity.id,
                    ActivityReminder.kind == ReminderKind.REMINDER,
                    ActivityReminder.state == ReminderState.PENDING,
                )
            )
        )
    assert offsets == {0, 15}


async def test_plan_with_the_calendar_and_a_time_in_russian(bot: Harness) -> None:
    sales, _ = await _team(bot, "ru")
    lead_id = await _lead(bot, sales, "Окна")
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Дело")
    assert "Новое дело" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "Встреча")
    assert "Пропустить" in str(screen.inline_keyboard)
    [picker] = await bot.say(SALES_ID, "Обсудить <договор> & сроки")
    assert "Обсудить &lt;договор&gt;" not in picker.text and "Обсудить <договор> & сроки" in picker.text
    [screen] = await bot.press(SALES_ID, picker, "Календарь")
    assert "Выберите день" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "»")
    first_next = (_today_local().replace(day=1) + timedelta(days=32)).replace(day=1)
    months = ["Январь", "Февраль", "Март", "Апрель", "Май", "Июнь", "Июль", "Август", "Сентябрь",
              "Октябрь", "Ноябрь", "Декабрь"]  # fmt: skip
    assert f"{months[first_next.month - 1]} {first_next.year}" in str(screen.inline_keyboard)
    [screen] = await bot.press(SALES_ID, screen, "15")
    assert "15." in screen.text and "выберите время" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "14:00")
    assert "14:00" in screen.text and "за 15 мин, в момент срока" in screen.text
    [card_again] = await bot.press(SALES_ID, screen, "Сохранить")
    assert "Что нужно сделать" in card_again.text
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "meeting"
    assert activity.description == "Обсудить <договор> & сроки"
    assert activity.deadline == at_local(first_next.replace(day=15), time(14), VLAD)


async def test_plan_with_typed_text_in_both_languages(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    tomorrow_1530 = at_local(_today_local() + timedelta(days=1), time(15, 30), VLAD)

    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Call")
    [screen] = await bot.press(SALES_ID, screen, "Skip")
    # Nonsense and the past are refused with a clear message; the form waits.
    [reply] = await bot.say(SALES_ID, "whenever")
    assert "could not read" in reply.text
    [reply] = await bot.say(SALES_ID, "01.01.2020 10:00")
    assert "already passed" in reply.text
    [summary] = await bot.say(SALES_ID, "tomorrow 15:30")
    assert "tomorrow 15:30" in summary.text
    await bot.press(SALES_ID, summary, "Save")
    [activity] = await _activities(bot, lead_id)
    assert activity.deadline == tomorrow_1530
    assert activity.deadline.astimezone(UTC) == tomorrow_1530.astimezone(UTC)

    # The same in Russian.
    async with bot.app.db.unit_of_work() as s:
        user = await s.get(User, sales.id)
        assert user is not None
        users_service.set_language(user, "ru")
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Дело")  # an open activity: the list
    assert "Дела" in screen.text and "завтра 15:30" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "Запланировать")
    [screen] = await bot.press(SALES_ID, screen, "Звонок")
    [picker] = await bot.say(SALES_ID, "Перезвонить по смете")
    [summary] = await bot.say(SALES_ID, "завтра 16:45")
    assert "завтра 16:45" in summary.text
    await bot.press(SALES_ID, summary, "Сохранить")
    first, second = await _activities(bot, lead_id)
    assert second.deadline == at_local(_today_local() + timedelta(days=1), time(16, 45), VLAD)
    assert second.subject == "Перезвонить по смете"


async def test_change_the_reminders(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Task")
    [screen] = await bot.press(SALES_ID, screen, "Skip")
    [screen] = await bot.press(SALES_ID, screen, "Next Monday 10:00")
    [screen] = await bot.press(SALES_ID, screen, "Change reminders")
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert "✅ at the deadline" in labels and "✅ 15 min before" in labels and "▫️ 1 h before" in labels
    [screen] = await bot.press(SALES_ID, screen, "at the deadline")
    [screen] = await bot.press(SALES_ID, screen, "1 h before")
    [screen] = await bot.press(SALES_ID, screen, "1 day before")
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert "▫️ at the deadline" in labels and "✅ 1 h before" in labels
    [screen] = await bot.press(SALES_ID, screen, "Back")
    assert "1 day before, 1 h before, 15 min before" in screen.text
    saved_at = datetime.now(UTC)
    await bot.press(SALES_ID, screen, "Save")
    [activity] = await _activities(bot, lead_id)
    assert activity.type == "task"
    assert activity.reminder_offsets == [1440, 60, 15]
    # A reminder whose time has already passed is not made: on a Sunday in Vladivostok after 10:00,
    # "next Monday 10:00" is tomorrow and its day-before reminder is over.
    deadline = ensure_utc(activity.deadline)
    assert deadline - saved_at > timedelta(hours=13)
    due = {o for o in (1440, 60, 15) if deadline - timedelta(minutes=o) >= saved_at}
    assert {60, 15} <= due
    async with bot.app.db.unit_of_work() as s:
        offsets = set(
            await s.scalars(
                select(ActivityReminder.offset_minutes).where(
                    ActivityReminder.activity_id == activity.id,
                    ActivityReminder.kind == ReminderKind.REMINDER,
                    ActivityReminder.state == ReminderState.PENDING,
                )
            )
        )
    assert offsets == due


async def test_cancel_returns_to_the_card_and_creates_nothing(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Call")
    [screen] = await bot.press(SALES_ID, screen, "Skip")
    [screen] = await bot.press(SALES_ID, screen, "Calendar")
    [screen] = await bot.press(SALES_ID, screen, "Cancel")
    assert "What needs to be done" in screen.text
    assert await _activities(bot, lead_id) == []
    # The old form's buttons are out of date now.
    marker = bot.tg.mark()
    update = bot.tg.forge_callback(SALES_ID, f"a:rs:lead:{lead_id}:", message_id=card.message_id)
    await bot.settle()
    assert "out of date" in bot.tg.callback_answers[update["callback_query"]["id"]]["text"]
    assert bot.new_bot_messages(SALES_ID, marker) == []
    assert await _activities(bot, lead_id) == []


async def test_done_then_plan_next_or_not(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    await _plan(bot, sales, lead_id, datetime.now(UTC) + timedelta(hours=3), "First call")
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    assert "First call" in screen.text
    assert any("Plan new" in b[0] for row in screen.inline_keyboard for b in row)
    [screen] = await bot.press(SALES_ID, screen, "Done · 1")
    assert "Completed" in screen.text and "Plan the next activity" in screen.text
    [activity] = await _activities(bot, lead_id)
    assert activity.completed and activity.completed_by_id == sales.id
    [screen] = await bot.press(SALES_ID, screen, "Yes")
    assert "New activity" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "Email")
    [screen] = await bot.press(SALES_ID, screen, "Skip")
    [screen] = await bot.press(SALES_ID, screen, "In 1 hour")
    await bot.press(SALES_ID, screen, "Save")
    rows = await _activities(bot, lead_id)
    assert [a.type for a in rows if a.is_open] == ["email"]

    # "No" goes back to the card.
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Done · 1")
    [screen] = await bot.press(SALES_ID, screen, "No")
    assert "What needs to be done" in screen.text and "nothing planned" in screen.text


async def test_snooze_and_reschedule(bot: Harness) -> None:
    sales, _ = await _team(bot)
    lead_id = await _lead(bot, sales)
    start = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    activity_id = await _plan(bot, sales, lead_id, start, "Call back")
    card = await _card(bot, lead_id)
    [screen] = await bot.press(SALES_ID, card, "Activity")
    [screen] = await bot.press(SALES_ID, screen, "Move · 1")
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert {"+15 min", "+1 h", "Tomorrow 10:00"} <= set(labels) and any("Done" in x for x in labels)
    [screen] = await bot.press(SALES_ID, screen, "+1 h")
    [activity] = await _activities(bot, lead_id)
    assert activity.deadline == start + timedelta(hours=1)
    [screen] = await bot.press(SALES_ID, screen, "Tomorrow 10:00")
    [activity] = await _activities(bot, lead_id)
    assert activity.deadline == at_local(_today_local() + timedelta(days=1), time(10), VLAD)
    assert "tomorrow 10:00" in screen.text
    # Reschedule with the same date input: typed with a year.
    target = _today_local() + timedelta(days=40)
    [screen] = await bot.press(SALES_ID, screen, "Reschedule")
    assert "New deadline" in screen.text
    [shown] = await bot.say(SALES_ID, f"{target:%d.%m.%Y} 9:15")
    assert "Call back" in shown.text
    [activity] = await _activities(bot, lead_id)
    assert activity.id == activity_id and activity.deadline == at_local(target, time(9, 15), VLAD)


async def test_forged_buttons_on_anothers_item_are_refused(bot: Harness) -> None:
    sales, other = await _team(bot)
    lead_id = await _lead(bot, sales)
    activity_id = await _plan(bot, sales, lead_id, datetime.now(UTC) + timedelta(hours=3))
    [menu] = await bot.say(OTHER_ID, "/menu")
    marker = bot.tg.mark()
    for data in (
        f"a:dn:lead:{activity_id}:l",
        f"a:sz:lead:{activity_id}:1h",
        f"a:rd:lead:{activity_id}:",
        f"a:op:lead:{activity_id}:",
        f"a:pl:lead:{lead_id}:",
        f"a:ls:lead:{lead_id}:",
        f"c:lead:{lead_id}:activity",
    ):
        update = bot.tg.forge_callback(OTHER_ID, data, message_id=menu.message_id)
        await bot.settle()
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer is not None and answer.get("show_alert"), (data, answer)
        assert "access" in answer["text"] or "Not found" in answer["text"], (data, answer)
    assert bot.new_bot_messages(OTHER_ID, marker) == []
    assert bot.current(menu).text == menu.text
    [activity] = await _activities(bot, lead_id)
    assert activity.is_open
    assert activity.updated_at == activity.created_at
