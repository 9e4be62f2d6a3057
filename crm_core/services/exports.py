"""Exporting a list view (its filter and sort, the actor's visibility) as CSV or XLSX, streamed:
items are read page by page (keyset cursor) and written to a file as they come, so a large export
never sits in memory. The columns are the importer's targets, so an export imports back to the
same data (crm_core.services.imports)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, zone_of
from crm_core.errors import AccessDenied
from crm_core.models.items import AnyItem, CommKind, ItemType, Stage
from crm_core.models.users import User
from crm_core.permissions import ensure_active
from crm_core.services.communications import get_communications
from crm_core.services.imports.columns import COMM_TARGETS, ID, RESPONSIBLE, STAGE, targets
from crm_core.services.views import Condition, list_items

PAGE = 500
CREATED = "created_at"

Value = str | int | Decimal | date | datetime | None


def csv_separator(language: str) -> str:
    """Excel in a Russian locale splits CSV on ";" (the decimal comma takes ","); elsewhere ","."""
    return ";" if language.split("-")[0] == "ru" else ","


def export_columns(item_type: ItemType | str) -> list[str]:
    """The columns of an export: the item's number, what the importer reads, and when it was created."""
    cols = targets(item_type)
    return [ID] + [c for c in cols if c != ID] + [CREATED]


async def export_rows(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    *,
    filters: Sequence[Condition | dict[str, Any]] = (),
    sort: Sequence[Any] | None = None,
    stage_name: Callable[[Stage], str] = lambda s: s.name or s.code,
) -> AsyncIterator[list[Value]]:
    """The rows of the export, one per item, typed (numbers, dates, moments in the actor's zone)."""
    item_type = ItemType(item_type)
    names = await _Names.load(session, actor, item_type, stage_name)
    cursor = None
    while True:
        rows, cursor = await _page(session, actor, item_type, names, filters, sort, cursor)
        for row in rows:
            yield row
        if not cursor:
            return


UnitOfWork = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def export_rows_by_page(
    unit_of_work: UnitOfWork,
    actor_id: int,
    item_type: ItemType | str,
    *,
    filters: Sequence[Condition | dict[str, Any]] = (),
    sort: Sequence[Any] | None = None,
    stage_name: Callable[[Stage], str] = lambda s: s.name or s.code,
) -> AsyncIterator[list[Value]]:
    """export_rows with each page read in a unit of work of its own, so that an export running in
    the background holds the database (SQLite: its one writer's turn) a page at a time. The actor is
    read again for each page: one deactivated meanwhile stops the export (UserDeactivated)."""
    item_type = ItemType(item_type)
    names: _Names | None = None
    cursor = None
    while True:
        async with unit_of_work() as session:
            actor = await session.get(User, actor_id)
            if actor is None:
                raise AccessDenied("no such user", user_id=actor_id)
            ensure_active(actor)
            if names is None:
                names = await _Names.load(session, actor, item_type, stage_name)
            rows, cursor = await _page(session, actor, item_type, names, filters, sort, cursor)
        for row in rows:
            yield row
        if not cursor:
            return
        await asyncio.sleep(0)  # others' updates in between two pages


@dataclass
class _Names:
    columns: list[str]
    stages: dict[int, str]
    people: dict[int, str]
    zone: ZoneInfo

    @classmethod
    async def load(
        cls, session: AsyncSession, actor: User, item_type: ItemType, stage_name: Callable[[Stage], str]
    ) -> _Names:
        stages: dict[int, str] = {}
        if item_type.has_stages:
            for stage in await session.scalars(select(Stage).where(Stage.entity_type == item_type)):
                stages[stage.id] = stage_name(stage)
        people = {uid: name for uid, name in await session.execute(select(User.id, User.full_name))}
        return cls(export_columns(item_type), stages, people, zone_of(actor.timezone))


async def _page(
    session: AsyncSession,
    actor: User,
    item_type: ItemType,
    names: _Names,
    filters: Sequence[Condition | dict[str, Any]],
    sort: Sequence[Any] | None,
    cursor: Any,
) -> tuple[list[list[Value]], Any]:
    """One page of rows and the cursor of the next (None: the last page)."""
    page = await list_items(session, actor, item_type, filters=filters, sort=sort, limit=PAGE, cursor=cursor)
    comms = await get_communications(session, item_type, [i.id for i in page.items])
    rows = [
        [_value(item, col, comms[item.id], names.stages, names.people, names.zone) for col in names.columns]
        for item in page.items
    ]
    for obj in [*page.items, *(c for cs in comms.values() for c in cs)]:
        session.expunge(obj)  # a page read is a page forgotten: memory stays flat
    return rows, page.next_cursor or None


def _value(
    item: AnyItem, col: str, comms: list[Any], stages: dict[int, str], people: dict[int, str], zone: ZoneInfo
) -> Value:
    if col == ID:
        return item.id
    if col in COMM_TARGETS:
        kind, value_type = COMM_TARGETS[col]
        wanted = CommKind.PHONE if kind == "phone" else CommKind.EMAIL
        values = [c.value for c in comms if c.kind == wanted and c.value_type == value_type]
        return ", ".join(values) or None
    if col == STAGE:
        return stages.get(item.stage_id)  # type: ignore[union-attr]
    if col == RESPONSIBLE:
        return people.get(item.responsible_id)
    value = getattr(item, col)
    if isinstance(value, datetime):
        return ensure_utc(value).astimezone(zone).replace(tzinfo=None, microsecond=0)
    return value


# --- writers -----------------------------------------------------------------------------------------


def _csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


async def write_csv(
    rows: AsyncIterator[list[Value]], header: list[str], out: IO[bytes], language: str
) -> int:
    """UTF-8 with a BOM (Excel reads it as such), the language's separator. Returns the row count."""
    sep = csv_separator(language)
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text, delimiter=sep)
    writer.writerow(header)
    count = 0
    async for row in rows:
        values = [_csv_text(v) for v in row]
        if sep == ";":  # a decimal comma where Excel expects one
            values = [
                v.replace(".", ",") if isinstance(r, Decimal) else v for v, r in zip(values, row, strict=True)
            ]
        writer.writerow(values)
        count += 1
    text.flush()
    text.detach()
    return count


async def write_xlsx(rows: AsyncIterator[list[Value]], header: list[str], path: Path) -> int:
    """A workbook written row by row (openpyxl's write-only mode): dates as dates, sums as numbers."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(header)

    def append(batch: list[list[Value]]) -> None:
        for row in batch:
            # Plain values: openpyxl gives dates and moments a date format itself, numbers stay numbers.
            ws.append([float(v) if isinstance(v, Decimal) else v for v in row])

    # openpyxl is slow pure Python: a page of rows, and the saving, in a thread, so that the event
    # loop (everyone else's updates) is not held while a big workbook is written.
    count = 0
    batch: list[list[Value]] = []
    async for row in rows:
        batch.append(row)
        count += 1
        if len(batch) >= PAGE:
            await asyncio.to_thread(append, batch)
            batch = []
    await asyncio.to_thread(append, batch)
    await asyncio.to_thread(wb.save, path)
    return count
