"""APScheduler wiring: a few periodic jobs over the database (never one job per reminder)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import delete

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models import ProcessedUpdate

log = logging.getLogger(__name__)

# Telegram keeps unconfirmed updates for 24 hours; remembering ids for a week is plenty.
PROCESSED_UPDATES_KEEP = timedelta(days=7)


async def purge_processed_updates(db: Database, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - PROCESSED_UPDATES_KEEP
    async with db.unit_of_work() as session:
        result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < cutoff))
    return result.rowcount or 0


def build_scheduler(db: Database) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        purge_processed_updates,
        "interval",
        hours=6,
        args=[db],
        id="purge_processed_updates",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
