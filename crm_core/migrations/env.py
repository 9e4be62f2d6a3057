"""Alembic environment. The app passes an open connection (config.attributes["connection"]);
the alembic CLI (`alembic -c crm_core/migrations/alembic.ini ...`) uses DATABASE_URL instead."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from crm_core.models import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations describe the schema only: a UTC datetime column is a plain timestamptz there.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_item=_render_item,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch mode for ALTER
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        # A migration may change cached rows where no trigger sees it (a SQLite table rebuild):
        # running processes must re-read them (crm_core.cache).
        if inspect(connection).has_table("cache_versions"):
            connection.exec_driver_sql("UPDATE cache_versions SET n = n + 1")


async def _run_standalone(url: str) -> None:
    from crm_core.db import create_engine

    engine = create_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone(os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./crm.db")))
