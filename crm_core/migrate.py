"""Apply Alembic migrations programmatically (the bot does it on start; `crm-bot migrate` too).

A start with nothing to migrate costs one query: the database's revision is compared with the head
read from the migration files' text; Alembic (its import and its loading of every migration) is
needed only when there is something to do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Key of the PostgreSQL advisory lock that serialises migrations of concurrently starting processes.
MIGRATION_LOCK_KEY = 7241001


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


_REVISION = re.compile(r"""^revision(?:\s*:[^=]+)?=\s*["']([^"']+)["']""", re.M)
_DOWN_REVISION = re.compile(r"""^down_revision(?:\s*:[^=]+)?=\s*(?:None|["']([^"']+)["'])\s*$""", re.M)


def quick_head() -> str | None:
    """The head revision read from the files' text (None when it cannot be told so: Alembic decides)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


async def is_up_to_date(engine: AsyncEngine) -> bool:
    head = quick_head()
    if head is None:
        return False
    async with engine.connect() as conn:
        try:
            rows = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
        except Exception:  # noqa: BLE001 - no version table yet: a new database
            return False
    return [r[0] for r in rows] == [head]


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    if revision == "head" and await is_up_to_date(engine):
        return
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Several bot processes may start at once: one migrates, the others wait.
            await conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
            await conn.commit()
        try:
            await conn.run_sync(_upgrade, revision)
            await conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                await conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
                await conn.commit()


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.connect() as conn:
        await conn.run_sync(_downgrade, revision)
        await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
