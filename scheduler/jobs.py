"""APScheduler wiring: a few periodic jobs over the database (never one job per reminder).

Jobs: deliver (keeps the delivery engine running and wakes it: the poll fallback behind its
precise wake-ups), digests (queues each user's daily digest at their local time), overdue tasks,
trash purge, and housekeeping of processed update ids.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models import ProcessedUpdate
from crm_core.services import client_channel
from crm_core.services import delivery as delivery_service
from crm_core.services import tasks as task_service
from crm_core.services import trash as trash_service
from scheduler.delivery import DeliveryConfig, DeliveryEngine, wake_all
from scheduler.ports import ItemChats, MessageSender, NotificationRenderer

log = logging.getLogger(__name__)

# Telegram keeps unconfirmed updates for 24 hours; remembering ids for a week is plenty.
PROCESSED_UPDATES_KEEP = timedelta(days=7)


async def purge_processed_updates(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - PROCESSED_UPDATES_KEEP
    async with db.unit_of_work() as session:
        result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < cutoff))
    return result.rowcount or 0


async def queue_digests(db: Database, now: datetime | None = None) -> int:
    async with db.unit_of_work() as session:
        queued = await delivery_service.queue_digests(session, now or utcnow())
    if queued:
        wake_all()
    return queued


async def mark_overdue_tasks(db: Database, now: datetime | None = None) -> int:
    async with db.unit_of_work() as session:
        tasks = await task_service.mark_overdue_tasks(session, now=now or utcnow())
    return len(tasks)


async def pass_on_queued_clients(db: Database, now: datetime | None = None) -> int:
    """Client conversations nobody took within the queue time go to the next person on duty."""
    async with db.unit_of_work() as session:
        moved = await client_channel.pass_on_expired(session, now=now or utcnow())
    if moved:
        wake_all()
    return len(moved)


async def purge_trash(db: Database, now: datetime | None = None) -> int:
    async with db.unit_of_work() as session:
        return await trash_service.purge_trash(session, now or utcnow())


class Scheduler:
    """The bot's background work: an AsyncIOScheduler with the periodic jobs, and (when a sender
    and a renderer are given) the delivery engine it keeps alive."""

    def __init__(
        self,
        db: Database,
        *,
        sender: MessageSender | None = None,
        renderer: NotificationRenderer | None = None,
        config: DeliveryConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        item_chats: ItemChats | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.config = config or DeliveryConfig()
        self.aps = AsyncIOScheduler(timezone="UTC")
        self.engine: DeliveryEngine | None = None
        self._running_jobs: set[asyncio.Task[object]] = set()
        if sender is not None and renderer is not None:
            self.engine = DeliveryEngine(
                db, sender, renderer, config=self.config, clock=self._now, item_chats=item_chats
            )
        every = {"max_instances": 1, "coalesce": True}
        self.add_job(
            purge_processed_updates,
            "interval",
            hours=6,
            args=[db],
            id="purge_processed_updates",
            **every,
        )
        if self.engine is not None:
            self.add_job(
                self._deliver,
                "interval",
                seconds=self.config.poll_seconds,
                id="deliver",
                **every,
            )
            self.add_job(self._digests, "interval", seconds=60, id="digests", **every)
            self.add_job(self._overdue_tasks, "interval", seconds=60, id="overdue_tasks", **every)
            self.add_job(self._purge_trash, "interval", hours=1, id="purge_trash", **every)
            self.add_job(self._client_queue, "interval", seconds=30, id="client_queue", **every)

    def add_job(self, job: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any) -> Job:
        """APScheduler's add_job for a coroutine job whose run stop() lets finish."""

        @functools.wraps(job)
        async def run(*job_args: object, **job_kwargs: object) -> object:
            task = asyncio.current_task()
            assert task is not None
            self._running_jobs.add(task)
            try:
                return await job(*job_args, **job_kwargs)
            finally:
                self._running_jobs.discard(task)

        return self.aps.add_job(run, *args, **kwargs)

    def _now(self) -> datetime:
        return self.clock()

    @property
    def running(self) -> bool:
        return self.aps.running

    @property
    def alive(self) -> bool:
        """The scheduler runs its jobs and the delivery loop is running (health checks ask)."""
        if not self.aps.running:
            return False
        if self.engine is None:
            return True
        runner = self.engine._runner
        return runner is not None and not runner.done()

    def start(self) -> None:
        self.aps.start()
        if self.engine is not None:
            self.engine.start()
            # First digests/overdue sweep right away rather than a minute after start-up.
            for job_id in ("digests", "overdue_tasks"):
                self.aps.modify_job(job_id, next_run_time=datetime.now(self.aps.timezone))

    def shutdown(self, wait: bool = False) -> None:
        if self.aps.running:
            self.aps.shutdown(wait=wait)

    async def stop(self, timeout: float = 5.0) -> None:
        # APScheduler's asyncio executor cancels running jobs on shutdown; a job cancelled in the
        # middle of a database call loses its transaction and its connection. No new runs, then
        # let the running ones finish.
        if self.aps.running:
            self.aps.pause()
        if self._running_jobs:
            await asyncio.wait(set(self._running_jobs), timeout=timeout)
        self.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        if self.engine is not None:
            await self.engine.stop(timeout)

    async def _deliver(self) -> None:
        engine = self.engine
        assert engine is not None
        runner = engine._runner
        if runner is not None and runner.done() and not engine._stopping:
            exc = None if runner.cancelled() else runner.exception()
            log.error("the delivery engine stopped (%r); restarting it", exc)
            engine._runner = None
            engine.start()
        engine.wake()

    async def _digests(self) -> None:
        await queue_digests(self.db, self._now())

    async def _overdue_tasks(self) -> None:
        await mark_overdue_tasks(self.db, self._now())

    async def _client_queue(self) -> None:
        await pass_on_queued_clients(self.db, self._now())

    async def _purge_trash(self) -> None:
        await purge_trash(self.db, self._now())


def build_scheduler(
    db: Database,
    *,
    sender: MessageSender | None = None,
    renderer: NotificationRenderer | None = None,
    config: DeliveryConfig | None = None,
    clock: Callable[[], datetime] = utcnow,
    item_chats: ItemChats | None = None,
) -> Scheduler:
    return Scheduler(db, sender=sender, renderer=renderer, config=config, clock=clock, item_chats=item_chats)
