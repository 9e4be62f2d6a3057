"""The database side of the rows a worker claimed: claiming and renewing leases, and recording
each outcome (sent, released for a retry, given back, dropped). Every write is its own short
transaction, so a slow send never holds a database lock; "sent" is committed for all the sends
that came back within `sent_linger` together (one transaction, not one per message)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from crm_core.db import Database
from crm_core.models.activities import ActivityReminder
from crm_core.models.notifications import Notification
from crm_core.services import delivery as delivery_service
from crm_core.services import reminders as reminder_service
from crm_core.services import room_overdue
from crm_core.services.notifications import (
    claim_notifications,
    mark_notifications_failed,
    mark_notifications_sent,
    release_notifications,
)
from scheduler.delivery import wakeup
from scheduler.delivery.lanes import Job
from scheduler.delivery.prepare import Batch

log = logging.getLogger("scheduler.delivery")


class ClaimedRows:
    def __init__(
        self, db: Database, worker_id: str, clock: Callable[[], datetime], *, sent_linger: float = 0.1
    ) -> None:
        self.db = db
        self.worker_id = worker_id
        self.clock = clock
        self.sent_linger = sent_linger
        self._sent: list[tuple[Job, asyncio.Future[None]]] = []
        self._sent_flusher: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[Any]:
        """A unit of work of the engine's own: its commit wakes no engine (see wakeup)."""
        async with self.db.unit_of_work() as s:
            wakeup.quiet(s)
            yield s

    # -- claiming and leases -------------------------------------------------------------------------

    async def claim(
        self, now: datetime, lease_seconds: int, limit: int
    ) -> tuple[list[ActivityReminder], list[Notification]]:
        async with self._writing() as s:
            reminders = await reminder_service.claim_due(
                s, now=now, lease_seconds=lease_seconds, worker_id=self.worker_id, limit=limit
            )
            # Overdue activities go to their items' rooms whatever becomes of the personal notice.
            await room_overdue.tell_rooms(s, reminders)
        async with self._writing() as s:
            notifications = await claim_notifications(
                s, now=now, lease_seconds=lease_seconds, worker_id=self.worker_id, limit=limit
            )
        return list(reminders), list(notifications)

    async def next_due_at(self) -> datetime | None:
        async with self.db.sessionmaker() as s:
            return await delivery_service.next_due_at(s)

    async def renew(self, model: type, ids: list[int], until: datetime) -> set[int]:
        """The ids whose lease this worker still holds, now extended to `until`."""
        async with self._writing() as s:
            return await delivery_service.renew_leases(s, model, ids, self.worker_id, until)

    async def renew_job(self, job: Job, until: datetime) -> tuple[set[int], set[int]]:
        async with self._writing() as s:
            kept_r = await delivery_service.renew_leases(
                s, ActivityReminder, job.reminder_ids, self.worker_id, until
            )
            kept_n = await delivery_service.renew_leases(
                s, Notification, job.notification_ids, self.worker_id, until
            )
        return kept_r, kept_n

    # -- per-chat state shared by processes -----------------------------------------------------------

    async def chats_held(self, now: datetime) -> dict[int, datetime]:
        async with self.db.sessionmaker() as s:
            return await delivery_service.chats_held(s, now)

    async def record_retry_after(self, chat_id: int, until: datetime, now: datetime) -> None:
        async with self._writing() as s:
            await delivery_service.set_not_before(s, chat_id, until, now)

    async def record_migration(self, chat_id: int, new_chat_id: int) -> None:
        async with self._writing() as s:
            await delivery_service.record_migration(s, chat_id, new_chat_id, self.clock())

    # -- outcomes ------------------------------------------------------------------------------------

    async def settle(self, batch: Batch, now: datetime, retry_at: datetime) -> None:
        """What preparing decided without sending: dropped, quietly done, failed, retried later."""
        async with self._writing() as s:
            await delivery_service.drop_reminders(s, batch.drop_r)
            await reminder_service.mark_sent(s, batch.quiet_r, now)
            for reason, ids in batch.failed_n.items():
                await mark_notifications_failed(s, ids, reason)
            await reminder_service.release(s, batch.retry_r, retry_at)
            await release_notifications(s, batch.retry_n, retry_at, "rendering failed")

    async def defer(self, deferred: Iterable[tuple[Job, datetime]]) -> None:
        """Jobs whose chat cannot take them within the lease: back to the database until then."""
        async with self._writing() as s:
            for job, until in deferred:
                await delivery_service.defer_reminders(s, job.reminder_ids, until)
                await delivery_service.defer_notifications(s, job.notification_ids, until)

    async def give_back(self, jobs: list[Job], until: datetime) -> int:
        """Give queued rows back (not a failed attempt) until `until`; returns how many jobs."""
        jobs = [j for j in jobs if not j.copy]
        if not jobs:
            return 0
        async with self._writing() as s:
            await delivery_service.defer_reminders(s, [i for j in jobs for i in j.reminder_ids], until)
            await delivery_service.defer_notifications(
                s, [i for j in jobs for i in j.notification_ids], until
            )
        return len(jobs)

    async def mark_sent(self, job: Job) -> None:
        """Record `job` as sent; returns once that is committed (or given up after retries)."""
        if job.copy:
            return
        done = asyncio.get_running_loop().create_future()
        self._sent.append((job, done))
        if self._sent_flusher is None or self._sent_flusher.done():
            self._sent_flusher = asyncio.create_task(self._flush_sent(), name="delivery-sent")
        await asyncio.shield(done)  # a cancelled sender does not take its row out of the batch

    async def _flush_sent(self) -> None:
        while self._sent:
            await asyncio.sleep(self.sent_linger)
            batch, self._sent = self._sent, []
            jobs = [job for job, _ in batch]
            for attempt in range(3):
                try:
                    async with self._writing() as s:
                        now = self.clock()
                        await reminder_service.mark_sent(s, [i for j in jobs for i in j.reminder_ids], now)
                        await mark_notifications_sent(s, [i for j in jobs for i in j.notification_ids], now)
                    break
                except Exception:  # noqa: BLE001 - the duplicate window: retry the commit a little
                    log.exception(
                        "recording %d deliveries as sent failed (attempt %d)", len(jobs), attempt + 1
                    )
                    await asyncio.sleep(0.2 * (attempt + 1))
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def release(self, job: Job, retry_at: datetime, detail: str) -> None:
        async with self._writing() as s:
            await reminder_service.release(s, job.reminder_ids, retry_at)
            await release_notifications(s, job.notification_ids, retry_at, detail)

    async def drop(
        self, jobs: list[Job], reason: str, *, undeliverable: tuple[int, str] | None = None
    ) -> None:
        """Rows that cannot be delivered; `undeliverable` (chat, why) marks that chat too."""
        async with self._writing() as s:
            if undeliverable is not None:
                chat_id, why = undeliverable
                await delivery_service.mark_undeliverable(s, chat_id, why, self.clock())
            await delivery_service.drop_reminders(s, [i for j in jobs for i in j.reminder_ids])
            await mark_notifications_failed(s, [i for j in jobs for i in j.notification_ids], reason)
