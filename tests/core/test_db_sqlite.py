"""The one-trip cursor on SQLite (crm_core.db_sqlite): what the driver tells of a statement comes
through unchanged, in a single call into aiosqlite's thread, or inside a transaction (and its
BEGIN when the write lock is free, and its COMMIT) in the event loop's own thread, the WAL being
checkpointed in a thread of its own."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from crm_core.db import Database
from crm_core.db_sqlite import SQLITE_BUSY_TIMEOUT_MS, OneTripCursor, checkpoints_of


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


def _count_thread_calls(driver: object) -> tuple[list[object], object]:
    calls: list[object] = []
    real = driver._execute  # type: ignore[attr-defined]

    async def counted(fn: object, *args: object, **kwargs: object) -> object:
        calls.append(fn)
        return await real(fn, *args, **kwargs)

    driver._execute = counted  # type: ignore[attr-defined]
    return calls, real


async def test_a_statement_outside_a_transaction_is_one_call_into_the_thread(sqlite_db: Database) -> None:
    """The adapter's own cursor made four (cursor, execute, fetchall, close)."""
    async with sqlite_db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        cursor = raw.dbapi_connection.cursor()
        assert isinstance(cursor, OneTripCursor)
        driver = raw.driver_connection
        await conn.rollback()  # the connection's BEGIN IMMEDIATE is over; nothing is open
        calls, real = _count_thread_calls(driver)
        try:
            rows = await conn.run_sync(lambda sync: _raw_select(sync, "SELECT 1 UNION ALL SELECT 2"))
        finally:
            driver._execute = real
        assert rows == [(1,), (2,)]
        assert len(calls) == 1


def _add_function(sync_conn: object, name: str, function: object) -> None:
    sync_conn.connection.dbapi_connection.create_function(name, 0, function)  # type: ignore[attr-defined]


def _raw_select(sync_conn: object, sql: str) -> list[tuple[object, ...]]:
    cursor = sync_conn.connection.dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute(sql)
    return [tuple(row) for row in cursor.fetchall()]


async def test_statements_inside_a_transaction_run_in_the_loop_thread(sqlite_db: Database) -> None:
    """Inside a transaction (begun IMMEDIATE, so the write lock is held) a statement cannot wait for
    another connection: it runs where the event loop runs, without a handoff. So do the BEGIN
    when nobody holds the write lock and the COMMIT (which does not checkpoint); the pool's
    rollback of the connection it gets back, with nothing open, goes nowhere."""
    async with sqlite_db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        await conn.rollback()
        await conn.run_sync(lambda sync: _add_function(sync, "tid", threading.get_ident))
        calls, real = _count_thread_calls(driver)
        try:
            await conn.begin()
            await conn.execute(text("INSERT INTO t (a) VALUES ('x')"))
            where = (await conn.execute(text("SELECT tid(), count(*) FROM t"))).one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar()
            assert len(calls) == 1  # the PRAGMA
            await conn.commit()
        finally:
            driver._execute = real
    assert len(calls) == 1  # committed, and given back to the pool without a rollback
    assert where == (threading.get_ident(), 1)
    assert timeout == SQLITE_BUSY_TIMEOUT_MS  # the BEGIN's own timeout of 0 is undone
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT a FROM t"))).scalars().all() == ["x"]


async def test_waiting_for_another_process_write_lock_does_not_stop_the_loop(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Another process (here another connection) holds the write lock: BEGIN IMMEDIATE waits in
    aiosqlite's thread, and the event loop keeps running meanwhile."""
    other = sqlite3.connect(tmp_path / "one_trip.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t (a) VALUES ('other')")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:

        async def write() -> list[str]:
            async with sqlite_db.engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (a) VALUES ('mine')"))
                return (await conn.execute(text("SELECT a FROM t ORDER BY id"))).scalars().all()

        writer = asyncio.create_task(write())
        await asyncio.sleep(0.3)
        assert not writer.done()
        assert ticks >= 10  # the loop ran while the writer waited for the lock
        other.execute("COMMIT")
        assert await asyncio.wait_for(writer, 10) == ["other", "mine"]
    finally:
        ticker.cancel()
        other.close()
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == SQLITE_BUSY_TIMEOUT_MS


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(sqlite_db: Database) -> None:
    async with sqlite_db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        await conn.execute(text("INSERT INTO t (a) VALUES ('left open')"))
        calls, real = _count_thread_calls(driver)
    driver._execute = real
    assert len(calls) == 1  # the rollback, in the thread
    assert not driver._conn.in_transaction
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


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


def _main_file_rows(path: Path) -> list[str]:
    """What the database file itself holds, without the WAL (immutable: the WAL is not read)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return [row[0] for row in conn.execute("SELECT a FROM t ORDER BY id")]
    finally:
        conn.close()


async def test_the_wal_is_checkpointed_in_a_thread_not_by_the_commit(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """The engine's connections never checkpoint (a commit in the loop's thread must not copy the
    WAL and fsync); a thread of its own does, after commits, so the WAL does not grow without end."""
    path = tmp_path / "one_trip.db"
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
    checkpoints = checkpoints_of(str(path))
    assert checkpoints is not None
    checkpoints.interval = 0.0
    checkpoints.join()
    async with sqlite_db.unit_of_work() as s:
        await s.execute(text("INSERT INTO t (a) VALUES ('kept')"))
    checkpoints.join()
    assert _main_file_rows(path) == ["kept"]  # in the database file itself, while the engine is open
    checkpoints.interval = 3600.0  # none more: the next commit stays in the WAL
    async with sqlite_db.unit_of_work() as s:
        await s.execute(text("INSERT INTO t (a) VALUES ('in the wal')"))
    checkpoints.join()
    assert _main_file_rows(path) == ["kept"]
    async with sqlite_db.engine.connect() as conn:
        assert (await conn.execute(text("SELECT a FROM t ORDER BY id"))).scalars().all() == [
            "kept",
            "in the wal",
        ]
    await sqlite_db.dispose()  # closing the last connection checkpoints the rest
    assert _main_file_rows(path) == ["kept", "in the wal"]
