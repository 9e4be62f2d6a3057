"""Sorting and paging of the filtered list: sort keys, keyset cursors, Page, list_items, count_items.

ORDER BY the requested keys with NULLs last in both directions (the same on SQLite and PostgreSQL)
plus `id` as the tiebreaker; the keyset cursor carries the last row's sort values, so any sort
pages every row exactly once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList, Null

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import ValidationFailed
from crm_core.fields.kinds import MAX_OFFSET, fit_offset
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.permissions import ObservedPart, ensure_active
from crm_core.services.views.filters import (
    BOOL,
    DATE,
    DATETIME,
    DECIMAL,
    INT,
    NOT_NULL_COLUMNS,
    SORTABLE_KINDS,
    Condition,
    canonical_field,
    filtered,
)
from crm_core.services.views.observed import Copies, NotCopied

MAX_LIMIT = 500

# --- sorting and cursors --------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    field: str
    desc: bool
    kind: str
    nullable: bool


def sort_keys(
    item_type: ItemType, sort: Sequence[Any] | None, default: Sequence[tuple[str, str]]
) -> list[SortKey]:
    """Validated sort keys of a [(field, "asc"|"desc"), ...] spec (or `default`), ending with id."""
    spec = list(sort or default)
    keys: list[SortKey] = []
    for entry in spec:
        if isinstance(entry, str):
            fname, direction = entry, "asc"
        else:
            fname, direction = entry[0], (entry[1] if len(entry) > 1 else "asc")
        name, kind = canonical_field(item_type, fname)
        if kind not in SORTABLE_KINDS:
            raise ValidationFailed("field is not sortable", field=name)
        if str(direction).lower() not in ("asc", "desc"):
            raise ValidationFailed("sort direction must be asc or desc", field=name, direction=str(direction))
        if name == "id":
            keys.append(SortKey("id", str(direction).lower() == "desc", INT, False))
            break  # id is unique: later keys cannot matter
        if any(k.field == name for k in keys):
            continue
        keys.append(SortKey(name, str(direction).lower() == "desc", kind, name not in NOT_NULL_COLUMNS))
    if not keys or keys[-1].field != "id":
        keys.append(SortKey("id", keys[-1].desc if keys else True, INT, False))
    return keys


def _order_by(model: Any, keys: list[SortKey], dialect: str) -> list[Any]:
    out = []
    for k in keys:
        col = getattr(model, k.field)
        expr = col.desc() if k.desc else col.asc()
        # NULLs last both ways. Only say so where it differs from the backend's native order, so
        # that the plain index can still be scanned (SQLite: NULLs lowest; PostgreSQL: highest).
        if k.nullable and ((dialect == "sqlite") != k.desc):
            expr = expr.nulls_last()
        out.append(expr)
    return out


def _after(model: Any, keys: list[SortKey], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the row whose sort values are `values`, in ORDER BY order."""
    clause: ColumnElement[bool] = false()
    for k, v in reversed(list(zip(keys, values, strict=True))):
        col = getattr(model, k.field)
        if isinstance(v, bool):  # SQLAlchemy refuses `col > True`; a typed bind is fine
            v = literal(v, col.type)
        if v is None:  # NULLs are last: only later rows among the NULLs (decided by later keys)
            clause = and_(col.is_(None), clause)
            continue
        beyond = col < v if k.desc else col > v
        if k.nullable:
            beyond = or_(beyond, col.is_(None))
        clause = or_(beyond, and_(col == v, clause))
    return clause


# Operators whose comparison is never true of a NULL column: a conjunct using one excludes NULLs.
_NOT_NULL_TESTS = {
    operators.eq, operators.lt, operators.le, operators.gt, operators.ge,
    operators.in_op, operators.between_op,
}  # fmt: skip


def _excludes_null(clauses: Sequence[ColumnElement[bool]], col: Any) -> bool:
    """Whether one of the ANDed `clauses` can only hold for a non-NULL `col` (a filter on it)."""
    col = col.expression  # the column of a mapped attribute
    for clause in clauses:
        if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
            if _excludes_null(list(clause.clauses), col):
                return True
        elif isinstance(clause, BinaryExpression) and clause.left.compare(col):
            if clause.operator in _NOT_NULL_TESTS:
                return True
            if clause.operator is operators.is_not and isinstance(clause.right, Null):
                return True
    return False


