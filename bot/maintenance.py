"""One-off commands."""

from __future__ import annotations

from config import Settings
from crm_core import migrate
from crm_core.db import Database


async def run_migrations(settings: Settings) -> None:
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
        print(f"database is at revision {await migrate.current_revision(db.engine)}")
    finally:
        await db.dispose()
