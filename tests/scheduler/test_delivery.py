"""The delivery engine over a real database and an in-memory sender: reminders at their offsets,
late and stale ones, Telegram's answers (429, 5xx, 403, migration), crashes between claim and
send, the precise wake-up, and two workers on one PostgreSQL database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_core.clock import utcnow
from crm_core.db import Database, is_sqlite
from crm_core.models.activities import ActivityReminder, ReminderState
from crm_core.models.delivery import ChatDelivery
from crm_core.models.items import Lead
from crm_core.models.notifications import Notification, NotificationState
from crm_core.services import activities as acts
from crm_core.services import notifications as notes
from crm_core.services import reminders as rem
from scheduler.ports import DeliveryResult, DeliveryStatus
from tests.core.factories import make_due_reminders, make_lead, make_user
from tests.scheduler.helpers import Clock, FakeSender, engine_running

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)  # a Tuesday


async def _person(db: Database, *, tz: str = "UTC", lang: str = "en", deadline: datetime, **act):
    async with db.unit_of_work() as s:
        user = await make_user(s, timezone=tz, language=lang)
        lead = await make_lead(s, user, title="Acme <order>")
        activity = await acts.create_activity(
            s,
            user,
            owner_type="lead",
            owner_id=lead.id,
            deadline=deadline,
            subject="Call Ivan",
            now=NOW,
            **act,
        )
    return user, lead, activity


async def _states(db: Database, activity_id: int) -> dict[tuple[str, int], str]:
    async with db.sessionmaker() as s:
        rows = await s.scalars(select(ActivityReminder).where(ActivityReminder.activity_id == activity_id))
        return {(r.kind.value, r.offset_minutes): r.state.value for r in rows}


async def test_reminders_fire_at_their_offsets_in_the_users_timezone(db: Database) -> None:
    clock = Clock(NOW)
    user, lead, activity = await _person(db, tz="Asia/Vladivostok", deadline=NOW + timedelta(minutes=30))
    sender = FakeSender()
    async with engine_running(db, sender, clock) as engine:
        await asyncio.sleep(0.3)
        assert sender.sent == []  # nothing is due yet
        clock.advance(minutes=15)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 1)
        msg = sender.sent[0]
        assert msg.chat_id == user.telegram_id
        # 09:30 UTC is 19:30 in Vladivostok (UTC+10).
        assert "Reminder" in msg.html and "today 19:30" in msg.html and "in 15 min" in msg.html
        assert f"L-{lead.id}" in msg.html and "Acme &lt;order&gt;" in msg.html and "Call Ivan" in msg.html
        labels = [b["text"] for row in msg.buttons for b in row]
        assert labels == ["✅ Done", "+15 min", "+1 h", "Tomorrow 10:00", f"Open L-{lead.id}"]
        clock.advance(minutes=15)
        engine.wake()
        # At the deadline: the reminder and the overdue notice due together make one message.
        await sender.wait(lambda: len(sender.sent) == 2)
        await asyncio.sleep(0.2)
        assert len(sender.sent) == 2 and "now" in sender.sent[1].html
    assert set((await _states(db, activity.id)).values()) == {"sent"}
    async with db.sessionmaker() as s:
        assert (await s.get(Lead, lead.id)).focused_at is not None


async def test_completing_an_activity_cancels_its_reminders(db: Database) -> None:
    clock = Clock(NOW)
    user, _lead, activity = await _person(db, deadline=NOW + timedelta(minutes=30))
    async with db.unit_of_work() as s:
        await acts.complete_activity(s, await s.get(type(user), user.id), activity.id, now=NOW)
    sender = FakeSender()
    async with engine_running(db, sender, clock) as engine:
        clock.advance(hours=2)
        engine.wake()
        await asyncio.sleep(0.5)
    assert sender.sent == []
    assert set((await _states(db, activity.id)).values()) == {"cancelled"}


async def test_russian_reminder_and_overdue_only_offsets(db: Database) -> None:
    clock = Clock(NOW)
    user, _lead, _activity = await _person(
        db, lang="ru", tz="Europe/Moscow", deadline=NOW + timedelta(hours=2), reminder_offsets=[60]
    )
    sender = FakeSender()
    async with engine_running(db, sender, clock) as engine:
        clock.advance(hours=1)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 1)
        assert "Напоминание" in sender.sent[0].html and "через 1 ч" in sender.sent[0].html
        assert "сегодня в 14:00" in sender.sent[0].html  # 11:00 UTC = 14:00 in Moscow
        clock.advance(hours=1, minutes=1)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 2)
        assert "Просрочено" in sender.sent[1].html and "1 мин назад" in sender.sent[1].html
        assert [b["text"] for b in sender.sent[1].buttons[0]] == ["✅ Выполнено"]


async def test_late_reminders_are_marked_and_stale_ones_summarised(db: Database) -> None:
    # Planned yesterday; the bot was down; it starts now.
    fresh_user, _l1, _a1 = await _person(db, deadline=NOW + timedelta(minutes=40), reminder_offsets=[0])
    stale_user, _l2, _a2 = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    async with db.unit_of_work() as s:
        lead = await make_lead(s, stale_user, title="Second")
        await acts.create_activity(
            s, stale_user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(minutes=20),
            subject="Meet", type="meeting", reminder_offsets=[0], now=NOW,
        )  # fmt: skip
    clock = Clock(NOW + timedelta(hours=4, minutes=0))  # 3h20+ late for stale, 3h20 for the fresh one
    sender = FakeSender()
    async with engine_running(db, sender, clock, stale_after=timedelta(hours=3, minutes=30)):
        await sender.wait(lambda: len(sender.sent) == 2)
        await asyncio.sleep(0.3)
    by_chat = {s.chat_id: s for s in sender.sent}
    assert len(sender.sent) == 2
    late = by_chat[fresh_user.telegram_id].html
    assert "Late" in late and "3 h 20 min ago" in late
    summary = by_chat[stale_user.telegram_id].html
    assert "Missed reminders" in summary and ": 2" in summary and "Call Ivan" in summary and "Meet" in summary
    async with db.sessionmaker() as s:
        left = await s.scalar(
            select(func.count())
            .select_from(ActivityReminder)
            .where(ActivityReminder.state != ReminderState.SENT)
        )
    assert left == 0


async def test_retry_after_is_respected_and_others_are_not_held_up(db: Database) -> None:
    clock = Clock(NOW)
    slow, _l, _a = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    fast, _l2, _a2 = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    sender = FakeSender()
    sender.script[slow.telegram_id].append(DeliveryResult(DeliveryStatus.RETRY_AFTER, retry_after=1))
    async with engine_running(db, sender, clock) as engine:
        clock.advance(minutes=10)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 2, timeout=5)
    tries = [t for chat, t in sender.attempts if chat == slow.telegram_id]
    assert len(tries) == 2 and tries[1] - tries[0] >= 1.0
    assert sender.to(fast.telegram_id)[0].at < sender.to(slow.telegram_id)[0].at
    async with db.sessionmaker() as s:
        state = await s.get(ChatDelivery, slow.telegram_id)
    assert state is not None and state.not_before is not None  # other processes wait too


async def test_temporary_errors_are_retried_with_backoff(db: Database) -> None:
    clock = Clock(NOW)
    user, _l, activity = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    sender = FakeSender()
    for _ in range(2):
        sender.script[user.telegram_id].append(DeliveryResult(DeliveryStatus.TEMPORARY, detail="502"))
    async with engine_running(db, sender, clock, backoff_base=0.1) as engine:
        clock.advance(minutes=10)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 1)
        await asyncio.sleep(0.2)
    assert len(sender.sent) == 1 and len(sender.attempts) == 3
    assert (await _states(db, activity.id))[("reminder", 0)] == "sent"


async def test_blocked_user_is_marked_undeliverable_and_does_not_stall_others(db: Database) -> None:
    clock = Clock(NOW)
    blocked, _l, activity = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    others = [await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0]) for _ in range(3)]
    sender = FakeSender()
    sender.script[blocked.telegram_id].append(DeliveryResult(DeliveryStatus.UNDELIVERABLE, detail="blocked"))
    async with engine_running(db, sender, clock) as engine:
        clock.advance(minutes=10)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 3)
        # Once the chat is known to be blocked, its later reminders are not even tried.
        for _ in range(100):
            async with db.sessionmaker() as s:
                known = await s.get(ChatDelivery, blocked.telegram_id)
                if known is not None and known.undeliverable:
                    break
            await asyncio.sleep(0.05)
        async with db.unit_of_work() as s:
            u = await s.get(type(blocked), blocked.id)
            lead = await make_lead(s, u)
            await acts.create_activity(
                s, u, owner_type="lead", owner_id=lead.id, deadline=clock() + timedelta(minutes=1),
                reminder_offsets=[0], now=clock(),
            )  # fmt: skip
        clock.advance(minutes=2)
        engine.wake()
        await asyncio.sleep(0.5)
    assert {s.chat_id for s in sender.sent} == {u.telegram_id for u, _l, _a in others}
    assert [c for c, _t in sender.attempts].count(blocked.telegram_id) == 1
    assert set((await _states(db, activity.id)).values()) == {"cancelled"}
    async with db.sessionmaker() as s:
        assert (await s.get(ChatDelivery, blocked.telegram_id)).undeliverable


class GroupOf:
    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id

    async def chats_for_item(self, session, owner_type, owner_id):
        return [self.chat_id]


async def test_item_group_chat_hook_and_migrated_group(db: Database) -> None:
    clock = Clock(NOW)
    user, _l, _a = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    sender = FakeSender()
    sender.script[-100].append(DeliveryResult(DeliveryStatus.MIGRATED, migrate_to_chat_id=-1001))
    async with engine_running(db, sender, clock, item_chats=GroupOf(-100)) as engine:
        clock.advance(minutes=10)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 2)
    assert {s.chat_id for s in sender.sent} == {user.telegram_id, -1001}
    async with db.sessionmaker() as s:
        assert (await s.get(ChatDelivery, -100)).migrated_to == -1001


async def test_crash_between_claim_and_send_is_retried_after_the_lease(db: Database) -> None:
    clock = Clock(NOW)
    user, _l, activity = await _person(db, deadline=NOW + timedelta(minutes=10), reminder_offsets=[0])
    clock.advance(minutes=10)
    # A worker claimed it and died before sending.
    async with db.unit_of_work() as s:
        claimed = await rem.claim_due(s, now=clock(), lease_seconds=60, worker_id="dead", limit=10)
    assert len(claimed) == 2  # the reminder and the overdue notice
    sender = FakeSender()
    async with engine_running(db, sender, clock) as engine:
        await asyncio.sleep(0.4)
        assert sender.sent == []  # the lease still holds
        clock.advance(seconds=61)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 1)
        await asyncio.sleep(0.3)
    assert len(sender.sent) == 1
    assert set((await _states(db, activity.id)).values()) == {"sent"}


async def test_a_lone_reminder_arrives_within_a_second_of_its_due_time(db: Database) -> None:
    sender = FakeSender()
    async with engine_running(db, sender, utcnow, poll_seconds=30):
        await asyncio.sleep(0.3)  # the engine is asleep (nothing due, poll in 30 s)
        due = utcnow() + timedelta(seconds=1.5)
        async with db.unit_of_work() as s:
            user = await make_user(s)
            lead = await make_lead(s, user)
            await acts.create_activity(
                s, user, owner_type="lead", owner_id=lead.id, deadline=due, reminder_offsets=[0]
            )
        await sender.wait(lambda: len(sender.sent) == 1, timeout=5)
        lag = sender.sent[0].wall - due
    assert timedelta(0) <= lag < timedelta(seconds=1), lag


async def test_notifications_are_rendered_per_category_and_mutes_respected(db: Database) -> None:
    clock = Clock(NOW)
    async with db.unit_of_work() as s:
        boss = await make_user(s, name="Boss")
        user = await make_user(s, language="ru")
        lead = await make_lead(s, boss, title="Big deal")
        await notes.notify(
            s, user.id, "task_assigned",
            {"task_id": 0, "title": "Send <offer>", "owner_type": "lead", "owner_id": lead.id, "by": boss.id},
            now=NOW,
        )  # fmt: skip
        await notes.notify(
            s, user.id, "mentioned", {"owner_type": "lead", "owner_id": lead.id, "text": "hi"}, now=NOW
        )
        await notes.mute_category(s, user, "mentioned")
        await notes.notify(s, user.id, "lead_assigned", {"owner_type": "lead", "owner_id": lead.id}, now=NOW)
    sender = FakeSender()
    async with engine_running(db, sender, clock):
        await sender.wait(lambda: len(sender.sent) == 2)
        await asyncio.sleep(0.3)
    texts = [s.html for s in sender.sent]
    assert any("Новая задача" in t and "Send &lt;offer&gt;" in t and "от Boss" in t for t in texts), texts
    assert any("новый лид" in t and "Big deal" in t for t in texts), texts
    async with db.sessionmaker() as s:
        states = sorted((n.category, n.state.value) for n in await s.scalars(select(Notification)))
    assert states == [("lead_assigned", "sent"), ("mentioned", "failed"), ("task_assigned", "sent")]


async def test_digest_queued_once_at_local_time_on_working_days(db: Database) -> None:
    from crm_core.services import delivery

    async with db.unit_of_work() as s:
        joined = datetime(2026, 1, 1, tzinfo=UTC)
        user = await make_user(s, timezone="Asia/Vladivostok", created_at=joined)  # 09:00 = 23:00 UTC
        weekend = await make_user(s, timezone="UTC", created_at=joined)
        await make_user(s, timezone="Asia/Vladivostok")  # joined after that digest time: none today
        lead = await make_lead(s, user, title="Today lead")
        await acts.create_activity(
            s, user, owner_type="lead", owner_id=lead.id, deadline=datetime(2026, 3, 10, 1, 0, tzinfo=UTC),
            subject="Morning call", now=datetime(2026, 3, 9, 12, 0, tzinfo=UTC),
        )  # fmt: skip
    async with db.unit_of_work() as s:
        assert await delivery.queue_digests(s, datetime(2026, 3, 9, 22, 59, tzinfo=UTC)) == 0
    async with db.unit_of_work() as s:
        assert await delivery.queue_digests(s, datetime(2026, 3, 9, 23, 0, tzinfo=UTC)) == 1
    async with db.unit_of_work() as s:
        assert await delivery.queue_digests(s, datetime(2026, 3, 9, 23, 30, tzinfo=UTC)) == 0
    # Saturday 09:00 UTC: the UTC user wants working days only.
    async with db.unit_of_work() as s:
        assert await delivery.queue_digests(s, datetime(2026, 3, 14, 9, 5, tzinfo=UTC)) == 0
    sender = FakeSender()
    async with engine_running(db, sender, Clock(datetime(2026, 3, 9, 23, 1, tzinfo=UTC))):
        await sender.wait(lambda: len(sender.sent) == 1)
    digest = sender.sent[0]
    assert digest.chat_id == user.telegram_id and weekend.telegram_id != digest.chat_id
    assert "Good morning" in digest.html and "Today: 1" in digest.html and "Morning call" in digest.html
    labels = [b["text"] for row in digest.buttons for b in row]
    assert "11:00 · Today lead" in labels and "🗂 Activities" in labels


@pytest.mark.skipif(
    is_sqlite(__import__("os").environ.get("DATABASE_URL", "sqlite+aiosqlite://")),
    reason="SKIP LOCKED between workers is PostgreSQL's; SQLite serialises writers (runs in CI's PG pass)",
)
async def test_two_workers_on_one_postgres_deliver_each_of_1000_once(database_url: str) -> None:
    from crm_core import migrate

    db1, db2 = Database(database_url), Database(database_url)
    await migrate.upgrade(db1.engine)
    try:
        async with db1.unit_of_work() as s:
            users = [await make_user(s) for _ in range(50)]
            lead = await make_lead(s, users[0])
            await make_due_reminders(s, users, lead, 1000, due_at=NOW, now=NOW)
        sender = FakeSender()
        clock = Clock(NOW + timedelta(seconds=1))
        async with (
            engine_running(db1, sender, clock, worker_id="one", claim_batch=50),
            engine_running(db2, sender, clock, worker_id="two", claim_batch=50),
        ):
            await sender.wait(lambda: len(sender.sent) >= 1000, timeout=60)
            await asyncio.sleep(0.5)
        subjects = [s.html.split("job-")[1].split("\n")[0] for s in sender.sent]
        assert len(subjects) == 1000 and len(set(subjects)) == 1000
        async with db1.sessionmaker() as s:
            by = dict(
                (
                    await s.execute(
                        select(ActivityReminder.claimed_by, func.count()).group_by(
                            ActivityReminder.claimed_by
                        )
                    )
                ).all()
            )
            sent = await s.scalar(
                select(func.count())
                .select_from(ActivityReminder)
                .where(ActivityReminder.state == ReminderState.SENT)
            )
        assert sent == 1000
        assert by.get("one", 0) > 0 and by.get("two", 0) > 0, by  # both took part
    finally:
        await db1.dispose()
        await db2.dispose()


async def test_notification_outbox_lease_and_retry(db: Database) -> None:
    clock = Clock(NOW)
    async with db.unit_of_work() as s:
        user = await make_user(s)
        lead = await make_lead(s, user)
        await notes.notify(s, user.id, "lead_assigned", {"owner_type": "lead", "owner_id": lead.id}, now=NOW)
    sender = FakeSender()
    sender.script[user.telegram_id].extend(
        [DeliveryResult(DeliveryStatus.TEMPORARY, detail="x")] * 4
    )  # the engine gives it back to the database after 4 failures
    async with engine_running(db, sender, clock, backoff_base=0.05, backoff_max=1) as engine:
        await sender.wait(lambda: len(sender.attempts) == 4)
        await asyncio.sleep(0.2)
        assert sender.sent == []
        clock.advance(seconds=2)
        engine.wake()
        await sender.wait(lambda: len(sender.sent) == 1)
    async with db.sessionmaker() as s:
        (n,) = list(await s.scalars(select(Notification)))
    assert n.state == NotificationState.SENT
