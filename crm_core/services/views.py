"""Views of items: kanban (stage counts/sums, a stage's items paged), the filtered/sorted list with
keyset or offset paging, and saved filters.

Paging: ORDER BY the requested keys with NULLs last in both directions (the same on SQLite and
PostgreSQL) plus `id` as the tiebreaker; the keyset cursor carries the last row's sort values, so
any sort pages every row exactly once. Date presets are local days of the actor's timezone turned
into UTC bounds in Python, so the column's own index serves the range.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields import Kind, filterable_fields
from crm_core.models.items import (
    ITEM_MODELS,
    CommKind,
    Communication,
    Deal,
    ItemObserver,
    ItemType,
    Lead,
    Pipeline,
    Stage,
    StageSemantics,
    contact_companies,
)
from crm_core.models.users import User
from crm_core.models.views import SavedFilter
from crm_core.permissions import ensure_active, visible_clause

MAX_LIMIT = 500

# --- fields -------------------------------------------------------------------------------------

TEXT, INT, DECIMAL, DATETIME, DATE, BOOL, PHONE, EMAIL, OBSERVER, CONTACT_COMPANY = (
    "text",
    "int",
    "decimal",
    "datetime",
    "date",
    "bool",
    "phone",
    "email",
    "observer",
    "contact_company",
)

OPS_BY_KIND: dict[str, frozenset[str]] = {
    TEXT: frozenset({"eq", "ne", "in", "contains", "is_null", "not_null"}),
    INT: frozenset({"eq", "ne", "in", "gt", "gte", "lt", "lte", "between", "is_null", "not_null"}),
    DECIMAL: frozenset({"eq", "ne", "in", "gt", "gte", "lt", "lte", "between", "is_null", "not_null"}),
    DATETIME: frozenset({"eq", "gt", "gte", "lt", "lte", "between", "is_null", "not_null", "preset"}),
    DATE: frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "not_null", "preset"}),
    BOOL: frozenset({"eq", "ne"}),
    PHONE: frozenset({"eq", "contains", "is_null", "not_null"}),
    EMAIL: frozenset({"eq", "contains", "is_null", "not_null"}),
    OBSERVER: frozenset({"eq", "in", "is_null", "not_null"}),
    CONTACT_COMPANY: frozenset({"eq", "in", "is_null", "not_null"}),
}
DATE_PRESETS = frozenset(
    {"today", "yesterday", "this_week", "last_7_days", "last_30_days", "this_month", "range"}
)
SORTABLE_KINDS = frozenset({TEXT, INT, DECIMAL, DATETIME, DATE, BOOL})

# The field -> filter-kind map is read from the schema (crm_core.fields): a field is filterable
# there or nowhere. A field's kind says how it is compared unless it names its own query_kind.
_QUERY_KINDS: dict[Kind, str] = {
    Kind.TEXT: TEXT, Kind.CURRENCY: TEXT, Kind.ENUM: TEXT, Kind.MONEY: DECIMAL, Kind.NUMBER: INT,
    Kind.REFERENCE: INT, Kind.USER: INT, Kind.FLAG: BOOL, Kind.DATE: DATE, Kind.DATETIME: DATETIME,
    Kind.PHONE: PHONE, Kind.EMAIL: EMAIL,
}  # fmt: skip
FIELDS: dict[ItemType, dict[str, str]] = {
    item_type: {f.name: f.query_kind or _QUERY_KINDS[f.kind] for f in filterable_fields(item_type)}
    for item_type in ItemType
}
# Aliases people use: a lead's "opportunity" is its amount; "title" of a contact is its name.
_ALIASES: dict[ItemType, dict[str, str]] = {
    ItemType.LEAD: {"opportunity": "amount"},
    ItemType.CONTACT: {"title": "name"},
    ItemType.COMPANY: {"name": "title"},
    ItemType.DEAL: {"name": "title"},
}
_NOT_NULL_COLUMNS = frozenset(
    {
        "id",
        "responsible_id",
        "created_at",
        "updated_at",
        "title",
        "stage_id",
        "pipeline_id",
        "currency",
        "closed",
        "won",
        "is_return_customer",
        "stage_entered_at",
    }
)


@dataclass(frozen=True)
class Condition:
    """One filter: `field` `op` `value` (value shape depends on op: a list for in/between, a preset
    name for op="preset" or the preset name as op itself, e.g. Condition("created_at", "today"))."""

    field: str
    op: str
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op, "value": _json_value(self.value)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | Sequence[Any]) -> Condition:
        if isinstance(data, dict):
            return cls(str(data["field"]), str(data["op"]), data.get("value"))
        return cls(str(data[0]), str(data[1]), data[2] if len(data) > 2 else None)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _canonical_field(item_type: ItemType, name: str) -> tuple[str, str]:
    name = _ALIASES.get(item_type, {}).get(name, name)
    kind = FIELDS[item_type].get(name)
    if kind is None:
        raise ValidationFailed("unknown field", field=name, item_type=str(item_type))
    return name, kind


def fields_of(item_type: ItemType | str) -> dict[str, str]:
    """Whitelisted filter fields of an item type and their kinds (for building filter UIs)."""
    return dict(FIELDS[ItemType(item_type)])


# --- value coercion -----------------------------------------------------------------------------


def _bad(field_name: str, value: Any, why: str = "invalid value") -> ValidationFailed:
    return ValidationFailed(why, field=field_name, value=str(value))


def _zone(actor: User) -> ZoneInfo:
    return zone_of(actor.timezone)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _coerce(kind: str, field_name: str, value: Any, tz: ZoneInfo) -> Any:
    if value is None:
        return None
    try:
        if kind in (INT, OBSERVER, CONTACT_COMPANY):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == DECIMAL:
            return Decimal(str(value))
        if kind == BOOL:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes"):
                return True
            if str(value).lower() in ("0", "false", "no"):
                return False
            raise ValueError
        if kind == DATETIME:
            if isinstance(value, datetime):
                dt = value
            elif isinstance(value, date):
                return _local_midnight(value, tz)
            else:
                dt = datetime.fromisoformat(str(value))
            # A datetime without a zone is the actor's local time.
            return ensure_utc(dt if dt.tzinfo else dt.replace(tzinfo=tz))
        if kind == DATE:
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if kind in (TEXT, PHONE, EMAIL):
            return str(value)
    except (ValueError, TypeError, InvalidOperation) as exc:
        raise _bad(field_name, value) from exc
    return value


def preset_bounds(
    preset: str, actor: User, now: datetime | None = None, value: Any = None
) -> tuple[datetime | None, datetime | None]:
    """[start, end) UTC instants of a date preset in the actor's timezone. "range" takes
    value=[from, to]: dates are local days (to inclusive), datetimes are instants; either may be None."""
    tz = _zone(actor)
    now = ensure_utc(now) if now else utcnow()
    today = now.astimezone(tz).date()
    day = timedelta(days=1)
    if preset == "today":
        start, end = today, today + day
    elif preset == "yesterday":
        start, end = today - day, today
    elif preset == "this_week":
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    elif preset == "last_7_days":
        start, end = today - timedelta(days=6), today + day
    elif preset == "last_30_days":
        start, end = today - timedelta(days=29), today + day
    elif preset == "this_month":
        start = today.replace(day=1)
        end = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    elif preset == "range":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _bad("range", value, "range needs [from, to]")
        lo, hi = value
        lo_dt = _range_end(lo, tz, upper=False)
        hi_dt = _range_end(hi, tz, upper=True)
        return lo_dt, hi_dt
    else:
        raise ValidationFailed("unknown date preset", preset=preset)
    return _local_midnight(start, tz), _local_midnight(end, tz)


def _range_end(value: Any, tz: ZoneInfo, *, upper: bool) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) <= 10 else datetime.fromisoformat(value)
        except ValueError as exc:
            raise _bad("range", value) from exc
    if isinstance(value, datetime):
        return ensure_utc(value if value.tzinfo else value.replace(tzinfo=tz))
    if isinstance(value, date):
        return _local_midnight(value + timedelta(days=1) if upper else value, tz)
    raise _bad("range", value)


# --- conditions to SQL ---------------------------------------------------------------------------


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _comm_exists(model: Any, kind: CommKind, extra: ColumnElement[bool] | None = None) -> Any:
    cond = [
        Communication.owner_type == model.ITEM_TYPE,
        Communication.owner_id == model.id,
        Communication.kind == kind,
    ]
    if extra is not None:
        cond.append(extra)
    return exists().where(*cond)


def _condition_clause(
    item_type: ItemType, model: Any, cond: Condition, actor: User, now: datetime
) -> ColumnElement[bool]:
    from crm_core.services.items import try_normalize_email, try_normalize_phone

    name, kind = _canonical_field(item_type, cond.field)
    op = cond.op
    value = cond.value
    if kind in (DATETIME, DATE) and op in DATE_PRESETS:  # Condition("created_at", "today")
        op, value = "preset", (["range", value] if op == "range" else op)
    if op not in OPS_BY_KIND[kind]:
        raise ValidationFailed("operator not allowed", field=name, op=cond.op)
    tz = _zone(actor)

    if kind == PHONE or kind == EMAIL:
        ckind = CommKind.PHONE if kind == PHONE else CommKind.EMAIL
        if op == "not_null":
            return _comm_exists(model, ckind)
        if op == "is_null":
            return ~_comm_exists(model, ckind)
        text = str(value or "").strip()
        if not text:
            raise _bad(name, value)
        if op == "eq":
            norm = try_normalize_phone(text) if kind == PHONE else try_normalize_email(text)
            if norm is None:
                raise _bad(name, value)
            return _comm_exists(model, ckind, Communication.normalized == norm)
        if kind == PHONE:
            digits = "".join(c for c in text if c.isdigit())
            if not digits:
                raise _bad(name, value)
            return _comm_exists(model, ckind, Communication.normalized.like(f"%{digits}%"))
        pattern = _like_pattern(text)
        return _comm_exists(model, ckind, func.lower(Communication.normalized).like(pattern, "\\"))

    if kind == OBSERVER:
        base = [ItemObserver.owner_type == item_type, ItemObserver.owner_id == model.id]
        if op == "not_null":
            return exists().where(*base)
        if op == "is_null":
            return ~exists().where(*base)
        ids = [_coerce(INT, name, v, tz) for v in (value if op == "in" else [value])]
        return exists().where(*base, ItemObserver.user_id.in_(ids))

    if kind == CONTACT_COMPANY:
        cc = contact_companies.c
        if op == "not_null":
            return exists().where(cc.contact_id == model.id)
        if op == "is_null":
            return ~exists().where(cc.contact_id == model.id)
        ids = [_coerce(INT, name, v, tz) for v in (value if op == "in" else [value])]
        return exists().where(cc.contact_id == model.id, cc.company_id.in_(ids))

    col = getattr(model, name)
    if op == "is_null":
        return col.is_(None)
    if op == "not_null":
        return col.is_not(None)
    if op == "preset":
        # value: a preset name, or ["range", from, to] / ["range", [from, to]]
        preset, extra = value, None
        if isinstance(value, (list, tuple)) and value and value[0] == "range":
            preset = "range"
            extra = list(value[1]) if len(value) == 2 else list(value[1:])
        if preset not in DATE_PRESETS:
            raise ValidationFailed("unknown date preset", field=name, preset=str(preset))
        lo, hi = preset_bounds(str(preset), actor, now, extra)
        if kind == DATE:  # a date column: compare with the local days
            lo_d = lo.astimezone(tz).date() if lo else None
            hi_d = hi.astimezone(tz).date() if hi else None
            parts = ([col >= lo_d] if lo_d else []) + ([col < hi_d] if hi_d else [])
        else:
            parts = ([col >= lo] if lo else []) + ([col < hi] if hi else [])
        return and_(true(), *parts)
    if op == "contains":
        text = str(value or "")
        if not text:
            raise _bad(name, value)
        return func.lower(col).like(_like_pattern(text), escape="\\")
    if op == "in":
        if not isinstance(value, (list, tuple, set)) or not value:
            raise _bad(name, value, "a non-empty list is needed")
        return col.in_([_coerce(kind, name, v, tz) for v in value])
    if op == "between":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise _bad(name, value, "between needs [low, high]")
        lo_v, hi_v = (_coerce(kind, name, v, tz) for v in value)
        if kind == DATETIME:  # [from, to): local dates as day bounds, `to` day inclusive
            lo_v = _range_end(value[0], tz, upper=False) if value[0] is not None else None
            hi_v = _range_end(value[1], tz, upper=True) if value[1] is not None else None
            return and_(true(), *([col >= lo_v] if lo_v else []), *([col < hi_v] if hi_v else []))
        parts = ([col >= lo_v] if lo_v is not None else []) + ([col <= hi_v] if hi_v is not None else [])
        return and_(true(), *parts)
    v = _coerce(kind, name, value, tz)
    if v is None:
        raise _bad(name, value)
    return {
        "eq": lambda: col == v,
        "ne": lambda: or_(col != v, col.is_(None)) if name not in _NOT_NULL_COLUMNS else col != v,
        "gt": lambda: col > v,
        "gte": lambda: col >= v,
        "lt": lambda: col < v,
        "lte": lambda: col <= v,
    }[op]()


def fast_visible(actor: User, model: Any, item_type: ItemType | None = None) -> list[ColumnElement[bool]]:
    """visible_clause plus, for non-admins, `id IN (own ∪ observed ∪ team)`: a superset of the
    visible ids built from indexed lookups, so the planner reads a user's rows by index instead of
    testing the OR/EXISTS rule on every row of the table. visible_clause stays the authority."""
    from crm_core.models.users import Role

    item_type = item_type or model.ITEM_TYPE
    clause = visible_clause(actor, model, item_type)
    if not actor.is_active or actor.role == Role.ADMIN:
        return [clause]
    parts = [
        select(model.id).where(model.responsible_id == actor.id),
        select(ItemObserver.owner_id).where(
            ItemObserver.user_id == actor.id, ItemObserver.owner_type == item_type
        ),
    ]
    if actor.role == Role.HEAD and actor.department_id is not None:
        team = select(User.id).where(User.department_id == actor.department_id)
        parts.append(select(model.id).where(model.responsible_id.in_(team)))
    from sqlalchemy import union

    return [clause, model.id.in_(union(*parts))]


def _filtered(
    session: AsyncSession, actor: User, item_type: ItemType, filters: Sequence[Condition], now: datetime
) -> tuple[Any, list[ColumnElement[bool]]]:
    model = ITEM_MODELS[item_type]
    where = fast_visible(actor, model)
    for cond in filters:
        if not isinstance(cond, Condition):
            cond = Condition.from_json(cond)
        where.append(_condition_clause(item_type, model, cond, actor, now))
    return model, where


# --- sorting and cursors --------------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    field: str
    desc: bool
    kind: str
    nullable: bool


def _sort_keys(
    item_type: ItemType, sort: Sequence[Any] | None, default: Sequence[tuple[str, str]]
) -> list[SortKey]:
    spec = list(sort or default)
    keys: list[SortKey] = []
    for entry in spec:
        if isinstance(entry, str):
            fname, direction = entry, "asc"
        else:
            fname, direction = entry[0], (entry[1] if len(entry) > 1 else "asc")
        name, kind = _canonical_field(item_type, fname)
        if kind not in SORTABLE_KINDS:
            raise ValidationFailed("field is not sortable", field=name)
        if str(direction).lower() not in ("asc", "desc"):
            raise ValidationFailed("sort direction must be asc or desc", field=name, direction=str(direction))
        if name == "id":
            keys.append(SortKey("id", str(direction).lower() == "desc", INT, False))
            break  # id is unique: later keys cannot matter
        if any(k.field == name for k in keys):
            continue
        keys.append(SortKey(name, str(direction).lower() == "desc", kind, name not in _NOT_NULL_COLUMNS))
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


async def _page(
    session: AsyncSession,
    item_type: ItemType,
    model: Any,
    where: list[ColumnElement[bool]],
    keys: list[SortKey],
    *,
    limit: int,
    cursor: str | None,
    offset: int | None,
    with_total: bool,
) -> Page:
    limit = _check_limit(limit)
    if cursor and offset:
        raise ValidationFailed("give a cursor or an offset, not both", field="cursor")
    dialect = session.get_bind().dialect.name
    stmt: Select[Any] = select(model).where(*where)
    if cursor:
        stmt = stmt.where(_after(model, keys, decode_cursor(item_type, keys, cursor)))
    stmt = stmt.order_by(*_order_by(model, keys, dialect)).limit(limit + 1)
    if offset:
        if offset < 0:
            raise ValidationFailed("offset must be >= 0", field="offset", value=offset)
        stmt = stmt.offset(offset)
    rows = list((await session.scalars(stmt)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(item_type, keys, rows[-1]) if more and rows else None
    total = None
    if with_total:
        total = int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    return Page(rows, next_cursor, total, None if cursor else (offset or 0))


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
    model, where = _filtered(session, actor, item_type, filters, now)
    keys = _sort_keys(item_type, sort, DEFAULT_SORT[item_type])
    return await _page(
        session,
        item_type,
        model,
        where,
        keys,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
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
    model, where = _filtered(session, actor, item_type, filters, now)
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# --- kanban ---------------------------------------------------------------------------------------


@dataclass
class KanbanColumn:
    stage: Stage
    count: int = 0
    amount: Decimal = Decimal("0.00")  # sum over all currencies (see amounts for each one)
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def stage_id(self) -> int:
        return self.stage.id

    @property
    def semantics(self) -> StageSemantics:
        return self.stage.semantics


def _money(v: Any) -> Decimal:
    return Decimal(str(v or 0)).quantize(Decimal("0.01"))


async def kanban(
    session: AsyncSession, actor: User, pipeline_id: int, *, include_closed: bool = False
) -> list[KanbanColumn]:
    """Columns of a lead/deal pipeline in stage order, each with the number of items the actor may
    see and the sum of their amounts (a lead's opportunity). `include_closed` adds the success and
    failure stages. One query for all the counts."""
    ensure_active(actor)
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(pipeline_id=pipeline_id)
    model = Deal if ItemType(pipeline.entity_type) == ItemType.DEAL else Lead
    stage_q = select(Stage).where(Stage.pipeline_id == pipeline_id)
    if not include_closed:
        stage_q = stage_q.where(Stage.semantics == StageSemantics.PROCESS)
    stages = list((await session.scalars(stage_q.order_by(Stage.sort, Stage.id))).all())
    columns = {s.id: KanbanColumn(s) for s in stages}
    if not columns:
        return []
    stmt = (
        select(model.stage_id, model.currency, func.count(), func.sum(model.amount))
        .where(model.pipeline_id == pipeline_id, *fast_visible(actor, model))
        .group_by(model.stage_id, model.currency)
    )
    if not include_closed:
        stmt = stmt.where(model.stage_id.in_(list(columns)))
    for stage_id, currency, count, total in (await session.execute(stmt)).all():
        col = columns.get(stage_id)
        if col is None:
            continue
        col.count += int(count)
        if total is not None:
            col.amounts[currency] = _money(total)
            col.amount = _money(col.amount + _money(total))
    return list(columns.values())


STAGE_ORDER = [("focused_at", "desc"), ("last_activity_at", "desc"), ("id", "desc")]


async def stage_items(
    session: AsyncSession,
    actor: User,
    stage_id: int,
    *,
    limit: int = 20,
    cursor: str | None = None,
    offset: int | None = None,
    with_total: bool = False,
) -> Page:
    """Items of one kanban column the actor may see: focused first (newest focus), then by latest
    activity, then newest id. Keyset (`cursor`) or `offset` paging."""
    ensure_active(actor)
    stage = await session.get(Stage, stage_id)
    if stage is None:
        raise NotFound(stage_id=stage_id)
    pipeline = await session.get(Pipeline, stage.pipeline_id)
    assert pipeline is not None
    item_type = ItemType(pipeline.entity_type)
    model = ITEM_MODELS[item_type]
    keys = _sort_keys(item_type, STAGE_ORDER, STAGE_ORDER)
    where = [model.stage_id == stage_id, *fast_visible(actor, model)]
    return await _page(
        session,
        item_type,
        model,
        where,
        keys,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
    )


# --- saved filters --------------------------------------------------------------------------------


def _validate_spec(
    actor: User, item_type: ItemType, conditions: Sequence[Any], sort: Sequence[Any] | None
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    conds = [c if isinstance(c, Condition) else Condition.from_json(c) for c in conditions]
    model = ITEM_MODELS[item_type]
    for c in conds:  # build the SQL once: the same validation list_items applies
        _condition_clause(item_type, model, c, actor, utcnow())
    keys = _sort_keys(item_type, sort, [("id", "desc")]) if sort else []
    sort_json = [[k.field, "desc" if k.desc else "asc"] for k in keys]
    return [c.to_json() for c in conds], sort_json


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("a filter name of 1-100 characters is needed", field="name")
    return name


async def _own_filter(session: AsyncSession, actor: User, filter_id: int) -> SavedFilter:
    ensure_active(actor)
    sf = await session.get(SavedFilter, filter_id)
    if sf is None or sf.user_id != actor.id:  # another user's filter does not exist for this one
        raise NotFound(filter_id=filter_id)
    return sf


async def _check_name_free(
    session: AsyncSession, actor: User, item_type: ItemType, name: str, exclude_id: int | None = None
) -> None:
    q = select(SavedFilter.id).where(
        SavedFilter.user_id == actor.id, SavedFilter.item_type == item_type, SavedFilter.name == name
    )
    if exclude_id is not None:
        q = q.where(SavedFilter.id != exclude_id)
    if await session.scalar(q) is not None:
        raise ValidationFailed("a filter with this name exists", field="name", name=name)


async def _clear_default(session: AsyncSession, actor: User, item_type: ItemType) -> None:
    await session.execute(
        update(SavedFilter)
        .where(
            SavedFilter.user_id == actor.id,
            SavedFilter.item_type == item_type,
            SavedFilter.is_default.is_(True),
        )
        .values(is_default=False)
        .execution_options(synchronize_session="fetch")
    )


async def create_saved_filter(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    name: str,
    conditions: Sequence[Condition | dict[str, Any]] = (),
    sort: Sequence[Any] | None = None,
    *,
    is_default: bool = False,
) -> SavedFilter:
    """Save the actor's filter; conditions/sort are validated like list_items does."""
    ensure_active(actor)
    item_type = ItemType(item_type)
    name = _clean_name(name)
    conds, sort_json = _validate_spec(actor, item_type, conditions, sort)
    await _check_name_free(session, actor, item_type, name)
    if is_default:
        await _clear_default(session, actor, item_type)
    sf = SavedFilter(
        user_id=actor.id,
        item_type=item_type,
        name=name,
        conditions=conds,
        sort=sort_json,
        is_default=is_default,
    )
    session.add(sf)
    await session.flush()
    return sf


async def update_saved_filter(
    session: AsyncSession,
    actor: User,
    filter_id: int,
    *,
    conditions: Sequence[Condition | dict[str, Any]] | None = None,
    sort: Sequence[Any] | None = None,
) -> SavedFilter:
    sf = await _own_filter(session, actor, filter_id)
    conds, sort_json = _validate_spec(
        actor,
        ItemType(sf.item_type),
        conditions if conditions is not None else sf.conditions,
        sort if sort is not None else sf.sort,
    )
    sf.conditions, sf.sort = conds, sort_json
    await session.flush()
    return sf


async def rename_saved_filter(session: AsyncSession, actor: User, filter_id: int, name: str) -> SavedFilter:
    sf = await _own_filter(session, actor, filter_id)
    name = _clean_name(name)
    await _check_name_free(session, actor, ItemType(sf.item_type), name, exclude_id=sf.id)
    sf.name = name
    await session.flush()
    return sf


async def delete_saved_filter(session: AsyncSession, actor: User, filter_id: int) -> None:
    sf = await _own_filter(session, actor, filter_id)
    await session.delete(sf)
    await session.flush()


async def set_default_filter(
    session: AsyncSession, actor: User, filter_id: int, *, pinned: bool = True
) -> SavedFilter:
    """Pin a filter as the default of its item type (unpinning the previous one), or unpin it."""
    sf = await _own_filter(session, actor, filter_id)
    if pinned:
        await _clear_default(session, actor, ItemType(sf.item_type))
        await session.refresh(sf)
    sf.is_default = pinned
    await session.flush()
    return sf


async def list_saved_filters(
    session: AsyncSession, actor: User, item_type: ItemType | str | None = None
) -> list[SavedFilter]:
    """The actor's own filters (default first, then by name)."""
    ensure_active(actor)
    q = select(SavedFilter).where(SavedFilter.user_id == actor.id)
    if item_type is not None:
        q = q.where(SavedFilter.item_type == ItemType(item_type))
    q = q.order_by(SavedFilter.item_type, SavedFilter.is_default.desc(), SavedFilter.name, SavedFilter.id)
    return list((await session.scalars(q)).all())


async def default_filter(session: AsyncSession, actor: User, item_type: ItemType | str) -> SavedFilter | None:
    ensure_active(actor)
    return await session.scalar(
        select(SavedFilter).where(
            SavedFilter.user_id == actor.id,
            SavedFilter.item_type == ItemType(item_type),
            SavedFilter.is_default.is_(True),
        )
    )


def filter_conditions(sf: SavedFilter) -> list[Condition]:
    return [Condition.from_json(c) for c in sf.conditions or []]


async def list_with_filter(
    session: AsyncSession,
    actor: User,
    filter_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    offset: int | None = None,
    with_total: bool = False,
    now: datetime | None = None,
) -> Page:
    """list_items with one of the actor's saved filters."""
    sf = await _own_filter(session, actor, filter_id)
    return await list_items(
        session,
        actor,
        ItemType(sf.item_type),
        filters=filter_conditions(sf),
        sort=sf.sort or None,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
        now=now,
    )
