"""A process-wide cache of rows that nearly every update reads and almost nothing changes: users (by
Telegram id), pipelines, stages and required fields; and which items have a room (every timeline
event of a lead or deal asks, and nearly none has one).

Validity comes from the database, not from this process: `cache_versions.n` is bumped by triggers
(migration 0019) in the same transaction as every insert, update and delete of a cached table,
whoever writes it (this process, another one, the REST API, an import, a migration). A unit of work
reads n once (`execute_reading_version`, in the statement it runs anyway); it is served and may
fill only what was stored under that same n. What it reads from the database comes after its n
was read, so it is at least as new as n says.

A unit of work that changes a cached table itself (flushed, pending, or by a bulk statement) stops
using and filling the cache: its changes are not committed and may be rolled back. Sessions that
never read n (the scheduler, REST, tests) never use it.

Values are kept as column snapshots (plain dicts, copied on the way in and out) and attached to a
session as ordinary persistent instances without SQL, so that callers can change and flush them.
"""

from __future__ import annotations

import copy
import weakref
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import Insert, TextClause, event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as SyncSession
from sqlalchemy.orm.attributes import instance_state

from crm_core.db import hold
from crm_core.models import CacheVersion, Department, Pipeline, RequiredField, Room, Stage, User

T = TypeVar("T")

# Tables whose changes bump n (migration 0019); a change of any of them in a unit of work turns
# the cache off for it. Departments are not cached, but deleting one changes users' rows.
CACHED_MODELS: tuple[type[Any], ...] = (User, Department, Pipeline, Stage, RequiredField)
# Rooms bump n only when one is created, deleted or moved to another item (migration 0023); any
# change of one in a unit of work turns the cache off for it all the same.
_WATCHED: tuple[type[Any], ...] = (*CACHED_MODELS, Room)
_CACHED_TABLES = frozenset(m.__table__.name for m in _WATCHED)
_WRITE_WORDS = ("insert", "update", "delete", "truncate", "replace")
MAX_USERS = 10_000  # users remembered per version at most (more simply go to the database)
MAX_ROOMS = 50_000  # rooms known per version at most (with more, each lookup asks the database)

_STATE = "crm_core.cache"  # session.info: (the engine's cache, n) once n is read
_OFF = "crm_core.cache.off"  # session.info: this unit of work changed a cached table


class Table:
    """Every row of a small table under one n: snapshots, by id, and whatever callers derive."""

    __slots__ = ("by_id", "derived", "rows")

    def __init__(self, rows: tuple[dict[str, Any], ...]) -> None:
        self.rows = rows
        self.by_id = {r["id"]: r for r in rows}
        self.derived: dict[Any, Any] = {}


class Generation:
    """What this process knows under one value of n."""

    __slots__ = ("n", "room_owners", "tables", "users")

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.users: dict[int, dict[str, Any]] = {}  # by telegram_id
        self.tables: dict[type[Any], Table] = {}
        self.room_owners: Any = None  # frozenset of (owner_type, owner_id), or _TOO_MANY


