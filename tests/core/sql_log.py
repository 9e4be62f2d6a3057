"""The SQL statements a block of a test runs, as the engine sends them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from crm_core.db import Database


@contextmanager
def statements(db: Database, keep: Callable[[str], str | None] = lambda s: s) -> Iterator[list[str]]:
    """Each statement run meanwhile as `keep` gives it back; those it gives None for are left out."""
    seen: list[str] = []

    def on_execute(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        kept = keep(statement)
        if kept is not None:
            seen.append(kept)

    event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)
