"""Units of work take turns in-process: at most `limit` at once, in arrival order, re-entrant."""

import asyncio

from crm_core.db import Database, Turns


async def test_at_most_limit_at_once_and_first_come_first_served() -> None:
    turns = Turns(2)
    running, peak, order = 0, 0, []

    async def work(i: int) -> None:
        nonlocal running, peak
        async with turns():
            order.append(i)
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    tasks = []
    for i in range(8):
        tasks.append(asyncio.create_task(work(i)))
        await asyncio.sleep(0)  # arrive in this order
    await asyncio.gather(*tasks)
    assert peak == 2
    assert order == list(range(8))


async def test_a_task_does_not_wait_for_itself() -> None:
    turns = Turns(1)

    async def nested() -> str:
        async with turns(), turns():
            return "done"

    assert await asyncio.wait_for(nested(), timeout=2) == "done"


async def test_units_of_work_on_sqlite_one_at_a_time(db: Database) -> None:
    if not db.is_sqlite:
        assert db._turns is not None and db._turns.limit > 1  # the pool's size, less a reserve
        return
    running, peak = 0, 0

    async def uow() -> None:
        nonlocal running, peak
        async with db.unit_of_work():
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(uow() for _ in range(5)))
    assert peak == 1
