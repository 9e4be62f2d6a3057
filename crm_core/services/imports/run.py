"""Running an import in chunks of rows, each a short transaction, so that other people's work goes
on in between: the rows of a chunk are read and checked in Python, their duplicates looked up with
one query per kind of key, and the new items stored in a few statements; a row that fails is
reported with its reason and none of it is stored. The cancel flag is read between chunks."""

from __future__ import annotations

import asyncio
import enum
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.db import Database
from crm_core.errors import AccessDenied, DomainError
from crm_core.fields import FieldContext
from crm_core.models.items import ITEM_MODELS, AnyItem, CommKind, Communication, Contact, ItemType
from crm_core.models.users import Role, User
from crm_core.permissions import can_view, ensure_active
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.communications import CommInput, get_communications
from crm_core.services.imports.cells import Names, RowValues, convert_row
from crm_core.services.imports.columns import alias_index, known_header, propose_mapping
from crm_core.services.imports.reading import Cell, Table, read_table
from crm_core.services.items_bulk import NewItem, create_items

CHUNK_SECONDS = 0.1  # a chunk holds the database about this long (SQLite: others wait that long)
CHUNK_FIRST = 100  # rows of the first chunk; the next ones are sized by the time the last took
CHUNK_MIN = 100  # a chunk's own statements (about ten) cost as much as a hundred rows
CHUNK_MAX = 2000
PAUSE_SHARE = 0.25  # after a chunk, a pause of this share of its time
PAUSE_MIN = 0.01
# PostgreSQL: the planner's statistics are refreshed after this many rows, then after each five
# times as many; a fresh database (or autovacuum off or behind) would otherwise plan the chunk's
# lookups for empty tables and scan them (seconds a chunk at 50,000 leads).
ANALYZE_FIRST = 5_000


class Policy(enum.StrEnum):
    SKIP = "skip"  # a row matching an existing item is skipped
    UPDATE = "update"  # ... updates it
    CREATE = "create"  # ... is created anyway


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class FailedRow:
    number: int  # the row's number in the file (1 = the first line)
    cells: list[Cell]
    error: DomainError
    column: str | None = None


@dataclass
class ImportResult:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: list[FailedRow] = field(default_factory=list)
    unknown: dict[tuple[str, str], int] = field(default_factory=dict)  # (what, name) -> rows
    cancelled: bool = False
    item_ids: list[int] = field(default_factory=list)  # created or updated, in file order

    @property
    def done(self) -> int:
        return self.created + self.updated + self.skipped + len(self.failed)


def may_import(actor: User) -> bool:
    """Admins and heads of department import (a file can create thousands of items)."""
    return actor.is_active and actor.role in (Role.ADMIN, Role.HEAD)


def ensure_may_import(actor: User) -> None:
    ensure_active(actor)
    if not may_import(actor):
        raise AccessDenied("import is for admins and heads", user_id=actor.id)


@dataclass
class ImportJob:
    item_type: ItemType
    mapping: list[str]
    policy: Policy
    file_name: str
    ctx: FieldContext
    stage_aliases: dict[str, int] | None = None


def open_table(
    data: bytes,
    file_name: str | None,
    item_type: ItemType | str,
    extra_aliases: Mapping[str, Iterable[str]] | None = None,
) -> tuple[Table, list[str]]:
    """The table of an uploaded file and the proposed target of each column. Raises ImportFileError."""
    index = alias_index(item_type, extra_aliases)
    table = read_table(data, file_name, known=known_header(index))
    return table, propose_mapping(table.columns, index)


Progress = Callable[[ImportResult], Awaitable[None]]


