"""The database layer itself: Unicode case folding and concurrent writers on SQLite."""

import asyncio
import gc
import warnings

import pytest
from sqlalchemy import func, insert, make_url, select, text

from crm_core.db import Database, is_sqlite, lazily_durable_column
from crm_core.models import User
from tests.conftest import BASE_URL, _admin_sql


async def test_lower_folds_cyrillic(db: Database) -> None:
    async with db.unit_of_work() as s:
        assert await s.scalar(select(func.lower("ОРЁЛ Ltd"))) == "орёл ltd"
        assert await s.scalar(select(func.upper("иван"))) == "ИВАН"


async def test_concurrent_read_then_write_transactions_do_not_fail(db: Database) -> None:
    """Two units of work that each read and then write: with IMMEDIATE transactions on SQLite the
    second waits for the first instead of failing with "database is locked"; neither is lost."""
    if not db.is_sqlite:
        pytest.skip("SQLite's locking; on PostgreSQL services rely on versions and row locks")
    async with db.unit_of_work() as s:
        s.add(User(telegram_id=1, full_name="counter 0"))

    async def bump() -> None:
        async with db.unit_of_work() as s:
            user = await s.scalar(select(User).where(User.telegram_id == 1))
            n = int(user.full_name.split()[-1])
            await asyncio.sleep(0.05)  # both have read before either writes (on a deferred txn)
            user.full_name = f"counter {n + 1}"

    await asyncio.gather(*(bump() for _ in range(5)))
    async with db.unit_of_work() as s:
        assert await s.scalar(select(User.full_name).where(User.telegram_id == 1)) == "counter 5"


@pytest.mark.skipif(is_sqlite(BASE_URL), reason="PostgreSQL's connections")
async def test_a_connection_the_server_closed_is_replaced_at_checkout(
    db: Database, database_url: str
) -> None:
    """Between units of work the server drops every connection (what a restart does): the next unit
    of work gets a fresh one instead of failing on the dead one, without a ping per checkout."""
    async with db.unit_of_work() as s:
        first = await s.scalar(select(func.pg_backend_pid()))
    name = make_url(database_url).database
    await _admin_sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    )
    await asyncio.sleep(0.2)  # the close reaches the pooled connection's socket
    async with db.unit_of_work() as s:
        second = await s.scalar(select(func.pg_backend_pid()))
    assert second != first


@pytest.mark.skipif(is_sqlite(BASE_URL), reason="PostgreSQL's connection pool")
async def test_units_of_work_in_flight_reuse_their_connections(db: Database) -> None:
    """As many units of work at once as the process allows, wave after wave: each wave reuses the
    connections the first opened (a connection opened per update costs a server process and a
    handshake)."""
    from sqlalchemy import event

    opened: list[object] = []
    event.listen(db.engine.sync_engine, "connect", lambda conn, _record: opened.append(conn))
    at_once = db._turns.limit if db._turns is not None else 1
    assert at_once >= 10  # an update waiting for a connection waits for another update's turn

    async def one() -> None:
        async with db.unit_of_work() as s:
            await s.scalar(select(func.pg_backend_pid()))
            await asyncio.sleep(0.05)  # all of the wave hold their connection at once

    await asyncio.gather(*(one() for _ in range(at_once)))
    first_wave = len(opened)
    for _ in range(3):
        await asyncio.gather(*(one() for _ in range(at_once)))
    assert 0 < first_wave <= at_once
    assert len(opened) == first_wave, f"{len(opened) - first_wave} connections opened again"


async def test_a_unit_of_work_cancelled_midway_leaves_nothing_to_the_next(db: Database) -> None:
    """A unit of work cancelled inside (a shutdown) is rolled back, and its connection, kept for the
    next unit of work otherwise, does not hand that one a transaction already begun (on SQLite it
    would hold the write lock and refuse the next BEGIN)."""
    started = asyncio.Event()

    async def interrupted() -> None:
        async with db.unit_of_work() as s:
            s.add(User(telegram_id=21, full_name="never committed"))
            await s.flush()
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(interrupted())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for n in range(3):
        async with db.unit_of_work() as s:
            assert await s.scalar(select(User).where(User.telegram_id == 21)) is None
            s.add(User(telegram_id=30 + n, full_name=f"after {n}"))
    async with db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(User).where(User.telegram_id >= 30)) == 3