class EngineCache:
    """One per engine (one database): several databases in one process never share values."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = Generation(None)

    def at(self, n: int) -> Generation:
        # Only one generation is kept: another n (newer, or older after a restore) starts afresh.
        if self.current.n != n:
            self.current = Generation(n)
        return self.current


_caches: weakref.WeakKeyDictionary[Engine, EngineCache] = weakref.WeakKeyDictionary()
_COLUMNS: dict[type[Any], tuple[str, ...]] = {
    m: tuple(a.key for a in sa_inspect(m).column_attrs) for m in CACHED_MODELS
}


def _version_query() -> Any:
    return select(CacheVersion.n).where(CacheVersion.id == 1).scalar_subquery()


def returning_version(statement: Insert) -> Insert:
    """An INSERT that also returns n, for `execute_reading_version` (build it once)."""
    return statement.returning(_version_query())


async def execute_reading_version(
    session: AsyncSession, statement: Insert, params: dict[str, Any] | None = None
) -> None:
    """Run an INSERT built by `returning_version` (the update's own record) and read n in the same
    statement, from then on letting this session use the cache. No row of cache_versions (n is
    NULL): no cache."""
    n = (await session.execute(statement, params)).scalar()
    if n is None:
        return
    engine = session.sync_session.get_bind()  # the engine, without a trip through a greenlet
    if isinstance(engine, Connection):
        engine = engine.engine
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = EngineCache()
    session.info[_STATE] = (cache, n)


def _generation(session: AsyncSession) -> Generation | None:
    """This session's generation, or None when it must go to the database."""
    info = session.info
    state = info.get(_STATE)
    if state is None or info.get(_OFF):
        return None
    sync = session.sync_session
    if any(isinstance(o, _WATCHED) for o in (*sync.new, *sync.deleted, *sync.dirty)):
        return None  # about to change a cached table: the query's autoflush will, so ask the database
    cache, n = state
    return cache.at(n)


def _snapshot(instance: Any) -> dict[str, Any] | None:
    """The columns of a clean, fully loaded instance; None otherwise."""
    state = sa_inspect(instance)
    if state.modified or state.key is None:
        return None
    loaded = state.dict
    out = {}
    for key in _COLUMNS[type(instance)]:
        if key not in loaded:
            return None
        out[key] = _copy(loaded[key])
    return out


def _copy(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, list | dict) else value


def attach(session: AsyncSession, model: type[T], values: dict[str, Any]) -> T:
    """The session's instance of the row: the one it holds already, else one built from the
    snapshot and made persistent without SQL (as if loaded by a query)."""
    sync = session.sync_session
    key = _identity_class[model], (values["id"],), None
    identity_map = sync.identity_map
    found = identity_map.get(key)
    if found is not None:
        return found  # type: ignore[no-any-return]
    # Made persistent in this session the way a query's loader does it: no constructor, no attribute
    # events, no cascade walk. Through make_transient_to_detached and Session.add it cost 14 µs an
    # object, and an update attaches its user and a pipeline's stages.
    instance = _managers[model].new_instance()
    state = instance_state(instance)
    state.dict.update({k: _copy(v) for k, v in values.items()})
    state.key = key
    state.identity_token = None
    state.session_id = sync.hash_key
    identity_map._add_unpresent(state, key)
    # Held for the unit of work: the identity map keeps instances weakly, and an update asks for
    # the same stages several times (the card, its keyboard, the stage screen).
    return hold(session, instance)


_identity_class = {m: sa_inspect(m)._identity_class for m in CACHED_MODELS}
_managers = {m: sa_inspect(m).class_manager for m in CACHED_MODELS}


# --- users by Telegram id -----------------------------------------------------------------------


def cached_user(session: AsyncSession, telegram_id: int) -> User | None:
    gen = _generation(session)
    if gen is None:
        return None
    values = gen.users.get(telegram_id)
    return attach(session, User, values) if values is not None else None


def remember_user(session: AsyncSession, user: User) -> None:
    gen = _generation(session)
    if gen is None or len(gen.users) >= MAX_USERS:
        return
    values = _snapshot(user)
    if values is not None:
        gen.users[user.telegram_id] = values


# --- small tables, whole ------------------------------------------------------------------------


async def table(session: AsyncSession, model: type[Any]) -> Table | None:
    """Every row of a small cached table (pipelines, stages, required fields) under this session's
    n, read once per n; None when this session must query the database itself."""
    gen = _generation(session)
    if gen is None:
        return None
    found = gen.tables.get(model)
    if found is not None:
        return found
    keys = _COLUMNS[model]
    mapper = sa_inspect(model)
    columns = [mapper.column_attrs[k].expression for k in keys]
    result = await session.execute(select(*columns))
    rows = tuple(dict(zip(keys, r, strict=True)) for r in result)
    gen = _generation(session)  # the query's autoflush may have written a cached table
    if gen is None:
        return None
    found = gen.tables[model] = Table(rows)
    return found


def derived(tbl: Table, key: Any, build: Any) -> Any:
    """A value computed once from a table's rows (e.g. one pipeline's stages in order)."""
    try:
        return tbl.derived[key]
    except KeyError:
        value = tbl.derived[key] = build(tbl.rows)
        return value


# --- which items have a room -----------------------------------------------------------------------

_ROOM_OWNERS = select(Room.owner_type, Room.owner_id).limit(MAX_ROOMS + 1)
_TOO_MANY: Any = object()  # more rooms than MAX_ROOMS: not kept


async def has_no_room(session: AsyncSession, owner_type: str, owner_id: int) -> bool:
    """True when the item surely has no room; False when it has one, or only the database knows."""
    gen = _generation(session)
    if gen is None:
        return False
    owners = gen.room_owners
    if owners is None:
        rows = (await session.execute(_ROOM_OWNERS)).all()
        owners = _TOO_MANY if len(rows) > MAX_ROOMS else frozenset((str(t), i) for t, i in rows)
        gen = _generation(session)  # the query's autoflush may have written a room
        if gen is None:
            return False
        gen.room_owners = owners
    return owners is not _TOO_MANY and (str(owner_type), owner_id) not in owners


# --- noticing this unit of work's own changes ---------------------------------------------------


def _off(session: SyncSession) -> None:
    if _STATE in session.info:
        session.info[_OFF] = True


@event.listens_for(SyncSession, "after_flush")
def _changed_by_flush(session: SyncSession, _context: object) -> None:
    if _STATE in session.info and _touches(session.new, session.dirty, session.deleted):
        _off(session)


def _touches(*groups: Iterable[object]) -> bool:
    return any(isinstance(o, _WATCHED) for g in groups for o in g)


@event.listens_for(SyncSession, "do_orm_execute")
def _changed_by_statement(state: ORMExecuteState) -> None:
    session = state.session
    if _STATE not in session.info:
        return
    statement = state.statement
    if isinstance(statement, TextClause):
        text = statement.text.lower()
        first = text.split(None, 1)[0] if text.strip() else ""
        writes = first in _WRITE_WORDS or (first == "with" and any(w in text for w in _WRITE_WORDS))
        if writes and any(t in text for t in _CACHED_TABLES):
            _off(session)
    elif state.is_insert or state.is_update or state.is_delete:
        target = getattr(statement, "table", None)
        if getattr(target, "name", None) in _CACHED_TABLES:
            _off(session)
