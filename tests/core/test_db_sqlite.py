"""The one-trip cursor on SQLite (crm_core.db_sqlite): what the driver tells of a statement comes
through unchanged, in a single call into aiosqlite's thread."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm_core.db import Database
from crm_core.db_sqlite import OneTripCursor


@pytest.fixture
async def sqlite_db(tmp_path: Path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'one_trip.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT UNIQUE)"))
    try:
        yield database
    finally:
        await database.dispose()


async def test_rows_counts_and_ids_come_through(sqlite_db: Database) -> None:
    async with sqlite_db.engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (a) VALUES ('x')"))
        assert inserted.lastrowid == 1
        many = await conn.execute(text("INSERT INTO t (a) VALUES (:a)"), [{"a": "y"}, {"a": "z"}])
        assert many.rowcount == 2
        updated = await conn.execute(text("UPDATE t SET a = a || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        returned = await conn.execute(text("INSERT INTO t (a) VALUES ('w') RETURNING id, a"))
        assert returned.all() == [(4, "w")]
        result = await conn.execute(text("SELECT id, a FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "a"]
        assert result.all() == [(1, "x"), (2, "y!"), (3, "z!"), (4, "w")]
        few = await conn.execute(text("SELECT id FROM t ORDER BY id"))
        assert few.fetchmany(3) == [(1,), (2,), (3,)]
        assert few.fetchone() == (4,)
        assert few.fetchone() is None


async def test_errors_are_the_driver_errors(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (a) VALUES ('x')"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (a) VALUES ('x')"))
        await conn.rollback()


async def test_a_statement_is_one_call_into_the_thread(sqlite_db: Database) -> None:
    """The adapter's own cursor made four (cursor, execute, fetchall, close)."""
    async with sqlite_db.engine.begin() as conn:  # BEGIN IMMEDIATE is sent now, not counted
        raw = await conn.get_raw_connection()
        cursor = raw.dbapi_connection.cursor()
        assert isinstance(cursor, OneTripCursor)
        driver = raw.driver_connection
        calls: list[object] = []
        real = driver._execute

        async def counted(fn: object, *args: object, **kwargs: object) -> object:
            calls.append(fn)
            return await real(fn, *args, **kwargs)

        driver._execute = counted
        try:
            rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).all()
        finally:
            driver._execute = real
        assert rows == [(1,), (2,)]
        assert len(calls) == 1


async def test_closing_an_invalidated_connection_ends_when_also_force_closed(sqlite_db: Database) -> None:
    """A terminate that is cancelled force-closes (stops the thread) while its graceful close is
    under way; the graceful close still ends, and the connection is closed."""
    async with sqlite_db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        adapted = raw.dbapi_connection
        driver = raw.driver_connection
        sqlite_conn = driver._conn
        graceful = asyncio.create_task(adapted._terminate_graceful_close())
        await asyncio.sleep(0)
        adapted._terminate_force_close()
        await asyncio.wait_for(graceful, 5)
        await asyncio.wait_for(asyncio.to_thread(driver._thread.join, 5), 6)
        assert not driver._thread.is_alive()
        with pytest.raises(sqlite3.ProgrammingError):
            sqlite_conn.execute("SELECT 1")
        await conn.invalidate()
