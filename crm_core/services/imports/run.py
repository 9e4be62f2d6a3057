"""Running an import: each row in its own savepoint (all of the row or none of it), committed in
short batches so that other people's work goes on in between, with a duplicate policy, progress
reported to the caller and a cancel flag checked between rows."""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.db import Database
from crm_core.errors import AccessDenied, DomainError
from crm_core.fields import FieldContext
from crm_core.models.items import (
    ITEM_MODELS,
    AnyItem,
    CommKind,
    Communication,
    Contact,
    ItemType,
    Pipeline,
    Stage,
)
from crm_core.models.users import Role, User
from crm_core.permissions import can_view, ensure_active
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.communications import CommInput, get_communications
from crm_core.services.imports.cells import Names, RowValues, convert_row
from crm_core.services.imports.columns import alias_index, known_header, propose_mapping
from crm_core.services.imports.reading import Cell, Table, read_table

BATCH_SECONDS = 0.2  # a batch holds the database at most about this long
BATCH_ROWS = 200
PAUSE_SHARE = 0.25  # after a batch, a pause of this share of its time
PAUSE_MIN = 0.01


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
    """Import every data row of `table`. Returns the counts and the failed rows with reasons."""
    result = ImportResult()
    rows = enumerate(table.rows(), 2 if table.has_header else 1)
    names: Names | None = None
    finished = False
    while not finished:
        if cancelled():
            result.cancelled = True
            break
        async with db.unit_of_work() as session:
            actor = await session.get(User, actor_id)
            if actor is None:
                raise AccessDenied("no such user", user_id=actor_id)
            ensure_may_import(actor)
            if names is None:
                names = await Names.load(session, job.item_type, job.stage_aliases)
            started = time.monotonic()
            count = 0
            # Held for the batch, so that each new item finds its stage in the session, not the database.
            keep = await _stage_and_pipeline(session, names.default_stage_id)
            while count < BATCH_ROWS and time.monotonic() - started < BATCH_SECONDS:
                nxt = next(rows, None)
                if nxt is None:
                    finished = True
                    break
                number, row = nxt
                result.total += 1
                count += 1
                await _one_row(session, actor, job, table.columns, number, row, names, result)
                if cancelled():
                    break
        del keep
        if progress is not None:
            await progress(result)
        # Let other people's transactions in between two batches (SQLite has one writer at a time).
        await asyncio.sleep(max(PAUSE_MIN, (time.monotonic() - started) * PAUSE_SHARE))
    return result


async def _stage_and_pipeline(session: AsyncSession, stage_id: int | None) -> list[Any]:
    if stage_id is None:
        return []
    stage = await session.get(Stage, stage_id)
    return [stage, await session.get(Pipeline, stage.pipeline_id)] if stage is not None else []


async def _one_row(
    session: AsyncSession,
    actor: User,
    job: ImportJob,
    columns: list[str],
    number: int,
    row: list[Cell],
    names: Names,
    result: ImportResult,
) -> None:
    try:
        async with session.begin_nested():
            values = convert_row(job.item_type, columns, job.mapping, row, names, job.ctx)
            outcome, item_id = await _apply(session, actor, job, values, names)
    except DomainError as exc:
        result.failed.append(FailedRow(number, list(row), exc, getattr(exc, "column", None)))
        return
    for key in values.unknown:
        result.unknown[key] = result.unknown.get(key, 0) + 1
    if outcome == Outcome.CREATED:
        result.created += 1
    elif outcome == Outcome.UPDATED:
        result.updated += 1
    else:
        result.skipped += 1
    if item_id is not None and outcome != Outcome.SKIPPED:
        result.item_ids.append(item_id)


async def _apply(
    session: AsyncSession, actor: User, job: ImportJob, values: RowValues, names: Names
) -> tuple[Outcome, int | None]:
    existing = None
    if job.policy != Policy.CREATE:
        existing = await find_duplicate(session, actor, job.item_type, values)
    if existing is not None and job.policy == Policy.SKIP:
        return Outcome.SKIPPED, existing.id
    if existing is not None:
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
        return Outcome.UPDATED, existing.id
    item = await items_service.create_item(
        session,
        actor,
        job.item_type,
        values.fields,
        phones=values.phones,
        emails=values.emails,
        responsible_id=values.responsible_id,
        stage_id=values.stage_id or names.default_stage_id,
        check_link_access=False,
        event_payload={"imported_from": job.file_name[:200]},
    )
    return Outcome.CREATED, item.id


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
    model = ITEM_MODELS[item_type]
    candidates: list[int] = []
    if values.item_id:
        # A number alone may be another system's (Bitrix24's ID): it counts with the same name.
        numbered = await session.get(model, values.item_id)
        if numbered is not None and _same_name(numbered, values.fields):
            candidates.append(values.item_id)
    comms = [(CommKind.PHONE, c.value) for c in values.phones] + [
        (CommKind.EMAIL, c.value) for c in values.emails
    ]
    if comms:
        ids = await session.scalars(
            select(Communication.owner_id)
            .where(
                Communication.owner_type == item_type,
                or_(*[and_(Communication.kind == k, Communication.normalized == v) for k, v in comms]),
            )
            .order_by(Communication.owner_id)
        )
        candidates.extend(ids)
    name_match = _name_clause(model, item_type, values.fields)
    if name_match is not None:
        ids = await session.scalars(select(model.id).where(name_match).order_by(model.id).limit(5))
        candidates.extend(ids)
    for item_id in dict.fromkeys(candidates):
        item = await session.get(model, item_id)
        if item is not None and item.deleted_at is None and await can_view(session, actor, item):
            return item
    return None


def _same_name(item: AnyItem, fields: dict[str, Any]) -> bool:
    if "title" in fields and not isinstance(item, Contact):
        return _lower(item.title) == _lower(fields["title"])
    if isinstance(item, Contact):
        return (_lower(item.name), _lower(item.last_name)) == (
            _lower(fields.get("name")),
            _lower(fields.get("last_name")),
        )
    return False


def _name_clause(model: Any, item_type: ItemType, fields: dict[str, Any]) -> Any:
    def eq(col: Any, value: Any) -> Any:
        return func.lower(col) == _lower(value)

    if item_type == ItemType.LEAD:
        person = [eq(model.name, fields["name"])] if fields.get("name") else []
        if fields.get("last_name"):
            person.append(eq(model.last_name, fields["last_name"]))
        if person and fields.get("company_title"):
            return and_(*person, eq(model.company_title, fields["company_title"]))
        if fields.get("title") and fields.get("company_title"):
            return and_(eq(model.title, fields["title"]), eq(model.company_title, fields["company_title"]))
        return None
    if item_type == ItemType.CONTACT:
        if fields.get("name") and fields.get("last_name"):
            return and_(eq(model.name, fields["name"]), eq(model.last_name, fields["last_name"]))
        return None
    if fields.get("title"):
        return eq(model.title, fields["title"])
    return None
