"""The delivery engine: a claim loop that leases due rows and prepares them (prepare.py), and
a dispatch loop that sends from the per-chat lanes (lanes.py) within the rate limits
(limits.py) and acts on each outcome; every database write goes through rows.py. See the
package's docstring for the guarantees."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models.activities import ActivityReminder
from crm_core.models.notifications import Notification
from scheduler.delivery import wakeup
from scheduler.delivery.lanes import Job, Lane
from scheduler.delivery.limits import Bucket, DeliveryConfig, GroupWindows, SendLog, Window
from scheduler.delivery.prepare import Preparer
from scheduler.delivery.rows import ClaimedRows
from scheduler.ports import (
    DeliveryResult,
    DeliveryStatus,
    ItemChats,
    MessageSender,
    NoItemChats,
    NotificationRenderer,
)

log = logging.getLogger("scheduler.delivery")


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
        self._global = SendLog(max(1, int(c.global_rate)))
        # Groups' windows outlive their lanes, and the bot's replies in a group note theirs here.
        self.group_windows = GroupWindows(max(1, round(c.group_rate * c.group_period)), c.group_period)
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
        self._holds: dict[int, datetime] = {}  # chats another process was told to wait for
        self._holds_fresh_until = 0.0
        self._holds_lock = asyncio.Lock()
        self.rows = ClaimedRows(db, self.worker_id, clock)
        self.preparer = Preparer(db, renderer, self.item_chats, self.config.stale_after)
        wakeup.register(self)

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
                self.stats.deferred += await self.rows.give_back(leftovers, self.clock())
            except Exception:  # noqa: BLE001 - the lease will expire anyway
                log.exception("could not give back %d queued deliveries", len(leftovers))
        self._lanes.clear()
        wakeup.unregister(self)

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
        nxt = await self.rows.next_due_at()
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
        reminders, notifications = await self.rows.claim(now, lease, limit)
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
        # Renewed here, all in one statement, before a send would have to renew its own rows.
        c = self.config
        margin = timedelta(
            seconds=min(
                c.lease_seconds * 0.8, max(c.lease_seconds * 0.4, c.send_timeout + 1 + c.poll_seconds)
            )
        )
        until = now + timedelta(seconds=self.config.lease_seconds)
        for model, held in (
            (ActivityReminder, self._held_reminders),
            (Notification, self._held_notifications),
        ):
            due = [i for i, job in held.items() if job.lease_until is None or job.lease_until - now < margin]
            if not due:
                continue
            kept = await self.rows.renew(model, due, until)
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

    # -- preparing --------------------------------------------------------------------------------

    async def _prepare(
        self, reminders: list[ActivityReminder], notifications: list[Notification], now: datetime
    ) -> None:
        batch = await self.preparer.prepare(reminders, notifications, now)
        if batch.unsettled:
            await self.rows.settle(batch, now, now + timedelta(seconds=self.config.backoff_max))
        mono = self.mono()
        for chat, until in batch.not_before.items():
            lane = self._lane(chat)
            lane.not_before = max(lane.not_before, mono + (until - now).total_seconds())
        await self._enqueue(batch.jobs, now)

    # -- lanes -------------------------------------------------------------------------------------

    def _lane(self, chat_id: int) -> Lane:
        lane = self._lanes.get(chat_id)
        if lane is None:
            c = self.config
            pace: Bucket | Window = (
                self.group_windows.window(chat_id)
                if chat_id < 0
                else Bucket(c.private_burst, c.private_rate, c.private_burst, self.mono())
            )
            lane = self._lanes[chat_id] = Lane(chat_id, pace)
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
            await self.rows.defer((job, now + timedelta(seconds=wait)) for job, wait in deferred)
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
        flying = True  # the bot-wide turn taken for this message
        try:
            if not await self._still_ours(job):
                self._finish(lane, job)
                return
            shared_wait = await self._shared_wait(lane)
            if shared_wait > 0:
                # Another process was told retry_after for this chat: never ask before it ends.
                lane.not_before = max(lane.not_before, self.mono() + shared_wait)
                return
            try:
                result = await asyncio.wait_for(self._call(job), timeout=self.config.send_timeout)
            except TimeoutError:
                result = DeliveryResult(DeliveryStatus.TEMPORARY, detail="timed out")
            except Exception as exc:  # noqa: BLE001 - a sender bug must not kill the loop
                log.exception("sending to %s failed", job.chat_id)
                result = DeliveryResult(DeliveryStatus.TEMPORARY, detail=repr(exc))
            flying = False
            self._global.done(self.mono())
            await self._outcome(lane, job, result)
        except Exception:  # noqa: BLE001
            log.exception("delivery of %s failed", job.label)
        finally:
            if flying:
                self._global.release()
            lane.busy = False
            self._sending -= 1
            if lane.queue:
                self._schedule(lane)
            elif self._lanes.get(lane.chat_id) is lane and self._idle(lane):
                del self._lanes[lane.chat_id]
            self._lane_event.set()
            if self._room() >= self.config.capacity // 2:
                self.wake()

    async def _call(self, job: Job) -> DeliveryResult:
        if job.topic_closed is not None and job.thread_id is not None:
            return await self.sender.set_topic_state(job.chat_id, job.thread_id, closed=job.topic_closed)
        message = job.messages[job.part]
        # A forum topic (a deal room); senders that know no topics are never given one.
        topic = {"thread_id": job.thread_id} if job.thread_id is not None else {}
        if message.photo is not None and hasattr(self.sender, "send_photo"):
            return await self.sender.send_photo(
                job.chat_id, message.photo, message.html, buttons=message.buttons, **topic
            )
        return await self.sender.send(job.chat_id, message.html, buttons=message.buttons, **topic)

    def _idle(self, lane: Lane) -> bool:
        """A lane to forget (a group's window is kept in group_windows): no wait pending."""
        return lane.not_before <= self.mono()

    async def _shared_wait(self, lane: Lane) -> float:
        """Seconds this chat must still wait because of a retry_after another process recorded
        (our own is already in lane.not_before). The chats held are read at most once per
        `holds_refresh` seconds for all chats, not once per message."""
        async with self._holds_lock:
            if self.mono() >= self._holds_fresh_until:
                self._holds = await self.rows.chats_held(self.clock())
                self._holds_fresh_until = self.mono() + self.config.holds_refresh
        until = self._holds.get(lane.chat_id)
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
        kept_r, kept_n = await self.rows.renew_job(job, until)
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
            job.part += 1  # a topic's state has no messages: done after its one call
            mono = self.mono()
            self.stats.sent += 1
            if self.stats.first_sent_at is None:
                self.stats.first_sent_at = mono
            self.stats.last_sent_at = mono
            if job.part >= len(job.messages):
                # Still held while "sent" is committed: a claim round meanwhile must not take it.
                await self.rows.mark_sent(job)
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
                await self.rows.record_retry_after(lane.chat_id, until, now)
            except Exception:  # noqa: BLE001 - the in-memory wait still holds
                log.exception("could not record retry_after of chat %s", lane.chat_id)
            if delay > self.config.lease_seconds * 0.5:
                # A long wait: give the rows back to the database until then, hold nothing.
                jobs = list(lane.queue)
                for j in jobs:
                    self._finish(lane, j)
                self.stats.deferred += await self.rows.give_back(jobs, until)
            return
        if status is DeliveryStatus.TEMPORARY:
            self.stats.temporary += 1
            job.failures += 1
            backoff = min(self.config.backoff_max, self.config.backoff_base * 2 ** (job.failures - 1))
            backoff *= random.uniform(1.0, 1.25)
            if job.failures >= self.config.max_temporary_failures:
                self._finish(lane, job)
                await self.rows.release(job, self.clock() + timedelta(seconds=backoff), result.detail)
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
                await self.rows.record_migration(lane.chat_id, new_chat)
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
            await self.rows.drop(
                jobs,
                result.detail or "undeliverable",
                undeliverable=(lane.chat_id, result.detail or "forbidden"),
            )
            return
        # REJECTED: our message is wrong; retrying cannot help.
        self.stats.rejected += 1
        log.error("Telegram rejected %s for chat %s: %s", job.label, job.chat_id, result.detail)
        self._finish(lane, job)
        await self.rows.drop([job], f"rejected: {result.detail}")