async def test_a_unit_of_work_that_raised_leaves_its_connection_clean(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as s:
            s.add(User(telegram_id=41, full_name="rolled back"))
            await s.flush()
            raise RuntimeError("the handler failed")
    async with db.unit_of_work() as s:
        assert await s.scalar(select(User).where(User.telegram_id == 41)) is None
        s.add(User(telegram_id=42, full_name="kept"))
    async with db.unit_of_work() as s:
        assert await s.scalar(select(User.full_name).where(User.telegram_id == 42)) == "kept"


@pytest.mark.skipif(is_sqlite(BASE_URL), reason="PostgreSQL's connections")
async def test_dispose_closes_the_connections_kept_between_units_of_work(database_url: str) -> None:
    name = make_url(database_url).database
    db = Database(database_url)
    pids = set()

    async def one() -> None:
        async with db.unit_of_work() as s:
            pids.add(await s.scalar(select(func.pg_backend_pid())))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(one() for _ in range(4)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await db.dispose()
        gc.collect()
    # Closed by dispose, not left for the garbage collector to terminate.
    assert not [w for w in caught if "garbage collector" in str(w.message)]
    admin = Database(BASE_URL)
    try:
        async with admin.unit_of_work() as s:
            left = await s.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :n AND pid = ANY(:pids)"),
                {"n": name, "pids": list(pids)},
            )
    finally:
        await admin.dispose()
    assert len(pids) == 4
    assert left == 0


async def test_a_lazily_durable_commit_is_kept_and_made_durable_on_demand(db: Database) -> None:
    """The update inbox's store commits without waiting for the disk (PostgreSQL), for that unit
    of work only; make_durable returns once the WAL is flushed past it. On SQLite both are plain."""
    async with db.unit_of_work(lazily_durable=True) as s:
        s.add(User(telegram_id=7, full_name="stored lazily"))
        if not db.is_sqlite:
            assert await s.scalar(text("SHOW synchronous_commit")) == "off"
            written = await s.scalar(text("SELECT pg_current_wal_insert_lsn()::text"))
    async with db.unit_of_work() as s:
        assert await s.scalar(select(User.full_name).where(User.telegram_id == 7)) == "stored lazily"
        if not db.is_sqlite:
            assert await s.scalar(text("SHOW synchronous_commit")) == "on"  # SET LOCAL: that one only
    await db.make_durable()
    if not db.is_sqlite:
        async with db.unit_of_work() as s:
            flushed_past = await s.scalar(
                text("SELECT pg_current_wal_flush_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn)"),
                {"lsn": written},
            )
        assert flushed_past


async def test_a_statement_can_carry_the_lazily_durable_commit(db: Database) -> None:
    """lazily_durable_column(), added to a statement that runs anyway, makes its transaction's
    commit lazily durable, as unit_of_work(lazily_durable=True) does: that transaction only."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's synchronous_commit; a commit on SQLite never waits for the disk")
    stmt = insert(User.__table__).returning(User.__table__.c.id, lazily_durable_column())
    async with db.unit_of_work() as s:
        assert await s.scalar(text("SHOW synchronous_commit")) == "on"
        await s.execute(stmt, {"telegram_id": 8, "full_name": "carried", "role": "salesperson"})
        assert await s.scalar(text("SHOW synchronous_commit")) == "off"
    async with db.unit_of_work() as s:
        assert await s.scalar(select(User.full_name).where(User.telegram_id == 8)) == "carried"
        assert await s.scalar(text("SHOW synchronous_commit")) == "on"
