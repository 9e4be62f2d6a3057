"""Statements on SQLite in one call, and inside a transaction without a trip to aiosqlite's thread.

aiosqlite runs each call on its connection's own thread; SQLAlchemy's adapter makes four calls per
statement (open a cursor, execute, fetch all, close), each a handoff between threads and a wake-up
of the event loop. Here one function does the four and hands back the rows and the cursor's
attributes: a statement costs about half the CPU (about 230 against 450 µs for a simple SELECT on
the bench machine), most of a unit of work on SQLite being its statements.

Inside a transaction that function runs right in the event loop's thread. Every transaction here
begins IMMEDIATE (crm_core.db), so it already holds the write lock and, in WAL mode, no statement
of it waits for another connection: it only runs, for microseconds on the hot paths, and the
handoff to the thread and back cost more than that. What can wait goes to the thread as before:
COMMIT and ROLLBACK (a commit may checkpoint the WAL, with an fsync), and anything outside a
transaction. Units of work on SQLite take turns in this process anyway (crm_core.db.Turns), so
nothing that ran beside a statement in the thread is held up by it in the loop, except for the
duration of the statement itself.

BEGIN IMMEDIATE is tried in the loop's thread too, without waiting (busy timeout 0 for it): the
write lock is free unless another process or a session outside the turns holds it, and then the
BEGIN goes to the thread and waits there with the busy timeout, as it always did. The rollback the
pool runs on every connection it gets back is skipped when no transaction is open (sqlite3 itself
does nothing then): a handoff per unit of work for nothing.

Every connection the engine opens is switched to this cursor (`use_one_trip_cursors`, from the
engine's connect event); server-side cursors (streaming) stay as they were. The driver connection
is opened with check_same_thread off (crm_core.db) for the statements run in the loop's thread;
calls on one connection never overlap (SQLAlchemy awaits each).
"""

from __future__ import annotations

import collections
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import await_only

_Outcome = tuple[list[Any] | None, Any, int, int | None]

# How long a statement waits for another connection's write lock (PRAGMA busy_timeout).
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Statements that may wait on a lock or the disk even inside a transaction: always in the thread.
_WAITS = re.compile(r"\s*(BEGIN|COMMIT|END|ROLLBACK|RELEASE|PRAGMA|VACUUM|ATTACH)\b", re.IGNORECASE)
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"


def _execute(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In aiosqlite's thread: the statement, its rows and what the cursor tells of it."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


async def _execute_here(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In the event loop's thread, awaited as the thread's call is (SQLAlchemy's async connection
    insists that a statement awaits something); it never suspends."""
    return _execute(conn, operation, parameters, many)


def _begin_at_once(conn: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE if the write lock is free right now, without waiting; False if it is held."""
    conn.execute("PRAGMA busy_timeout=0")
    try:
        conn.execute(BEGIN_IMMEDIATE)
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return False
    finally:
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return True


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor over aiosqlite whose execute() is one call in the connection's thread; the
    rows are buffered (as the adapter's own cursor buffers them)."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # no driver cursor is kept between calls
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None  # nothing is open in the thread

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection = self._connection
        try:
            conn = connection._conn
            if conn.in_transaction and not _WAITS.match(operation):
                outcome = await_only(_execute_here(conn, operation, parameters, many))
            elif operation == BEGIN_IMMEDIATE and not conn.in_transaction and _begin_at_once(conn):
                outcome = (None, None, -1, None)
            else:
                outcome = await_only(connection._execute(_execute, conn, operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        rows, self._description, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        driver = self._connection._connection
        if driver is not None and not driver.in_transaction:
            return  # nothing to roll back: sqlite3 would do nothing, after a trip to the thread
        super().rollback()

    async def _terminate_graceful_close(self) -> None:
        """Close an invalidated connection: its thread closes it after any call still queued, then
        ends. aiosqlite's close() queues that stop a second time; when a force close (a cancelled
        terminate) has stopped the thread in between, nothing answers the second and the close
        never returns (a loop that cancels its tasks at exit then waits for it forever)."""
        driver = self._connection
        if not driver._running:
            return  # stopped already: the thread closes the connection as it ends
        future = driver.stop()
        if future is not None:
            await future


def use_one_trip_cursors(dbapi_connection: Any) -> None:
    """Make a connection of the aiosqlite adapter use OneTripCursor (same layout, no copy)."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = _OneTripConnection
