"""Statements on SQLite in one call, and inside a transaction without a trip to aiosqlite's thread.

aiosqlite runs each call on its connection's own thread; SQLAlchemy's adapter makes four calls per
statement (open a cursor, execute, fetch all, close), each a handoff between threads and a wake-up
of the event loop. Here one function does the four and hands back the rows and the cursor's
attributes: a statement costs about half the CPU (about 230 against 450 µs for a simple SELECT on
the bench machine), most of a unit of work on SQLite being its statements.

Inside a transaction that function runs right in the event loop's thread. Every transaction here
begins IMMEDIATE (crm_core.db), so it already holds the write lock and, in WAL mode, no statement
of it waits for another connection: it only runs, for microseconds on the hot paths, and the
handoff to the thread and back cost more than that (~130 µs of CPU each, measured). What can
wait goes to the thread as before: ROLLBACK, RELEASE, PRAGMAs, and anything outside a transaction.
Units of work on SQLite take turns in this process anyway (crm_core.db.Turns), so nothing that ran
beside a statement in the thread is held up by it in the loop, except for the duration of the
statement itself.

BEGIN IMMEDIATE is tried in the loop's thread too, without waiting (busy timeout 0 for it): the
write lock is free unless another process or a session outside the turns holds it, and then the
BEGIN goes to the thread and waits there with the busy timeout, as it always did. The rollback the
pool runs on every connection it gets back is skipped when no transaction is open (sqlite3 itself
does nothing then).

COMMIT runs in the loop's thread on a database in WAL mode (with synchronous=NORMAL a commit only
appends to the WAL, no fsync) whose connections do not checkpoint by themselves
(wal_autocheckpoint=0): the checkpoint, which copies the WAL into the database file and fsyncs,
would otherwise run inside the commit that crosses 1,000 pages, holding the loop. `Checkpoints`
runs it instead in a thread of its own on a connection of its own, PASSIVE (it never waits for
or blocks a writer), after a commit, at most one at a time and one a second. A unit of work on
SQLite then makes no handoff at all when the write lock is free.

Every connection the engine opens is switched to this cursor (`use_one_trip_cursors`, from the
engine's connect event); server-side cursors (streaming) stay as they were. The driver connection
is opened with check_same_thread off (crm_core.db) for the statements run in the loop's thread;
calls on one connection never overlap (SQLAlchemy awaits each).
"""

from __future__ import annotations

import collections
import logging
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
)
from sqlalchemy.util import await_only

log = logging.getLogger(__name__)

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


def begin_here(dbapi_connection: Any) -> bool:
    """BEGIN IMMEDIATE straight on the driver, from the engine's begin event, when the write lock is
    free; False to let SQLAlchemy run it (waiting in the thread, errors wrapped as usual). Through
    SQLAlchemy's execute the BEGIN cost as much CPU as the statement after it."""
    driver = getattr(dbapi_connection, "_connection", None)
    conn = getattr(driver, "_connection", None)  # the attribute: the property raises when closed
    if not isinstance(conn, sqlite3.Connection) or conn.in_transaction:
        return False
    try:
        return _begin_at_once(conn)
    except sqlite3.Error:
        return False  # SQLAlchemy's own BEGIN raises it again, as its error


class Checkpoints:
    """Checkpoints of one database file, PASSIVE, in a thread of their own: started after a
    commit, at most one at a time and at most one per `interval` seconds."""

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self.path = path
        self.interval = interval
        self._last = float("-inf")
        self._thread: threading.Thread | None = None

    def after_commit(self) -> None:
        now = time.monotonic()
        if now - self._last < self.interval or (self._thread is not None and self._thread.is_alive()):
            return
        self._last = now
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint")
        _RUNNING.add(self)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
            try:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                conn.close()
        except sqlite3.Error as error:  # the next one takes it further; the WAL keeps every commit
            log.warning("SQLite checkpoint of %s failed: %s", self.path, error)
        finally:
            _RUNNING.discard(self)


# The driver connections whose commits run in the loop's thread, with their file's checkpoints.
_CHECKPOINTS: weakref.WeakKeyDictionary[Any, Checkpoints] = weakref.WeakKeyDictionary()
_BY_PATH: dict[str, Checkpoints] = {}
_RUNNING: set[Checkpoints] = set()  # those with a checkpoint under way


def commit_in_loop(dbapi_connection: Any) -> bool:
    """From the connect event, after the PRAGMAs: if the database is a file in WAL mode, turn its
    automatic checkpoints off and let this connection commit in the loop's thread (see above)."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()
        cursor.execute("PRAGMA database_list")
        files = {row[1]: row[2] for row in cursor.fetchall()}
        if not mode or str(mode[0]).lower() != "wal" or not files.get("main"):
            return False
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()
    path = files["main"]
    checkpoints = _BY_PATH.get(path)
    if checkpoints is None:
        checkpoints = _BY_PATH[path] = Checkpoints(path)
    _CHECKPOINTS[dbapi_connection._connection] = checkpoints
    return True


def checkpoints_of(path: str) -> Checkpoints | None:
    return _BY_PATH.get(path)


def wait_for_checkpoints() -> None:
    """Blocks until no checkpoint runs (a closed database's file is then whole, e.g. to be copied)."""
    for checkpoints in list(_RUNNING):
        checkpoints.join()


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

    def commit(self) -> None:
        driver = self._connection
        checkpoints = _CHECKPOINTS.get(driver)
        conn = driver._connection
        if checkpoints is None or conn is None:
            super().commit()
            return
        if not conn.in_transaction:
            return
        try:
            conn.commit()
        except Exception as error:
            self._handle_exception(error)
        checkpoints.after_commit()

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
