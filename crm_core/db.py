"""Engine and unit of work.

SQLite is set up for concurrent writers: WAL, a busy timeout and transactions that begin
IMMEDIATE, so that a transaction which reads and then writes waits for the write lock up front
instead of failing with "database is locked" (or two writers claiming the same row).

Within one process the units of work take turns (`Turns`): on SQLite one at a time, woken the
moment the previous one commits, instead of queueing in SQLite's busy handler, which sleeps and
polls (the busy timeout remains for another process writing to the same file); on PostgreSQL as
many as the connection pool keeps open, instead of failing after the pool's timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, event, func, select, text, true
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapper

from crm_core.db_sqlite import (
    BEGIN_IMMEDIATE,
    SQLITE_BUSY_TIMEOUT_MS,
    begin_here,
    commit_in_loop,
    use_one_trip_cursors,
    wait_for_checkpoints,
)
from crm_core.fields.kinds import MAX_ID

PG_POOL_SIZE = 15


def is_sqlite(url_or_engine: str | AsyncEngine) -> bool:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine.dialect.name == "sqlite"
    return make_url(url_or_engine).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        # Statements inside a transaction run in the event loop's thread (crm_core.db_sqlite).
        connect_args.setdefault("check_same_thread", False)
        engine = create_async_engine(url, echo=echo, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine)
        return engine
    url, server_settings = _split_pg_options(url)
    if server_settings:
        connect_args = kwargs.setdefault("connect_args", {})
        connect_args.setdefault("server_settings", {}).update(server_settings)
    if kwargs.get("poolclass") is None:
        # Enough connections kept open for every unit of work in flight (see _turns_for): with
        # the default 5, the overflow ones were closed on return and opened again for the next
        # update, a new server process and handshake each time (~3% of an update's CPU).
        kwargs.setdefault("pool_size", PG_POOL_SIZE)
    engine = create_async_engine(url, echo=echo, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (a restart, pg_terminate_backend) is replaced at
    checkout. asyncpg notices the close as it happens, so this costs no round trip, where
    pool_pre_ping cost three per unit of work (BEGIN, a ping, ROLLBACK: 2% of the CPU of an update)."""
    if _closed_by_server(dbapi_conn):
        raise DisconnectionError("the server closed this connection")


def _closed_by_server(dbapi_conn: Any) -> bool:
    """What the driver already knows (asyncpg); False for a driver that cannot tell (aiosqlite)."""
    is_closed = getattr(getattr(dbapi_conn, "driver_connection", None), "is_closed", None)
    return callable(is_closed) and bool(is_closed())


def _split_pg_options(url: str) -> tuple[str, dict[str, str]]:
    """Honour libpq's `options=-c key=value ...` (e.g. a search_path) with asyncpg, which lacks it."""
    parsed = make_url(url)
    options = parsed.query.get("options")
    if not options:
        return url, {}
    if isinstance(options, tuple):
        options = " ".join(options)
    settings: dict[str, str] = {}
    for part in options.replace("-c ", "-c").split():
        if part.startswith("-c") and "=" in part:
            key, _, value = part[2:].partition("=")
            settings[key] = value
    rest = {k: v for k, v in parsed.query.items() if k != "options"}
    return parsed.set(query=rest).render_as_string(hide_password=False), settings


# SQLite reads a file database through a memory map of up to this size (it caps it at its own
# limit, 2 GB by default) rather than copying each page into the connection's 2 MB cache with a
# read(): a salesperson's list page at 1M deals looks a thousand observed ones up by id, scattered
# over the file, and took twice the time for it. The map is the OS's page cache, shared by every
# connection and process, so it costs no memory of its own.
SQLITE_MMAP_BYTES = 2 << 30


