"""The scheduler's own lifecycle: stopping it lets a running job finish its database work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, select

from crm_core.db import Database
from crm_core.models import ProcessedUpdate
from scheduler.jobs import Scheduler


async def test_stop_lets_a_running_job_finish_and_starts_no_new_one(db: Database) -> None:
    scheduler = Scheduler(db)
    started = asyncio.Event()
    runs: list[str] = []

    async def slow_job() -> None:
        runs.append("started")
        started.set()
        async with db.unit_of_work() as s:
            await asyncio.sleep(0.3)  # mid-transaction when stop() is called
            s.add(ProcessedUpdate(update_id=1, bot_id=1, processed_at=datetime.now(UTC)))
        runs.append("committed")

    scheduler.add_job(slow_job, "interval", seconds=0.05, id="slow", max_instances=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await scheduler.stop()

    assert runs == ["started", "committed"]  # not cancelled half-way, and no run after stop
    assert not scheduler.running
    async with db.sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(ProcessedUpdate)) == 1
    await asyncio.sleep(0.2)
    assert runs == ["started", "committed"]
