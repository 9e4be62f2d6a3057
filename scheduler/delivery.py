"""One delivery path for everything the bot pushes: activity reminders, overdue notices, the
outbox notifications (events, digests).

The database is the source of truth. A claim loop leases due rows in small batches (PostgreSQL:
FOR UPDATE SKIP LOCKED; SQLite: an IMMEDIATE transaction) and sleeps until the earliest due
instant read from the database, woken early by an in-process signal when a transaction commits a
new or moved reminder/notification (SQLAlchemy session events), with a poll as the fallback. So
nothing per reminder is held in memory while it waits: start-up time and memory do not depend on
how many reminders are pending.

Claimed rows are rendered and put on per-chat lanes. A dispatcher sends from the lanes within
Telegram's limits: a global token bucket (about 30 messages/s), a bucket per chat (1/s with a
short burst for private chats, 20/min for groups), and each chat's `retry_after` after a 429 (no
request to that chat before it; shared with other processes through `ChatDelivery.not_before`).
Each chat sends one message at a time, several chats at once, so a slow or blocked chat never
holds up the others. Outcomes: sent -> "sent" is committed at once, in its own transaction;
429 -> the chat waits; 5xx/network -> retried with exponential backoff, then released to the
database; 403 -> the chat is marked undeliverable and its rows dropped; a migrated group -> the
lane moves to the supergroup; 400 -> logged and dropped.

Duplicates and losses. A crash after the claim and before the send loses nothing: the lease
expires and any process claims the row again. The one remaining duplicate window is a send that
reached Telegram but whose "sent" was not committed: the process died (or the database failed)
in the few milliseconds between Telegram's answer and the commit of that single row, or a send
timed out on our side after Telegram had accepted it. Then the row is sent again after its lease.
Leases of held rows are renewed before they run out, and a row is sent only by the worker that
still holds its lease, so two live processes never send the same row.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import random
import socket
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models.activities import ActivityReminder, ReminderKind, ReminderState
from crm_core.models.notifications import Notification, NotificationCategory, UserMutedCategory
from crm_core.models.users import User
from crm_core.services import delivery as delivery_service
from crm_core.services import reminders as reminder_service
from crm_core.services.notifications import (
    claim_notifications,
    mark_notifications_failed,
    mark_notifications_sent,
    release_notifications,
)
from scheduler.ports import (
    DeliveryResult,
    DeliveryStatus,
    ItemChats,
    MessageSender,
    NoItemChats,
    NotificationRenderer,
    OutgoingMessage,
)

log = logging.getLogger(__name__)

# --- the in-process wake-up signal ---------------------------------------------------------------

_engines: weakref.WeakSet[DeliveryEngine] = weakref.WeakSet()
_WAKE_FLAG = "_delivery_wake"
_WATCHED = (ActivityReminder, Notification)


def wake_all() -> None:
    """Something became due sooner than the engines thought: make them look again."""
    for engine in list(_engines):
        engine.wake()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    for obj in itertools.chain(session.new, session.dirty):
        if isinstance(obj, _WATCHED):
            session.info[_WAKE_FLAG] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: Any) -> None:
    # Core-style INSERT/UPDATE through the session (notify() with a dedupe key uses one).
    if (state.is_insert or state.is_update) and state.bind_mapper is not None:
        if state.bind_mapper.class_ in _WATCHED:
            state.session.info[_WAKE_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_WAKE_FLAG, False):
        wake_all()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_WAKE_FLAG, None)


# --- configuration and rate limiting -------------------------------------------------------------


@dataclass
class DeliveryConfig:
    lease_seconds: float = 60.0
    poll_seconds: float = 5.0
    # Reminders that came due longer ago than this are summarised in one message per person.
    stale_after: timedelta = timedelta(hours=3)
    global_rate: float = 28.0  # messages per second, all chats together
    global_burst: float = 10.0
    private_rate: float = 1.0
    private_burst: float = 2.0
    group_rate: float = 20 / 60
    group_burst: float = 3.0
    concurrency: int = 32  # HTTP requests in flight at once
    claim_batch: int = 200
    max_held: int = 1000  # claimed rows held in memory at most (also bounded by the lease)
    max_temporary_failures: int = 4  # then the row goes back to the database with a backoff
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @property
    def send_timeout(self) -> float:
        return max(1.0, min(30.0, self.lease_seconds * 0.5))

    @property
    def capacity(self) -> int:
        # Never hold more than can be sent in half a lease.
        return max(10, min(self.max_held, int(self.global_rate * self.lease_seconds * 0.5)))


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self.refill(now)
        self.tokens -= 1


# --- jobs and lanes --------------------------------------------------------------------------------


@dataclass
class Job:
    chat_id: int
    messages: list[OutgoingMessage]
    reminder_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    lease_until: datetime | None = None
    part: int = 0
    failures: int = 0
    label: str = ""

    @property
    def copy(self) -> bool:
        """A best-effort copy (e.g. to an item's group chat): no rows of its own."""
        return not self.reminder_ids and not self.notification_ids


@dataclass
class Lane:
    chat_id: int
    bucket: Bucket
    queue: deque[Job] = field(default_factory=deque)
    not_before: float = 0.0  # monotonic; Telegram's retry_after or our backoff
    recorded_until: datetime | None = None  # the shared retry_after this process itself recorded
    busy: bool = False
    scheduled: tuple[float, int] | None = None

    def ready_at(self, now: float) -> float:
        return max(now + self.bucket.wait(now), self.not_before)


@dataclass
class DeliveryStats:
    sent: int = 0
    retry_after: int = 0
    temporary: int = 0
    undeliverable: int = 0
    rejected: int = 0
    migrated: int = 0
    deferred: int = 0
    first_sent_at: float | None = None
    last_sent_at: float | None = None


def default_worker_id() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{random.randrange(16**6):06x}"


class DeliveryEngine:
    """Claims due rows and delivers them; `run()` until `stop()`."""

    def __init__(
        self,
        db: Database,
        sender: MessageSender,
        renderer: NotificationRenderer,
        *,
        config: DeliveryConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        item_chats: ItemChats | None = None,
        worker_id: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.sender = sender
        self.renderer = renderer
        self.config = config or DeliveryConfig()
        self.clock = clock
        self.item_chats = item_chats or NoItemChats()
        self.worker_id = worker_id or default_worker_id()
        self.mono = monotonic
        self.stats = DeliveryStats()
        c = self.config
        self._global = Bucket(c.global_burst, c.global_rate, c.global_burst, monotonic())
        self._lanes: dict[int, Lane] = {}
        self._heap: list[tuple[float, int, int]] = []
        self._seq = itertools.count()
        self._held_reminders: dict[int, Job] = {}
        self._held_notifications: dict[int, Job] = {}
        self._queued = 0  # jobs on lanes, sending included
        self._sending = 0
        self._wake_event = asyncio.Event()
        self._lane_event = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[Any] | None = None
        _engines.add(self)

    # -- control -----------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake_event.set()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self.run(), name="delivery-engine")

    async def run(self) -> None:
        dispatcher = asyncio.create_task(self._dispatch_loop(), name="delivery-dispatch")
        try:
            await self._claim_loop()
        finally:
            dispatcher.cancel()
            await asyncio.gather(dispatcher, return_exceptions=True)

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop claiming, let sends in flight finish (up to `timeout`), give back what is queued so
        that the next process takes it at once instead of after the lease."""
        self._stopping = True
        self.wake()
        self._lane_event.set()
        # Let the claim loop leave on its own: cancelling it inside a database call could leave a
        # SQLite connection holding the write lock.
        if self._runner is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._runner), timeout=timeout)
            except (TimeoutError, Exception):  # noqa: BLE001
                self._runner.cancel()
                await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        leftovers = [job for lane in self._lanes.values() for job in lane.queue if not lane.busy]
        if leftovers:
            try:
                await self._give_back(leftovers, self.clock())
            except Exception:  # noqa: BLE001 - the lease will expire anyway
                log.exception("could not give back %d queued deliveries", len(leftovers))
        self._lanes.clear()
        _engines.discard(self)

    @property
    def held(self) -> int:
        return self._queued

    # -- claiming ----------------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake_event.clear()
            try:
                await self._renew_held()
                got, limit = await self._claim_round()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable
                log.exception("claiming due deliveries failed")
                await self._sleep(min(self.config.poll_seconds, 5.0))
                continue
            if got and got >= limit and self._room() > 0:
                continue  # more may be due right now
            await self._sleep(await self._time_to_next())

    def _room(self) -> int:
        return self.config.capacity - self._queued

    async def _sleep(self, seconds: float) -> None:
        if self._wake_event.is_set() or seconds <= 0:
            await asyncio.sleep(0)
            return
        try:
            await asyncio.wait_for(self._wake_event.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _time_to_next(self) -> float:
        poll = self.config.poll_seconds
        if self._room() <= 0:
            return poll  # woken when sends free some room
        async with self.db.sessionmaker() as s:
            nxt = await delivery_service.next_due_at(s)
        if nxt is None:
            return poll
        seconds = (nxt - self.clock()).total_seconds()
        # A row due "now" that we could not claim is locked by another worker: look again shortly.
        return min(poll, max(0.02, seconds + 0.002))

    async def _claim_round(self) -> tuple[int, int]:
        room = self._room()
        if room <= 0 or self._stopping:
            return 0, 0
        limit = min(room, self.config.claim_batch)
        if self._queued == 0:
            limit = min(limit, 25)  # idle: a small first batch gets the first message out sooner
        now = self.clock()
        lease = int(max(1, round(self.config.lease_seconds)))
        async with self.db.unit_of_work() as s:
            reminders = await reminder_service.claim_due(
                s, now=now, lease_seconds=lease, worker_id=self.worker_id, limit=limit
            )
        async with self.db.unit_of_work() as s:
            notifications = await claim_notifications(
                s, now=now, lease_seconds=lease, worker_id=self.worker_id, limit=limit
            )
        # Rows we already hold (their lease came round again): just note the new lease.
        fresh_r = []
        for r in reminders:
            job = self._held_reminders.get(r.id)
            if job is not None:
                job.lease_until = min(job.lease_until or r.claimed_until, r.claimed_until)
            else:
                fresh_r.append(r)
        fresh_n = []
        for n in notifications:
            job = self._held_notifications.get(n.id)
            if job is not None:
                job.lease_until = min(job.lease_until or n.claimed_until, n.claimed_until)
            else:
                fresh_n.append(n)
        if fresh_r or fresh_n:
            await self._prepare(fresh_r, fresh_n, now)
        return max(len(reminders), len(notifications)), limit

    async def _renew_held(self) -> None:
        """Extend the leases of rows held for longer than half a lease (a long queue, 429s)."""
        now = self.clock()
        margin = timedelta(seconds=self.config.lease_seconds * 0.4)
        until = now + timedelta(seconds=self.config.lease_seconds)
        for model, held in (
            (ActivityReminder, self._held_reminders),
            (Notification, self._held_notifications),
        ):
            due = [i for i, job in held.items() if job.lease_until is None or job.lease_until - now < margin]
            if not due:
                continue
            async with self.db.unit_of_work() as s:
                kept = await delivery_service.renew_leases(s, model, due, self.worker_id, until)
            for i in due:
                job = held.get(i)
                if job is None:
                    continue
                if i in kept:
                    job.lease_until = until
                else:  # lost (cancelled, or re-claimed elsewhere): not ours to send any more
                    self._forget_row(model, i)

    def _forget_row(self, model: Any, row_id: int) -> None:
        held = self._held_reminders if model is ActivityReminder else self._held_notifications
        job = held.pop(row_id, None)
        if job is None:
            return
        ids = job.reminder_ids if model is ActivityReminder else job.notification_ids
        if row_id in ids:
            ids.remove(row_id)
        if job.copy:
            lane = self._lanes.get(job.chat_id)
            if lane is not None and job in lane.queue and not (lane.busy and lane.queue[0] is job):
                lane.queue.remove(job)
                self._queued -= 1

    # -- rendering ---------------------------------------------------------------------------------

    async def _prepare(
        self, reminders: list[ActivityReminder], notifications: list[Notification], now: datetime
    ) -> None:
        jobs: list[Job] = []
        drop_r: list[int] = []  # cannot be delivered: cancelled
        quiet_r: list[int] = []  # nothing to say (muted, item gone): marked sent without a message
        failed_n: dict[str, list[int]] = defaultdict(list)
        retry_r: list[int] = []
        retry_n: list[int] = []
        stale_cutoff = now - self.config.stale_after
        async with self.db.sessionmaker() as s:
            user_ids = {r.user_id for r in reminders} | {n.user_id for n in notifications}
            users = {u.id: u for u in await s.scalars(select(User).where(User.id.in_(user_ids)))}
            muted: dict[int, set[str]] = defaultdict(set)
            for uid, cat in (
                await s.execute(
                    select(UserMutedCategory.user_id, UserMutedCategory.category).where(
                        UserMutedCategory.user_id.in_(user_ids)
                    )
                )
            ).all():
                muted[uid].add(cat)
            states = await delivery_service.chat_states(s, [u.telegram_id for u in users.values()])
            activities = await reminder_service.activities_for(s, reminders)

            grouped: dict[tuple[int, int], list[ActivityReminder]] = defaultdict(list)
            stale: dict[int, list[tuple[ActivityReminder, Any]]] = defaultdict(list)
            for r in reminders:
                user = users.get(r.user_id)
                activity = activities.get(r.activity_id)
                if user is None or not user.is_active or activity is None:
                    drop_r.append(r.id)
                    continue
                state = states.get(user.telegram_id)
                if state is not None and state.undeliverable:
                    drop_r.append(r.id)
                    continue
                category = (
                    NotificationCategory.OVERDUE
                    if r.kind == ReminderKind.OVERDUE
                    else NotificationCategory.REMINDER
                )
                if activity.completed or category.value in muted[user.id]:
                    quiet_r.append(r.id)
                    continue
                if r.due_at < stale_cutoff:
                    stale[user.id].append((r, activity))
                else:
                    grouped[(activity.id, user.id)].append(r)

            # An overdue notice whose reminder at the deadline went out in another batch: folded too.
            lone = [rows[0] for rows in grouped.values() if all(r.kind == ReminderKind.OVERDUE for r in rows)]
            if lone:
                siblings = set(
                    (
                        await s.execute(
                            select(
                                ActivityReminder.activity_id,
                                ActivityReminder.user_id,
                                ActivityReminder.due_at,
                            ).where(
                                ActivityReminder.activity_id.in_([r.activity_id for r in lone]),
                                ActivityReminder.kind == ReminderKind.REMINDER,
                                ActivityReminder.state.in_([ReminderState.SENT, ReminderState.CLAIMED]),
                            )
                        )
                    ).all()
                )
                for r in lone:
                    if (r.activity_id, r.user_id, r.due_at) in siblings:
                        quiet_r.append(r.id)
                        del grouped[(r.activity_id, r.user_id)]

            for (activity_id, user_id), rows in grouped.items():
                user, activity = users[user_id], activities[activity_id]
                # A reminder at the deadline and the overdue notice due together: one message.
                primary = next((r for r in rows if r.kind == ReminderKind.REMINDER), rows[0])
                overdue_too = primary.kind == ReminderKind.REMINDER and any(
                    r.kind == ReminderKind.OVERDUE for r in rows
                )
                ids = [r.id for r in rows]
                try:
                    msg = await self.renderer.reminder(
                        s, primary, activity, user, now=now, overdue_too=overdue_too
                    )
                    extra_chats = await self.item_chats.chats_for_item(
                        s, str(activity.owner_type), activity.owner_id
                    )
                except Exception:  # noqa: BLE001 - one bad row must not stop the others
                    log.exception("rendering reminder %s failed", ids)
                    retry_r.extend(ids)
                    continue
                if msg is None:
                    quiet_r.extend(ids)
                    continue
                lease = min(r.claimed_until for r in rows if r.claimed_until is not None)
                jobs.append(
                    Job(user.telegram_id, [msg], reminder_ids=ids, lease_until=lease, label=f"reminder {ids}")
                )
                for chat in extra_chats:  # the item's group chat (see ItemChats)
                    jobs.append(Job(chat, [msg], label=f"group copy of reminder {ids}"))

            for user_id, pairs in stale.items():
                user = users[user_id]
                ids = [r.id for r, _a in pairs]
                try:
                    msg = await self.renderer.stale_summary(s, user, pairs, now=now)
                except Exception:  # noqa: BLE001
                    log.exception("rendering the summary of reminders %s failed", ids)
                    retry_r.extend(ids)
                    continue
                lease = min(r.claimed_until for r, _a in pairs if r.claimed_until is not None)
                jobs.append(
                    Job(user.telegram_id, [msg], reminder_ids=ids, lease_until=lease, label=f"summary {ids}")
                )

            for n in notifications:
                user = users.get(n.user_id)
                if user is None or not user.is_active:
                    failed_n["inactive user"].append(n.id)
                    continue
                state = states.get(user.telegram_id)
                if state is not None and state.undeliverable:
                    failed_n["undeliverable"].append(n.id)
                    continue
                if n.category in muted[user.id]:
                    failed_n["muted"].append(n.id)
                    continue
                try:
                    msgs = await self.renderer.notification(s, n, user, now=now)
                except Exception:  # noqa: BLE001
                    log.exception("rendering notification %s failed", n.id)
                    retry_n.append(n.id)
                    continue
                if not msgs:
                    failed_n["nothing to send"].append(n.id)
                    continue
                jobs.append(
                    Job(
                        user.telegram_id,
                        msgs,
                        notification_ids=[n.id],
                        lease_until=n.claimed_until,
                        label=f"notification {n.id} ({n.category})",
                    )
                )
            not_before = {
                chat: st.not_before
                for chat, st in states.items()
                if st.not_before is not None and st.not_before > now
            }

        if drop_r or quiet_r or failed_n or retry_r or retry_n:
            retry_at = now + timedelta(seconds=self.config.backoff_max)
            async with self.db.unit_of_work() as s:
                await delivery_service.drop_reminders(s, drop_r)
                await reminder_service.mark_sent(s, quiet_r, now)
                for reason, ids in failed_n.items():
                    await mark_notifications_failed(s, ids, reason)
                await reminder_service.release(s, retry_r, retry_at)
                await release_notifications(s, retry_n, retry_at, "rendering failed")
        mono = self.mono()
        for chat, until in not_before.items():
            lane = self._lane(chat)
            lane.not_before = max(lane.not_before, mono + (until - now).total_seconds())
        await self._enqueue(jobs, now)

    # -- lanes -------------------------------------------------------------------------------------

    def _lane(self, chat_id: int) -> Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            c = self.config
            cap, rate = (c.group_burst, c.group_rate) if chat_id < 0 else (c.private_burst, c.private_rate)
            lane = self._lanes[chat_id] = Lane(chat_id, Bucket(cap, rate, cap, self.mono()))
        return lane

    async def _enqueue(self, jobs: Iterable[Job], now: datetime) -> None:
        horizon = self.config.lease_seconds * 0.5
        deferred: list[tuple[Job, float]] = []
        mono = self.mono()
        for job in jobs:
            lane = self._lane(job.chat_id)
            # How long until this job's turn in its chat: keep it only if well within the lease.
            wait = max(0.0, lane.not_before - mono) + len(lane.queue) / lane.bucket.rate
            if wait > horizon and not job.copy:
                deferred.append((job, wait))
                continue
            lane.queue.append(job)
            self._queued += 1
            for i in job.reminder_ids:
                self._held_reminders[i] = job
            for i in job.notification_ids:
                self._held_notifications[i] = job
            self._schedule(lane)
        if deferred:
            self.stats.deferred += len(deferred)
            async with self.db.unit_of_work() as s:
                for job, wait in deferred:
                    until = now + timedelta(seconds=wait)
                    await delivery_service.defer_reminders(s, job.reminder_ids, until)
                    await delivery_service.defer_notifications(s, job.notification_ids, until)
        self._lane_event.set()

    def _schedule(self, lane: Lane) -> None:
        if lane.busy or not lane.queue:
            return
        at = lane.ready_at(self.mono())
        if lane.scheduled is not None and lane.scheduled[0] <= at:
            return
        seq = next(self._seq)
        lane.scheduled = (at, seq)
        heapq.heappush(self._heap, (at, seq, lane.chat_id))

    async def _dispatch_loop(self) -> None:
        while True:
            self._lane_event.clear()
            if self._stopping:
                await self._lane_event.wait()
                continue
            if not self._heap or self._sending >= self.config.concurrency:
                await self._lane_event.wait()
                continue
            at, seq, chat = self._heap[0]
            lane = self._lanes.get(chat)
            if lane is None or lane.scheduled != (at, seq) or lane.busy or not lane.queue:
                heapq.heappop(self._heap)  # an outdated entry
                if lane is not None and lane.scheduled == (at, seq):
                    lane.scheduled = None
                continue
            now = self.mono()
            ready = lane.ready_at(now)
            if ready > now + 1e-3 and ready > at + 1e-3:  # the chat got a retry_after meanwhile
                heapq.heappop(self._heap)
                lane.scheduled = None
                self._schedule(lane)
                continue
            wait = max(ready - now, self._global.wait(now))
            if wait > 0:
                try:
                    await asyncio.wait_for(self._lane_event.wait(), timeout=wait)
                except TimeoutError:
                    pass
                continue
            heapq.heappop(self._heap)
            lane.scheduled = None
            self._global.take(now)
            lane.bucket.take(now)
            lane.busy = True
            self._sending += 1
            task = asyncio.create_task(self._send(lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, lane: Lane) -> None:
        job = lane.queue[0]
        try:
            if not await self._still_ours(job):
                self._finish(lane, job)
                return
            shared_wait = await self._shared_wait(lane)
            if shared_wait > 0:
                # Another process was told retry_after for this chat: never ask before it ends.
                lane.not_before = max(lane.not_before, self.mono() + shared_wait)
                return
            message = job.messages[job.part]
            try:
                result = await asyncio.wait_for(
                    self.sender.send(job.chat_id, message.html, buttons=message.buttons),
                    timeout=self.config.send_timeout,
                )
            except TimeoutError:
                result = DeliveryResult(DeliveryStatus.TEMPORARY, detail="timed out")
            except Exception as exc:  # noqa: BLE001 - a sender bug must not kill the loop
                log.exception("sending to %s failed", job.chat_id)
                result = DeliveryResult(DeliveryStatus.TEMPORARY, detail=repr(exc))
            await self._outcome(lane, job, result)
        except Exception:  # noqa: BLE001
            log.exception("delivery of %s failed", job.label)
        finally:
            lane.busy = False
            self._sending -= 1
            if lane.queue:
                self._schedule(lane)
            elif self._lanes.get(lane.chat_id) is lane and lane.not_before <= self.mono():
                del self._lanes[lane.chat_id]
            self._lane_event.set()
            if self._room() >= self.config.capacity // 2:
                self.wake()

    async def _shared_wait(self, lane: Lane) -> float:
        """Seconds this chat must still wait because of a retry_after another process recorded
        (our own is already in lane.not_before)."""
        async with self.db.sessionmaker() as s:
            until = await delivery_service.not_before(s, lane.chat_id)
        if until is None or (lane.recorded_until is not None and until <= lane.recorded_until):
            return 0.0
        return max(0.0, (until - self.clock()).total_seconds())

    async def _still_ours(self, job: Job) -> bool:
        """Renew the lease when it is about to run out, so that no other worker can take the row
        while we are sending it; False if it is no longer ours."""
        if job.copy or job.lease_until is None:
            return True
        now = self.clock()
        if (job.lease_until - now).total_seconds() > self.config.send_timeout + 1:
            return True
        until = now + timedelta(seconds=self.config.lease_seconds)
        async with self.db.unit_of_work() as s:
            kept_r = await delivery_service.renew_leases(
                s, ActivityReminder, job.reminder_ids, self.worker_id, until
            )
            kept_n = await delivery_service.renew_leases(
                s, Notification, job.notification_ids, self.worker_id, until
            )
        for i in [i for i in job.reminder_ids if i not in kept_r]:
            self._forget_row(ActivityReminder, i)
        for i in [i for i in job.notification_ids if i not in kept_n]:
            self._forget_row(Notification, i)
        job.lease_until = until
        return not job.copy

    def _finish(self, lane: Lane, job: Job) -> None:
        if lane.queue and lane.queue[0] is job:
            lane.queue.popleft()
        elif job in lane.queue:
            lane.queue.remove(job)
        else:
            return
        self._queued -= 1
        for i in job.reminder_ids:
            self._held_reminders.pop(i, None)
        for i in job.notification_ids:
            self._held_notifications.pop(i, None)

    async def _outcome(self, lane: Lane, job: Job, result: DeliveryResult) -> None:
        status = result.status
        if status is DeliveryStatus.SENT:
            job.part += 1
            mono = self.mono()
            self.stats.sent += 1
            if self.stats.first_sent_at is None:
                self.stats.first_sent_at = mono
            self.stats.last_sent_at = mono
            if job.part >= len(job.messages):
                # Still held while "sent" is committed: a claim round meanwhile must not take it.
                await self._mark_sent(job)
                self._finish(lane, job)
            return
        if status is DeliveryStatus.RETRY_AFTER:
            self.stats.retry_after += 1
            delay = float(result.retry_after or 1.0)
            # Never earlier than Telegram said; a little later so clocks and rounding agree.
            lane.not_before = max(lane.not_before, self.mono() + delay + 0.05)
            now = self.clock()
            until = now + timedelta(seconds=delay + 0.05)
            lane.recorded_until = until
            try:
                async with self.db.unit_of_work() as s:
                    await delivery_service.set_not_before(s, lane.chat_id, until, now)
            except Exception:  # noqa: BLE001 - the in-memory wait still holds
                log.exception("could not record retry_after of chat %s", lane.chat_id)
            if delay > self.config.lease_seconds * 0.5:
                # A long wait: give the rows back to the database until then, hold nothing.
                jobs = list(lane.queue)
                for j in jobs:
                    self._finish(lane, j)
                await self._give_back(jobs, until)
            return
        if status is DeliveryStatus.TEMPORARY:
            self.stats.temporary += 1
            job.failures += 1
            backoff = min(self.config.backoff_max, self.config.backoff_base * 2 ** (job.failures - 1))
            backoff *= random.uniform(1.0, 1.25)
            if job.failures >= self.config.max_temporary_failures:
                self._finish(lane, job)
                await self._release(job, self.clock() + timedelta(seconds=backoff), result.detail)
            else:
                lane.not_before = max(lane.not_before, self.mono() + backoff)
            log.warning(
                "temporary failure sending to %s (%s), retry in %.1fs", job.chat_id, result.detail, backoff
            )
            return
        if status is DeliveryStatus.MIGRATED and result.migrate_to_chat_id:
            self.stats.migrated += 1
            new_chat = result.migrate_to_chat_id
            try:
                async with self.db.unit_of_work() as s:
                    await delivery_service.record_migration(s, lane.chat_id, new_chat, self.clock())
            except Exception:  # noqa: BLE001
                log.exception("could not record the migration of chat %s", lane.chat_id)
            jobs = list(lane.queue)
            for j in jobs:
                self._finish(lane, j)
                j.chat_id = new_chat
            await self._enqueue(jobs, self.clock())
            return
        if status is DeliveryStatus.UNDELIVERABLE or status is DeliveryStatus.MIGRATED:
            self.stats.undeliverable += 1
            log.info("chat %s is undeliverable (%s): dropping its messages", lane.chat_id, result.detail)
            jobs = list(lane.queue)
            for j in jobs:
                self._finish(lane, j)
            async with self.db.unit_of_work() as s:
                await delivery_service.mark_undeliverable(
                    s, lane.chat_id, result.detail or "forbidden", self.clock()
                )
                await self._drop(s, jobs, result.detail or "undeliverable")
            return
        # REJECTED: our message is wrong; retrying cannot help.
        self.stats.rejected += 1
        log.error("Telegram rejected %s for chat %s: %s", job.label, job.chat_id, result.detail)
        self._finish(lane, job)
        async with self.db.unit_of_work() as s:
            await self._drop(s, [job], f"rejected: {result.detail}")

    async def _drop(self, s: Any, jobs: list[Job], reason: str) -> None:
        await delivery_service.drop_reminders(s, [i for j in jobs for i in j.reminder_ids])
        await mark_notifications_failed(s, [i for j in jobs for i in j.notification_ids], reason)

    async def _mark_sent(self, job: Job) -> None:
        if job.copy:
            return
        for attempt in range(3):
            try:
                async with self.db.unit_of_work() as s:
                    now = self.clock()
                    await reminder_service.mark_sent(s, job.reminder_ids, now)
                    await mark_notifications_sent(s, job.notification_ids, now)
                return
            except Exception:  # noqa: BLE001 - the duplicate window: retry the commit a little
                log.exception("recording %s as sent failed (attempt %d)", job.label, attempt + 1)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _release(self, job: Job, retry_at: datetime, detail: str) -> None:
        async with self.db.unit_of_work() as s:
            await reminder_service.release(s, job.reminder_ids, retry_at)
            await release_notifications(s, job.notification_ids, retry_at, detail)

    async def _give_back(self, jobs: list[Job], until: datetime) -> None:
        jobs = [j for j in jobs if not j.copy]
        if not jobs:
            return
        self.stats.deferred += len(jobs)
        async with self.db.unit_of_work() as s:
            await delivery_service.defer_reminders(s, [i for j in jobs for i in j.reminder_ids], until)
            await delivery_service.defer_notifications(
                s, [i for j in jobs for i in j.notification_ids], until
            )