def _configure_sqlite(engine: AsyncEngine) -> None:
    memory = make_url(str(engine.url)).database in (None, "", ":memory:")

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        use_one_trip_cursors(dbapi_conn)
        # Stop the driver from issuing its own deferred BEGIN; we emit BEGIN IMMEDIATE below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        if not memory:
            commit_in_loop(dbapi_conn)  # its WAL checkpointed in a thread (crm_core.db_sqlite)
        # SQLite's own lower()/upper() only know ASCII; Russian names must compare case-insensitively.
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
        dbapi_conn.create_function("upper", 1, _upper, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        if not begin_here(conn.connection.dbapi_connection):
            conn.exec_driver_sql(BEGIN_IMMEDIATE)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class Session(AsyncSession):
    """An id from outside that its column cannot hold (a forged button, a typed ref) names no row:
    `get` finds nothing instead of the driver raising on the bind. Every by-id loader gets this.

    A plain `get` by one integer id (nearly all of them: an item, a user, a stage) looks in the
    identity map as SQLAlchemy's does, then runs a SELECT built once per class. SQLAlchemy's own
    builds its statement and that statement's cache key on every call: ~70 µs more per load."""

    async def get(self, entity: Any, ident: Any, **kwargs: Any) -> Any:
        if not _fits_primary_key(entity, ident):
            return None
        if kwargs or type(ident) is not int:
            return await super().get(entity, ident, **kwargs)
        by_id = _by_id(entity)
        if by_id is None:
            return await super().get(entity, ident, **kwargs)
        statement, identity_class = by_id
        found = self.sync_session.identity_map.get((identity_class, (ident,), None))
        if found is not None:
            state = sa_inspect(found)
            if state.expired or state.expired_attributes:
                return await super().get(entity, ident)  # refreshed, or None if the row is gone
            return found if isinstance(found, entity) else None
        return await self.scalar(statement, {"pk": ident})


_BY_ID: dict[Any, tuple[Any, Any] | None] = {}


def _by_id(entity: Any) -> tuple[Any, Any] | None:
    """The SELECT of one row of a mapped class by its single primary key, and its identity class;
    None for a class `get` must handle itself (a composite key, inheritance, always_refresh)."""
    try:
        return _BY_ID[entity]
    except KeyError:
        pass
    mapper = single_key_mapper(entity)
    found = None
    if mapper is not None and not mapper.always_refresh:
        found = select(entity).where(mapper.primary_key[0] == bindparam("pk")), mapper._identity_class
    _BY_ID[entity] = found
    return found


def single_key_mapper(entity: Any) -> Mapper[Any] | None:
    """The mapper of a class mapped on its own (no inheritance) with a one-column primary key: the
    classes whose rows this module and crm_core.rows read and write by hand. None for any other."""
    mapper = sa_inspect(entity, raiseerr=False)
    if (
        mapper is not None
        and getattr(mapper, "is_mapper", False)
        and len(mapper.primary_key) == 1
        and mapper.inherits is None
        and not mapper.polymorphic_map
    ):
        return mapper
    return None


_INT4 = MAX_ID  # INTEGER on PostgreSQL; BIGINT everywhere holds 2**63 - 1
_INT8 = 2**63 - 1


def _fits_primary_key(entity: Any, ident: Any) -> bool:
    parts = ident if isinstance(ident, tuple) else (ident,)
    columns = sa_inspect(entity).primary_key
    for column, value in zip(columns, parts, strict=False):
        if isinstance(value, int) and not isinstance(value, bool) and isinstance(column.type, Integer):
            limit = _INT8 if isinstance(column.type, BigInteger) else _INT4
            if not -limit - 1 <= value <= limit:
                return False
    return True


class Turns:
    """At most `limit` units of work at once in this process, the others waiting in arrival order
    without polling or timing out. Re-entrant within a task (a unit of work opened inside another
    one of the same task does not wait for itself).

    On SQLite the limit is 1: writers take turns at the write lock here instead of in SQLite's busy
    handler, which sleeps and polls. On PostgreSQL it is the connection pool's size, less a few
    connections for the delivery loop: an update waits for a connection here instead of failing
    after the pool's timeout when more updates are in flight than there are connections."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._depth: dict[asyncio.Task[Any], int] = {}

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None and task in self._depth:
            self._depth[task] += 1
            try:
                yield
            finally:
                self._depth[task] -= 1
            return
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop, self._depth = asyncio.Semaphore(self.limit), loop, {}
        async with self._semaphore:
            if task is not None:
                self._depth[task] = 1
            try:
                yield
            finally:
                if task is not None:
                    self._depth.pop(task, None)


def hold(session: AsyncSession, obj: Any) -> Any:
    """Keep `obj` for the rest of the unit of work and return it. The identity map holds objects
    weakly: an item a service loaded and let go would be SELECTed again by the next session.get."""
    session.info.setdefault("held", []).append(obj)
    return obj


def lazily_durable_column() -> Any:
    """A column that makes the commit of its statement's transaction lazily durable (see
    unit_of_work): added to a statement that runs anyway, it costs no statement of its own
    (set_config(..., true) is SET LOCAL). PostgreSQL only."""
    return func.set_config("synchronous_commit", "off", true())


_LAZY_COMMIT = select(lazily_durable_column())


_FLUSH = text("SELECT pg_logical_emit_message(true, 'crm.durable', '')")

RESERVED_CONNECTIONS = 3  # of the pool, for sessions outside units of work (the delivery loop)


def _turns_for(engine: AsyncEngine) -> Turns | None:
    if is_sqlite(engine):
        return Turns(1)
    pool = engine.sync_engine.pool
    size, overflow = getattr(pool, "size", None), getattr(pool, "_max_overflow", -1)
    if not callable(size) or overflow < 0:
        return None  # no pool limit (NullPool, unlimited overflow)
    # Units of work use the connections the pool keeps; the overflow is for the rest.
    kept = size() if size() > RESERVED_CONNECTIONS else size() + overflow
    return Turns(max(1, kept - RESERVED_CONNECTIONS))


class Database:
    """Owns the engine and hands out units of work (one AsyncSession, committed once)."""

    def __init__(self, url: str, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo, **engine_kwargs)
        self.sessionmaker = async_sessionmaker(
            self.engine, class_=Session, expire_on_commit=False, autoflush=True
        )
        self._turns = _turns_for(self.engine)
        # Connections kept between units of work, at most one per turn: checking one out of the
        # pool and back in (events, a reset, the fairy's bookkeeping) cost ~60 µs per update.
        self._idle: list[AsyncConnection] = []
        self._idle_loop: asyncio.AbstractEventLoop | None = None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    @asynccontextmanager
    async def unit_of_work(self, *, lazily_durable: bool = False) -> AsyncIterator[AsyncSession]:
        """Commit if the block succeeds, roll back if it raises. The only place that commits.
        `lazily_durable`: on PostgreSQL the commit does not wait for the disk; the next commit
        that does (any other unit of work, or make_durable) takes it there. SQLite's commits
        never wait for the disk (WAL, synchronous=NORMAL)."""
        async with self._turn():
            conn = await self._checkout()
            session = self.sessionmaker(bind=conn)
            try:
                if lazily_durable and not self.is_sqlite:
                    await session.execute(_LAZY_COMMIT)
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
            finally:
                await session.close()
                await self._checkin(conn)

    async def _checkout(self) -> AsyncConnection:
        loop = asyncio.get_running_loop()
        if self._idle_loop is not loop:  # a connection belongs to the loop that opened it
            self._idle, self._idle_loop = [], loop
        while self._idle:
            conn = self._idle.pop()
            if not _closed_by_server(conn.sync_connection.connection.dbapi_connection):
                return conn
            await conn.invalidate()  # as the pool's checkout does (_refuse_closed): a new one
            await conn.close()
        return await self.engine.connect()

    async def _checkin(self, conn: AsyncConnection) -> None:
        kept = (
            self._turns is not None  # no bound on the connections: none kept
            and len(self._idle) < self._turns.limit
            and self._idle_loop is asyncio.get_running_loop()
            and not conn.closed
            and not conn.invalidated
            and not conn.in_transaction()
        )
        if kept:
            self._idle.append(conn)
        else:
            await conn.close()

    async def make_durable(self) -> None:
        """Return once every commit so far survives a crash of the database server: on PostgreSQL
        a commit that waits for the WAL to be flushed past its own record (and so past every
        earlier one). A commit waits only if its transaction wrote WAL besides the commit record
        (a transaction id alone does not), hence a logical message, which replication ignores.
        On SQLite a commit is in the WAL file when it returns."""
        if self.is_sqlite:
            return
        async with self.engine.begin() as conn:
            await conn.execute(_FLUSH)  # a record of its own: its commit waits for the flush

    def _turn(self) -> AbstractAsyncContextManager[None]:
        return self._turns() if self._turns is not None else nullcontext()

    async def dispose(self) -> None:
        idle, self._idle = self._idle, []
        if self._idle_loop is asyncio.get_running_loop():
            for conn in idle:
                await conn.close()
        await self.engine.dispose()
        if self.is_sqlite:
            await asyncio.to_thread(wait_for_checkpoints)  # the file is whole once this returns