def _resume(
    model: Any, keys: list[SortKey], values: list[Any], clauses: Sequence[ColumnElement[bool]]
) -> list[ColumnElement[bool]]:
    """The clauses of the rows after a cursor: `_after`, and, where it holds, a plain bound on the
    first sort key (`<= v` descending, `>= v` ascending). An index cannot seek to the OR of
    `_after`: without the bound a page read the index from the list's start again, or SQLite
    sorted every matching row (2.3 s for the second page of 1M deals by amount). The bound holds
    unless NULLs, which sort last, may follow: a nullable key that no filter keeps from NULL."""
    out = [_after(model, keys, values)]
    first, v = keys[0], values[0]
    col = getattr(model, first.field)
    if v is None or isinstance(v, bool):
        return out
    if first.nullable and not _excludes_null(clauses, col):
        return out
    out.append(col <= v if first.desc else col >= v)
    return out


def _encode_value(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, datetime):
        return ensure_utc(v).isoformat()
    if isinstance(v, (Decimal, float)):
        return str(v)
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _decode_value(kind: str, v: Any) -> Any:
    if v is None:
        return None
    if kind == DATETIME:
        return datetime.fromisoformat(v)
    if kind == DATE:
        return date.fromisoformat(v)
    if kind == DECIMAL:
        return Decimal(v)
    if kind == INT:
        return int(v)
    if kind == BOOL:
        return bool(v)
    return str(v)


def _signature(item_type: ItemType, keys: list[SortKey]) -> str:
    return str(item_type) + ":" + ",".join(f"{k.field}{'-' if k.desc else '+'}" for k in keys)


