"""Pushed reminders through the real bot and the fake Bot API with its rate limits on: a reminder
at its offset in the user's timezone (an injected clock, no long sleeps), Done and snooze pressed
on the reminder (edited in place), completing cancels, forged buttons refused, a 429 storm, a
blocked user, and kill -9 between claim and send."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.fake_telegram import FakeTelegram
from crm_core.db import Database
from crm_core.models import User
from crm_core.models.activities import Activity, ActivityReminder, ReminderState
from crm_core.services import activities as acts
from crm_core.services import items as items_svc
from tests.e2e.harness import Harness, start_bot_process
from tests.e2e.people import add_member, admin_user


@pytest.fixture
async def crm(bot: Harness) -> Harness:
    # Members join through the admin's invite, and the admin is told: the admin has a chat.
    await admin_user(bot)
    return bot


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def use_clock(bot: Harness) -> Clock:
    clock = Clock()
    bot.app.scheduler.clock = clock
    return clock


def wake(crm: Harness) -> None:
    bot = crm
    assert bot.app.scheduler.engine is not None
    bot.app.scheduler.engine.wake()


async def plan(bot: Harness, user: User, deadline: datetime, *, title: str = "Acme", **kw) -> tuple[int, int]:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, user.id)
        lead = await items_svc.create_lead(s, actor, title=title)
        activity = await acts.create_activity(
            s, actor, owner_type="lead", owner_id=lead.id, deadline=deadline, subject="Call the client", **kw
        )
        return lead.id, activity.id


async def set_tz(bot: Harness, user: User, tz: str) -> None:
    async with bot.app.db.unit_of_work() as s:
        (await s.get(User, user.id)).timezone = tz


async def activity(bot: Harness, activity_id: int) -> Activity:
    async with bot.app.db.sessionmaker() as s:
        found = await s.get(Activity, activity_id)
        assert found is not None
        return found


async def reminder_states(bot: Harness, activity_id: int) -> list[str]:
    async with bot.app.db.sessionmaker() as s:
        rows = await s.scalars(
            select(ActivityReminder.state).where(ActivityReminder.activity_id == activity_id)
        )
        return sorted(str(r) for r in rows)


async def until(read, check, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        assert loop.time() < end, value
        await asyncio.sleep(0.05)


async def test_reminder_at_its_offset_in_the_users_timezone_then_done(crm: Harness) -> None:
    bot = crm
    ivan = await add_member(bot, 2001, "Ivan")
    await set_tz(bot, ivan, "Asia/Vladivostok")
    clock = use_clock(bot)
    deadline = (clock.now + timedelta(minutes=30)).replace(second=0, microsecond=0)
    lead_id, activity_id = await plan(bot, ivan, deadline, now=clock.now)
    marker = bot.tg.mark()
    await asyncio.sleep(0.3)
    assert bot.new_bot_messages(2001, marker) == []
    clock.now = deadline - timedelta(minutes=15)  # the 15-minute reminder
    wake(bot)
    (msg,) = await bot.tg.wait_bot_messages(2001, 1, timeout=5, since=marker)
    local = deadline.astimezone(ZoneInfo("Asia/Vladivostok")).strftime("%H:%M")
    assert "Reminder" in msg.text and f"L-{lead_id}" in msg.text and "Call the client" in msg.text
    assert local in msg.text and "in 15 min" in msg.text
    labels = [label for row in msg.inline_keyboard for (label, _d, _u) in row]
    assert labels == ["✅ Done", "+15 min", "+1 h", "Tomorrow 10:00", f"Open L-{lead_id}"]
    await until(lambda: reminder_states(bot, activity_id), lambda v: "sent" in v)

    edited = await bot.press(2001, msg, "Done")
    assert len(edited) == 1 and edited[0].message_id == msg.message_id  # edited in place
    assert "Done" in edited[0].text
    assert [label for row in edited[0].inline_keyboard for (label, _d, _u) in row] == [f"Open L-{lead_id}"]
    assert (await activity(bot, activity_id)).completed
    assert await reminder_states(bot, activity_id) == ["cancelled", "cancelled", "sent"]
    # Nothing more comes for it, not even at the deadline.
    clock.now = deadline + timedelta(minutes=1)
    wake(bot)
    await asyncio.sleep(0.5)
    assert len(bot.new_bot_messages(2001, marker)) == 1


async def test_snooze_buttons_move_the_deadline_and_its_reminders_ru(crm: Harness) -> None:
    bot = crm
    olga = await add_member(bot, 2002, "Ольга", lang="ru")
    await set_tz(bot, olga, "Europe/Moscow")
    clock = use_clock(bot)
    deadline = clock.now.replace(microsecond=0) + timedelta(minutes=16)
    _lead_id, activity_id = await plan(bot, olga, deadline, reminder_offsets=[15], now=clock.now)
    marker = bot.tg.mark()
    clock.now = deadline - timedelta(minutes=15)
    wake(bot)
    (msg,) = await bot.tg.wait_bot_messages(2002, 1, timeout=5, since=marker)
    assert "Напоминание" in msg.text and "через 15 мин" in msg.text

    (edited,) = await bot.press(2002, msg, "+15 мин")
    assert "Перенесено на" in edited.text
    assert (await activity(bot, activity_id)).deadline == deadline + timedelta(minutes=15)
    (edited,) = await bot.press(2002, edited, "+1 ч")
    assert (await activity(bot, activity_id)).deadline == deadline + timedelta(minutes=75)
    (edited,) = await bot.press(2002, edited, "Завтра 10:00")
    moved = (await activity(bot, activity_id)).deadline.astimezone(ZoneInfo("Europe/Moscow"))
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    assert (moved.date(), moved.hour, moved.minute) == (today + timedelta(days=1), 10, 0)
    assert "завтра в 10:00" in edited.text
    # The pending reminder moved with the deadline (15 minutes before it).
    async with bot.app.db.sessionmaker() as s:
        due = await s.scalar(
            select(ActivityReminder.due_at).where(
                ActivityReminder.activity_id == activity_id,
                ActivityReminder.state == ReminderState.PENDING,
                ActivityReminder.offset_minutes == 15,
            )
        )
    assert due == moved.astimezone(UTC) - timedelta(minutes=15)
    (edited,) = await bot.press(2002, edited, "Выполнено")
    assert "Выполнено" in edited.text and (await activity(bot, activity_id)).completed


async def test_completing_an_activity_cancels_its_reminders(crm: Harness) -> None:
    bot = crm
    ivan = await add_member(bot, 2003, "Ivan")
    clock = use_clock(bot)
    _lead, activity_id = await plan(bot, ivan, clock.now + timedelta(minutes=20), now=clock.now)
    async with bot.app.db.unit_of_work() as s:
        await acts.complete_activity(s, await s.get(User, ivan.id), activity_id, now=clock.now)
    marker = bot.tg.mark()
    clock.advance(hours=1)
    wake(bot)
    await asyncio.sleep(0.6)
    assert bot.new_bot_messages(2003, marker) == []
    assert set(await reminder_states(bot, activity_id)) == {"cancelled"}


async def test_forged_reminder_button_changes_nothing(crm: Harness) -> None:
    bot = crm
    ivan = await add_member(bot, 2004, "Ivan")
    await add_member(bot, 2005, "Petr")
    clock = use_clock(bot)
    _lead, activity_id = await plan(bot, ivan, clock.now + timedelta(hours=3), now=clock.now)
    await bot.say(2005, "/menu")
    menu = bot.tg.last_bot_message(2005)
    assert menu is not None
    for data in (f"rm:d:{activity_id}", f"rm:s15:{activity_id}", "rm:tm:999999", "rm:zz:1"):
        update = bot.tg.forge_callback(2005, data, message_id=menu.message_id)
        await bot.settle()
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer is not None and answer.get("text"), data
    found = await activity(bot, activity_id)
    assert not found.completed and found.deadline == (clock.now + timedelta(hours=3)).replace(
        microsecond=found.deadline.microsecond
    )


async def test_429_storm_everything_delivered_without_early_retries(crm: Harness) -> None:
    bot = crm
    people = [await add_member(bot, 2100 + i, f"P{i}") for i in range(4)]
    clock = use_clock(bot)
    due = clock.now + timedelta(minutes=5)
    for person in people:
        for _ in range(4):  # four at once per chat: beyond the private-chat burst
            await plan(bot, person, due, reminder_offsets=[0], now=clock.now)
    marks = {p.telegram_id: len(bot.tg.bot_messages(p.telegram_id)) for p in people}
    bot.tg.fail_next("sendMessage", 6, retry_after=2)  # on top of the real flood control
    clock.now = due
    wake(bot)
    for person in people:
        await bot.tg.wait_for(
            lambda p=person: len(bot.tg.bot_messages(p.telegram_id)) - marks[p.telegram_id] == 4, timeout=30
        )
    assert bot.tg.early_retries == []
    assert len([r for r in bot.tg.calls("sendMessage") if r.error_code == 429]) >= 6
    await asyncio.sleep(0.5)
    for person in people:
        assert len(bot.tg.bot_messages(person.telegram_id)) - marks[person.telegram_id] == 4


async def test_blocked_user_does_not_stall_others(crm: Harness) -> None:
    bot = crm
    blocked = await add_member(bot, 2201, "Blocked")
    slow = await add_member(bot, 2202, "Slow")
    others = [await add_member(bot, 2203 + i, f"O{i}") for i in range(3)]
    clock = use_clock(bot)
    due = clock.now + timedelta(minutes=5)
    _l, blocked_activity = await plan(bot, blocked, due, reminder_offsets=[0], now=clock.now)
    for person in [slow, *others]:
        await plan(bot, person, due, reminder_offsets=[0], now=clock.now)
    bot.tg.block_bot(2201)
    await bot.settle()
    bot.tg.delay_next("sendMessage", 3.0, chat_id=2202)  # a slow chat too
    marker, first = bot.tg.mark(), len(bot.tg.requests)
    clock.now = due
    wake(bot)
    for person in others:
        await bot.tg.wait_for(lambda p=person: bot.new_bot_messages(p.telegram_id, marker), timeout=2.5)
    assert bot.new_bot_messages(2202, marker) == []  # still held, yet the others got theirs
    await bot.tg.wait_for(lambda: bot.new_bot_messages(2202, marker), timeout=10)
    tried = [r for r in bot.tg.requests[first:] if r.method == "sendMessage" and r.chat_id == 2201]
    assert tried == []  # known blocked: not even tried
    assert set(await reminder_states(bot, blocked_activity)) == {"cancelled"}
    # Unblocking makes the chat deliverable again.
    bot.tg.unblock_bot(2201)
    await bot.settle()
    await plan(bot, blocked, clock.now + timedelta(minutes=1), reminder_offsets=[0], now=clock.now)
    clock.advance(minutes=1)
    wake(bot)
    await bot.tg.wait_for(lambda: bot.new_bot_messages(2201, marker), timeout=5)


@pytest.mark.telegram_errors_expected(reason="a user blocked the bot: the one 403 is what is tested")
async def test_blocked_without_notice_gets_403_once_and_is_dropped(crm: Harness) -> None:
    bot = crm
    ivan = await add_member(bot, 2301, "Ivan")
    petr = await add_member(bot, 2302, "Petr")
    clock = use_clock(bot)
    due = clock.now + timedelta(minutes=5)
    _l, a1 = await plan(bot, ivan, due, reminder_offsets=[0], now=clock.now)
    await plan(bot, ivan, due, reminder_offsets=[0], now=clock.now)
    await plan(bot, petr, due, reminder_offsets=[0], now=clock.now)
    bot.tg.users[2301].blocked = True  # no my_chat_member update: Telegram answers 403
    marker, first = bot.tg.mark(), len(bot.tg.requests)
    clock.now = due
    wake(bot)
    await bot.tg.wait_for(lambda: bot.new_bot_messages(2302, marker), timeout=5)
    await asyncio.sleep(0.5)
    tried = [r for r in bot.tg.requests[first:] if r.method == "sendMessage" and r.chat_id == 2301]
    assert len(tried) == 1 and tried[0].error_code == 403
    assert set(await reminder_states(bot, a1)) == {"cancelled"}


# --- kill -9 between claim and send --------------------------------------------------------------


async def _start(tg: FakeTelegram, database_url: str) -> asyncio.subprocess.Process:
    return await start_bot_process(
        tg, database_url, ADMIN_IDS="9999", REMINDER_LEASE_SECONDS="4", REMINDER_POLL_SECONDS="1"
    )


async def test_kill_9_between_claim_and_send_delivers_once(database_url: str) -> None:
    from crm_core import migrate

    USER = 2401
    db = Database(database_url)
    await migrate.upgrade(db.engine)
    async with FakeTelegram() as tg:
        tg.add_user(USER, "Ivan")
        tg.users[USER].started = True
        async with db.unit_of_work() as s:
            user = User(telegram_id=USER, full_name="Ivan", language="en", timezone="UTC")
            s.add(user)
            await s.flush()
            lead = await items_svc.create_lead(s, user, title="Kill test")
            deadline = datetime.now(UTC) + timedelta(seconds=4)
            await acts.create_activity(
                s, user, owner_type="lead", owner_id=lead.id, deadline=deadline, reminder_offsets=[0]
            )
        # Telegram holds the reminder's sendMessage: the claim is committed, the send unfinished.
        tg.delay_next("sendMessage", 40.0, chat_id=USER)
        proc = await _start(tg, database_url)
        try:
            await tg.wait_for(lambda: any(r.chat_id == USER for r in tg.calls("sendMessage")), timeout=20)
            async with db.sessionmaker() as s:
                states = set(await s.scalars(select(ActivityReminder.state)))
            assert states == {ReminderState.CLAIMED}
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            assert tg.bot_messages(USER) == []

            proc = await _start(tg, database_url)
            await tg.wait_for(lambda: tg.bot_messages(USER), timeout=20)
            await asyncio.sleep(2.0)
            messages = tg.bot_messages(USER)
            assert len(messages) == 1 and "Kill test" in messages[0].text
            async with db.sessionmaker() as s:
                states = set(await s.scalars(select(ActivityReminder.state)))
            assert states == {ReminderState.SENT}
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.communicate(), timeout=30)
    await db.dispose()