async def run_import(
    db: Database,
    actor_id: int,
    table: Table,
    job: ImportJob,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> ImportResult:
    """Import every data row of `table`. Returns the counts and the failed rows with reasons.
    Rows go in chunks, each its own short transaction sized to last about CHUNK_SECONDS; the cancel
    flag is read between two chunks."""
    result = ImportResult()
    rows = enumerate(table.rows(), 2 if table.has_header else 1)
    carried: list[tuple[int, list[Cell]]] = []
    names: Names | None = None
    size = CHUNK_FIRST
    analyze_at = ANALYZE_FIRST
    while True:
        if cancelled():
            result.cancelled = True
            break
        chunk = carried + list(itertools.islice(rows, max(0, size - len(carried))))
        if not chunk:
            break
        started = time.monotonic()
        async with db.unit_of_work() as session:
            actor = await session.get(User, actor_id)
            if actor is None:
                raise AccessDenied("no such user", user_id=actor_id)
            ensure_may_import(actor)
            if names is None:
                names = await Names.load(session, job.item_type, job.stage_aliases)
            carried = await _chunk(session, actor, job, table.columns, chunk, names, result)
        took = time.monotonic() - started
        done = len(chunk) - len(carried)
        if result.created + result.updated >= analyze_at:
            analyze_at *= 5
            await _refresh_statistics(db, job.item_type)
        # The next chunk as long as the time allows, judged by this one's rows per second.
        size = max(CHUNK_MIN, min(CHUNK_MAX, int(done * CHUNK_SECONDS / max(took, 1e-3))))
        if progress is not None:
            await progress(result)
        # Let other people's transactions in between two chunks (SQLite has one writer at a time).
        await asyncio.sleep(max(PAUSE_MIN, took * PAUSE_SHARE))
    return result


async def _refresh_statistics(db: Database, item_type: ItemType) -> None:
    if db.engine.dialect.name != "postgresql":
        return  # SQLite plans by its indexes without statistics
    async with db.unit_of_work() as session:
        await session.execute(text(f"ANALYZE {ITEM_MODELS[item_type].__tablename__}, communications"))


async def _chunk(
    session: AsyncSession,
    actor: User,
    job: ImportJob,
    columns: list[str],
    chunk: list[tuple[int, list[Cell]]],
    names: Names,
    result: ImportResult,
) -> list[tuple[int, list[Cell]]]:
    """Import a chunk of rows; returns the rows left for the next chunk: those from the first row
    that repeats an earlier row's phone, e-mail or name (it must see that row stored)."""
    parsed: list[tuple[int, list[Cell], RowValues]] = []
    seen: set[Any] = set()
    for pos, (number, row) in enumerate(chunk):
        try:
            values = convert_row(job.item_type, columns, job.mapping, row, names, job.ctx)
        except DomainError as exc:
            _fail(result, number, row, exc)
            continue
        if job.policy != Policy.CREATE:
            keys = _keys(job.item_type, values)
            if keys & seen:
                rest = chunk[pos:]
                break
            seen |= keys
        parsed.append((number, row, values))
    else:
        rest = []
    result.total += len(chunk) - len(rest)
    existing: list[AnyItem | None] = [None] * len(parsed)
    if job.policy != Policy.CREATE:
        existing = await find_duplicates(session, actor, job.item_type, [v for _, _, v in parsed])
    done: list[tuple[int, Outcome, int]] = []
    new: list[tuple[int, list[Cell], RowValues]] = []
    for (number, row, values), found in zip(parsed, existing, strict=True):
        if found is None:
            new.append((number, row, values))
        elif job.policy == Policy.SKIP:
            done.append((number, Outcome.SKIPPED, found.id))
            _count_unknown(result, values)
        else:
            try:
                async with session.begin_nested():
                    await _update(session, actor, found, values)
            except DomainError as exc:
                _fail(result, number, row, exc)
                continue
            done.append((number, Outcome.UPDATED, found.id))
            _count_unknown(result, values)
    done += await _create(session, actor, job, new, names, result)
    for _number, outcome, item_id in sorted(done, key=lambda d: d[0]):
        if outcome == Outcome.CREATED:
            result.created += 1
        elif outcome == Outcome.UPDATED:
            result.updated += 1
        else:
            result.skipped += 1
            continue
        result.item_ids.append(item_id)
    result.failed.sort(key=lambda f: f.number)
    return rest


async def _create(
    session: AsyncSession,
    actor: User,
    job: ImportJob,
    rows: list[tuple[int, list[Cell], RowValues]],
    names: Names,
    result: ImportResult,
) -> list[tuple[int, Outcome, int]]:
    """The new rows' items, all in a few statements; should the database refuse the batch, row by
    row, each in its own savepoint, so that only the rows at fault fail."""
    specs = [
        NewItem(v.fields, v.phones, v.emails, v.responsible_id, v.stage_id or names.default_stage_id)
        for _, _, v in rows
    ]
    payload = {"imported_from": job.file_name[:200]}
    try:
        async with session.begin_nested():
            made = await create_items(session, actor, job.item_type, specs, event_payload=payload)
    except SQLAlchemyError:
        made = []
        for spec in specs:
            try:
                async with session.begin_nested():
                    made += await create_items(session, actor, job.item_type, [spec], event_payload=payload)
            except SQLAlchemyError as exc:
                made.append(DomainError(type(exc).__name__))
    done = []
    for (number, row, values), item in zip(rows, made, strict=True):
        if isinstance(item, DomainError):
            _fail(result, number, row, item)
        else:
            done.append((number, Outcome.CREATED, item.id))
            _count_unknown(result, values)
    return done


def _fail(result: ImportResult, number: int, row: list[Cell], exc: DomainError) -> None:
    result.failed.append(FailedRow(number, list(row), exc, getattr(exc, "column", None)))


def _count_unknown(result: ImportResult, values: RowValues) -> None:
    for key in values.unknown:
        result.unknown[key] = result.unknown.get(key, 0) + 1


async def _update(session: AsyncSession, actor: User, existing: AnyItem, values: RowValues) -> None:
    changes = {k: v for k, v in values.fields.items() if v is not None}
    await items_service.update_item(
        session,
        actor,
        existing,
        changes,
        phones=await _merged_comms(session, existing, values.phones, CommKind.PHONE),
        emails=await _merged_comms(session, existing, values.emails, CommKind.EMAIL),
    )
    if values.responsible_id and values.responsible_id != existing.responsible_id:
        await items_service.change_responsible(session, actor, existing, values.responsible_id)
    if values.stage_id and getattr(existing, "stage_id", None) not in (None, values.stage_id):
        await pipelines_service.move_stage(session, actor, existing, values.stage_id)  # type: ignore[arg-type]


async def _merged_comms(
    session: AsyncSession, item: AnyItem, new: list[Any], kind: CommKind
) -> list[Any] | None:
    """An update keeps the phones/e-mails the item has and adds the row's new ones."""
    if not new:
        return None
    current = [
        c for c in (await get_communications(session, item.ITEM_TYPE, [item.id]))[item.id] if c.kind == kind
    ]
    known = {c.normalized for c in current}
    added = [c for c in new if c.value not in known]
    if not added:
        return None
    return [CommInput(c.value, c.value_type) for c in current] + added


# --- duplicates ---------------------------------------------------------------------------------------


def _lower(v: Any) -> str:
    return str(v or "").strip().lower()


async def find_duplicate(
    session: AsyncSession, actor: User, item_type: ItemType, values: RowValues
) -> AnyItem | None:
    """The existing item (one the actor sees, not trashed) a row stands for: the same number (an
    exported file), a phone or e-mail (normalised), or the same name and company."""
    return (await find_duplicates(session, actor, item_type, [values]))[0]


async def find_duplicates(
    session: AsyncSession, actor: User, item_type: ItemType, rows: list[RowValues]
) -> list[AnyItem | None]:
    """find_duplicate for many rows, with one query per kind of key."""
    model = ITEM_MODELS[item_type]
    ids = {v.item_id for v in rows if v.item_id}
    by_id = {i.id: i for i in await session.scalars(select(model).where(model.id.in_(ids)))} if ids else {}
    comms = {(k, c.value) for v in rows for k, c in _comms(v)}
    by_comm: dict[tuple[CommKind, str], list[int]] = {}
    if comms:
        found = await session.execute(
            select(Communication.kind, Communication.normalized, Communication.owner_id)
            .where(
                Communication.owner_type == item_type,
                # both, so that the (kind, normalized) index serves it
                Communication.kind.in_({kind for kind, _ in comms}),
                Communication.normalized.in_({value for _, value in comms}),
            )
            .order_by(Communication.owner_id)
        )
        for kind, norm, owner_id in found:
            by_comm.setdefault((CommKind(kind), norm), []).append(owner_id)
    keys = [_name_key(item_type, v.fields) for v in rows]
    anchors = {key[-1][1] for key in keys if key}
    named: list[Any] = []
    if anchors:
        anchor = getattr(model, NAME_ANCHOR.get(item_type, "title"))
        cols = [model.id] + [getattr(model, c) for c in sorted(NAME_COLUMNS[item_type])]
        named = list(
            await session.execute(select(*cols).where(func.lower(anchor).in_(anchors)).order_by(model.id))
        )
    candidates: list[list[int]] = []
    for values, key in zip(rows, keys, strict=True):
        mine: list[int] = []
        numbered = by_id.get(values.item_id) if values.item_id else None
        # A number alone may be another system's (Bitrix24's ID): it counts with the same name.
        if numbered is not None and _same_name(numbered, values.fields):
            mine.append(numbered.id)
        mine += sorted({i for k, c in _comms(values) for i in by_comm.get((k, c.value), ())})
        if key:
            mine += [r.id for r in named if all(_lower(getattr(r, col)) == val for col, val in key)][:5]
        candidates.append(list(dict.fromkeys(mine)))
    wanted = {i for c in candidates for i in c} - set(by_id)
    loaded = dict(by_id)
    if wanted:
        loaded |= {i.id: i for i in await session.scalars(select(model).where(model.id.in_(wanted)))}
    out: list[AnyItem | None] = []
    for mine in candidates:
        match = None
        for item_id in mine:
            item = loaded.get(item_id)
            if item is not None and item.deleted_at is None and await can_view(session, actor, item):
                match = item
                break
        out.append(match)
    return out


def _comms(values: RowValues) -> list[tuple[CommKind, Any]]:
    return [(CommKind.PHONE, c) for c in values.phones] + [(CommKind.EMAIL, c) for c in values.emails]


def _keys(item_type: ItemType, values: RowValues) -> set[Any]:
    """What a row may match another by: two rows sharing one go in separate chunks."""
    keys: set[Any] = {(k, c.value) for k, c in _comms(values)}
    if values.item_id:
        keys.add(("id", values.item_id))
    name = _name_key(item_type, values.fields)
    if name:
        keys.add(name)
    return keys


def _same_name(item: AnyItem, fields: dict[str, Any]) -> bool:
    if "title" in fields and not isinstance(item, Contact):
        return _lower(item.title) == _lower(fields["title"])
    if isinstance(item, Contact):
        return (_lower(item.name), _lower(item.last_name)) == (
            _lower(fields.get("name")),
            _lower(fields.get("last_name")),
        )
    return False


# The columns a name match compares (lowered), the last one the anchor the query looks up.
NAME_ANCHOR = {ItemType.LEAD: "company_title", ItemType.CONTACT: "last_name"}
NAME_COLUMNS = {
    ItemType.LEAD: {"name", "last_name", "title", "company_title"},
    ItemType.CONTACT: {"name", "last_name"},
    ItemType.DEAL: {"title"},
    ItemType.COMPANY: {"title"},
}


def _name_key(item_type: ItemType, fields: dict[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The (column, lowered value) pairs an item must have to be the row's by name, or None."""

    def pair(col: str) -> tuple[str, str]:
        return col, _lower(fields[col])

    if item_type == ItemType.LEAD:
        person = [pair("name")] if fields.get("name") else []
        if fields.get("last_name"):
            person.append(pair("last_name"))
        if person and fields.get("company_title"):
            return (*person, pair("company_title"))
        if fields.get("title") and fields.get("company_title"):
            return pair("title"), pair("company_title")
        return None
    if item_type == ItemType.CONTACT:
        if fields.get("name") and fields.get("last_name"):
            return pair("name"), pair("last_name")
        return None
    if fields.get("title"):
        return (pair("title"),)
    return None