def encode_cursor(item_type: ItemType, keys: list[SortKey], row: Any) -> str:
    payload = {"s": _signature(item_type, keys), "v": [_encode_value(getattr(row, k.field)) for k in keys]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(item_type: ItemType, keys: list[SortKey], cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        values = payload["v"]
        if payload["s"] != _signature(item_type, keys) or len(values) != len(keys):
            raise ValueError("cursor of another view")
        return [_decode_value(k.kind, v) for k, v in zip(keys, values, strict=True)]
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise ValidationFailed("invalid cursor", field="cursor") from exc


# --- pages ----------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None  # None: this was the last page
    total: int | None = None  # filled when asked (with_total=True)
    offset: int | None = None  # the offset this page started at (offset paging)


def _check_limit(limit: int) -> int:
    if not 1 <= int(limit) <= MAX_LIMIT:
        raise ValidationFailed("limit out of range", field="limit", value=limit, max=MAX_LIMIT)
    return int(limit)


# The filters of a list over a source: the item model, or the observed copies (observed.Copies)
# standing in for it. Built once per source; over the copies it may raise NotCopied.
Where = Callable[[Any], list[ColumnElement[bool]]]
Part = list[ColumnElement[bool]] | ObservedPart


def _source(
    model: Any, part: Part, where: Where, keys: Sequence[SortKey] = ()
) -> tuple[Any, Any, list[ColumnElement[bool]]]:
    """(stand-in for the model, FROM, clauses) of one part: an observed part over its copies when
    the filters and the sort keys name only copied columns, else over the model by id."""
    if isinstance(part, ObservedPart):
        copies = Copies(part.observations, model.ITEM_TYPE)
        try:
            for k in keys:
                getattr(copies, k.field)
            return copies, part.observations, [*where(copies), *part.copies]
        except NotCopied:
            part = part.by_id
    return model, model, [*where(model), *part]


def _piece(
    model: Any,
    part: Part,
    where: Where,
    keys: list[SortKey],
    after: list[Any] | None,
    dialect: str,
    upto: int,
) -> Any:
    """A part's ids and sort values, in the page's order, at most `upto` of them."""
    src, _, clauses = _source(model, part, where, keys)
    wanted = [src.id.label("id"), *(getattr(src, k.field).label(k.field) for k in keys if k.field != "id")]
    if after is not None:
        clauses += _resume(src, keys, after, clauses)
    return select(*wanted).where(*clauses).order_by(*_order_by(src, keys, dialect)).limit(upto).subquery()


async def fetch_page(
    session: AsyncSession,
    item_type: ItemType,
    model: Any,
    where: Where,
    keys: list[SortKey],
    *,
    limit: int,
    cursor: str | None,
    offset: int | None,
    with_total: bool,
    parts: list[Part] | None = None,
) -> Page:
    """One page of `model` rows matching `where` and any one of the disjoint `parts` (what the
    actor sees: visible_parts), ordered by `keys`, after `cursor` or from `offset`. With several
    parts each is read in the page's order up to the page's end (an index on responsible_id
    serves a salesperson's own rows, one on their observations the observed ones) and the pieces
    are merged: no part is read past the page."""
    limit = _check_limit(limit)
    if cursor and offset:
        raise ValidationFailed("give a cursor or an offset, not both", field="cursor")
    if offset and offset < 0:
        raise ValidationFailed("offset must be >= 0", field="offset", value=offset)
    offset = fit_offset(offset)
    parts = parts or [[]]
    dialect = session.get_bind().dialect.name
    values = decode_cursor(item_type, keys, cursor) if cursor else None
    # PostgreSQL visits the table row of every index entry it tests, even to reject it; reading
    # the page's ids first lets an index that carries the filtered columns (0022) answer alone.
    # Merged parts are merged as ids and sort values too: whole rows, to be skipped by an offset
    # or cut by the limit, cost SQLite more than reading the page's rows again.
    ids_first = dialect == "postgresql" or len(parts) > 1
    if len(parts) == 1:
        _, _, clauses = _source(model, parts[0], where)
        if values is not None:
            clauses += _resume(model, keys, values, clauses)
        if ids_first:
            table = model.__table__
            wanted = [table.c.id, *(table.c[k.field] for k in keys if k.field != "id")]
            source: Any = table.c
            stmt: Select[Any] = select(*wanted).where(*clauses)
        else:
            source, stmt = model, select(model).where(*clauses)
    else:
        upto = min(limit + 1 + offset, MAX_OFFSET)  # a part's LIMIT must bind too
        pieces = [_piece(model, part, where, keys, values, dialect, upto) for part in parts]
        merged = union_all(*[select(*piece.c) for piece in pieces]).subquery("visible")
        source, stmt = merged.c, select(*merged.c)
    stmt = stmt.order_by(*_order_by(source, keys, dialect)).limit(limit + 1)
    if offset:
        stmt = stmt.offset(offset)
    if ids_first:
        page = stmt.subquery("page")
        stmt = select(model).join(page, model.id == page.c.id).order_by(*_order_by(model, keys, dialect))
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(item_type, keys, rows[-1]) if more and rows else None
    total = None
    if with_total:
        total = await count_rows(session, model, where, parts)
    return Page(rows, next_cursor, total, None if cursor else offset)


async def count_rows(session: AsyncSession, model: Any, where: Where, parts: list[Part]) -> int:
    """How many rows match `where` and one of the disjoint `parts`: one statement."""
    counts = []
    for part in parts:
        _, from_, clauses = _source(model, part, where)
        counts.append(select(func.count()).select_from(from_).where(*clauses).scalar_subquery())
    total = counts[0]
    for c in counts[1:]:
        total = total + c
    return int(await session.scalar(select(total)) or 0)


DEFAULT_SORT: dict[ItemType, list[tuple[str, str]]] = {
    ItemType.LEAD: [("created_at", "desc")],
    ItemType.DEAL: [("created_at", "desc")],
    ItemType.CONTACT: [("created_at", "desc")],
    ItemType.COMPANY: [("created_at", "desc")],
}


async def list_items(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    *,
    filters: Sequence[Condition | dict[str, Any]] = (),
    sort: Sequence[Any] | None = None,
    limit: int = 50,
    cursor: str | None = None,
    offset: int | None = None,
    with_total: bool = False,
    now: datetime | None = None,
) -> Page:
    """A page of items of one type the actor may see (not trashed), filtered and sorted.
    `sort`: [(field, "asc"|"desc"), ...]; id breaks ties. Page with `cursor` (from the previous
    page's next_cursor) or `offset`. Unknown field/operator/value -> ValidationFailed."""
    ensure_active(actor)
    item_type = ItemType(item_type)
    now = ensure_utc(now) if now else utcnow()
    model, where, parts = filtered(session, actor, item_type, filters, now)
    keys = sort_keys(item_type, sort, DEFAULT_SORT[item_type])
    return await fetch_page(
        session,
        item_type,
        model,
        where,
        keys,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
        parts=parts,
    )


async def count_items(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    *,
    filters: Sequence[Condition | dict[str, Any]] = (),
    now: datetime | None = None,
) -> int:
    """How many items list_items would page through with these filters."""
    ensure_active(actor)
    item_type = ItemType(item_type)
    now = ensure_utc(now) if now else utcnow()
    model, where, parts = filtered(session, actor, item_type, filters, now)
    return await count_rows(session, model, where, parts)
