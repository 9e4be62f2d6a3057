"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

The backend is DATABASE_URL's: unset (or sqlite) runs on a temporary SQLite file; a
postgresql+asyncpg URL runs each test in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from crm_core import migrate
from crm_core.db import Database, is_sqlite

BASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite://")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per run; each test gets a copy (much faster than migrating)."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "crm.db"

    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(db.engine)
        await db.dispose()  # closing the last connection checkpoints the WAL into the file

    # Fixtures may ask for this from inside a running event loop: build it in a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, build()).result()
    return path


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a fresh migrated database for this test."""
    if is_sqlite(BASE_URL):
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "crm.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(BASE_URL)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in BASE_URL else "?"
    url = f"{BASE_URL}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    if not is_sqlite(database_url):
        await migrate.upgrade(database.engine)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator:
    """A unit of work for service tests; committed at the end of the test if it did not fail."""
    async with db.sessionmaker() as s:
        yield s
        await s.rollback()
