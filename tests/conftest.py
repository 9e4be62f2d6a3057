"""Shared fixtures: a fresh, migrated database per test on SQLite or PostgreSQL.

The backend is DATABASE_URL's: unset (or sqlite) runs on a temporary SQLite file; a
postgresql+asyncpg URL runs each test in a database of its own on that server, cloned from a
template migrated once per run, and dropped afterwards.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text

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


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per run; each test gets a copy (CREATE DATABASE ... TEMPLATE
    takes ~25 ms where migrating a fresh schema took ~250 ms)."""
    import asyncio

    name = f"crm_tmpl_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        await _admin_sql(f'CREATE DATABASE "{name}"')
        db = Database(_url_with_database(name))
        try:
            await migrate.upgrade(db.engine)
        finally:
            await db.dispose()  # a template must have no open connections

    async def drop() -> None:
        await _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, create()).result()
        try:
            yield name
        finally:
            pool.submit(asyncio.run, drop()).result()


@pytest.fixture
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A URL of a fresh migrated database for this test."""
    if is_sqlite(BASE_URL):
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "crm.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"crm_t_{uuid.uuid4().hex[:12]}"
    await _admin_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _url_with_database(name)
    finally:
        # FORCE: a bot process a test killed may have left a session behind.
        await _admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _url_with_database(name: str) -> str:
    return make_url(BASE_URL).set(database=name).render_as_string(hide_password=False)


async def _admin_sql(statement: str) -> None:
    """CREATE/DROP DATABASE cannot run in a transaction: autocommit on DATABASE_URL's database."""
    admin = Database(BASE_URL)
    try:
        engine = admin.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
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


# --- property-based tests and the reliability report (issue 15) ---------------------------------------

from hypothesis import HealthCheck, settings  # noqa: E402

from tests.reliability.report import REPORT  # noqa: E402

# "ci" (the default) keeps the whole property suite to a minute or two; HYPOTHESIS_PROFILE=thorough
# tries many more examples when hunting.
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=False)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: Any) -> None:
    if REPORT.empty:
        return
    terminalreporter.section("reliability report (issue 15)")
    for line in REPORT.lines():
        terminalreporter.write_line(line)
