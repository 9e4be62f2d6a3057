"""The database layer itself: Unicode case folding and concurrent writers on SQLite."""

import asyncio

import pytest
from sqlalchemy import func, select

from crm_core.db import Database
from crm_core.models import User


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
