"""The number of SQL statements each hot update costs, pinned so that it cannot creep back up
(bench/throughput.py measures what they cost in time). Counted are the statements run by the
update's own task (not the delivery loop's, nor the test's)."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 4401

# Statements per update, at most (the update's record included; SQLite's BEGIN IMMEDIATE, which
# goes straight to the driver when the write lock is free, is not counted, as PostgreSQL's BEGIN
# never was).
# Raised once, knowingly, when deal rooms and client conversations landed: a card looks up the
# item's client chat (its Reply rows), and each timeline event looks up the item's room (its feed).
# Lowered when crm_core.cache came: the user, pipelines, stages and required fields are read from
# the database only when they changed (the version comes back with the update's record). Lowered
# again when the card read what it shows beyond the item's row in one statement (crm_core's
# card_extras), where it took five. Raised by one when replies came to be sent after the commit:
# what the update shows is written to its inbox row with its changes (handlers.held_replies).
# Lowered when a stage move lost its savepoint and crm_core.cache came to know which items have a
# room (the timeline event of a move or a comment asked).
BUDGET = {
    "/today": 3,
    "/new": 9,
    "open card": 4,
    "stage screen": 3,
    "stage move": 8,
    "comment button": 3,
    "comment text": 8,
}


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.last: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_coro().__qualname__ == "Poller._handle":  # type: ignore[union-attr]
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements = []
        yield self.statements
        self.last += ["----", *self.statements]


async def test_hot_updates_run_few_statements(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    await admin_user(bot)
    await add_member(bot, SALES_ID, "Sam Seller")
    counter = Counter()
    event.listen(bot.app.db.engine.sync_engine, "before_cursor_execute", counter)
    counts: dict[str, int] = {}
    try:
        for _ in range(2):  # the second round is the steady state (caches filled)
            with counter.counting() as st:
                await bot.say(SALES_ID, "/today")
            counts["/today"] = len(st)
            with counter.counting() as st:
                [created] = await bot.say(SALES_ID, "/new Ivan Petrov +7 916 123 45 67 wants windows")
            counts["/new"] = len(st)
            ref = re.search(r"L-\d+", created.text or "")
            assert ref is not None, created.text
            with counter.counting() as st:
                [card] = await bot.say(SALES_ID, ref.group(0))
            counts["open card"] = len(st)
            with counter.counting() as st:
                [menu] = await bot.press(SALES_ID, card, "Stage")
            counts["stage screen"] = len(st)
            with counter.counting() as st:
                [moved] = await bot.press(SALES_ID, menu, "Processed")
            counts["stage move"] = len(st)
            assert "Processed" in (moved.text or "")
            with counter.counting() as st:
                await bot.press(SALES_ID, moved, "Comment")
            counts["comment button"] = len(st)
            with counter.counting() as st:
                [saved] = await bot.say(SALES_ID, "Called, sends a quote")
            counts["comment text"] = len(st)
    finally:
        event.remove(bot.app.db.engine.sync_engine, "before_cursor_execute", counter)
    if os.environ.get("SHOW_SQL"):
        print(counts, *(s.split("\n")[0][:200] for s in counter.last), sep="\n")
    # On PostgreSQL the update's record also makes its commit lazily durable (it is in the inbox).
    records = [s for s in counter.last if s.startswith("INSERT INTO processed_updates")]
    assert len(records) == 2 * len(BUDGET)
    lazily_durable = ["set_config" in s for s in records]
    assert lazily_durable == [not bot.app.db.is_sqlite] * len(records)
    over = {k: (n, BUDGET[k]) for k, n in counts.items() if n > BUDGET[k]}
    assert not over, f"statements per update over budget (count, budget): {over}"
