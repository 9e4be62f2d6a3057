"""The filter language: the filterable fields of each item type and their kinds, Condition, value
coercion, date presets, conditions to SQL, and the visibility pre-filter every view starts from.

Date presets are local days of the actor's timezone turned into UTC bounds in Python, so the
column's own index serves the range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy import table as table_
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.errors import ValidationFailed
from crm_core.fields import Kind, filterable_fields
from crm_core.fields.kinds import storable
from crm_core.models.items import (
    ITEM_MODELS,
    CommKind,
    Communication,
    ItemObserver,
    ItemType,
    contact_companies,
)
from crm_core.models.users import User
from crm_core.permissions import observed_ids, visible_clause, visible_parts
from crm_core.services.like import contains_pattern

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
NOT_NULL_COLUMNS = frozenset(
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


def canonical_field(item_type: ItemType, name: str) -> tuple[str, str]:
    """The field an alias names and its kind; an unknown field -> ValidationFailed."""
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


def _comm_exists(model: Any, kind: CommKind, extra: ColumnElement[bool] | None = None) -> Any:
    cond = [
        Communication.owner_type == model.ITEM_TYPE,
        Communication.owner_id == model.id,
        Communication.kind == kind,
    ]
    if extra is not None:
        cond.append(extra)
    return exists().where(*cond)


# The columns whose lowered text each table's trigram index (<table>_fts, SQLite) contains.
FTS_FIELDS: dict[str, frozenset[str]] = {
    "deals": frozenset({"title"}),
    "companies": frozenset({"title"}),
    "contacts": frozenset({"name", "last_name"}),
    "leads": frozenset({"title", "name", "last_name", "company_title"}),
}


def trigram_index(dialect: str, table: str, lowered: str) -> tuple[Any, ColumnElement[bool]] | None:
    """On SQLite, `table`'s FTS5 trigram index (migration 0017 keeps <table>_fts: rowid = the
    row's id, body = its lowered search text) and the MATCH of the rows whose text contains
    `lowered`: a superset of the rows a lower(...) LIKE '%text%' on that text matches. None on
    PostgreSQL (pg_trgm indexes serve the LIKE itself) and under 3 characters (no trigram)."""
    if dialect != "sqlite" or len(lowered) < 3:
        return None
    fts = table_(f"{table}_fts", column("rowid"))
    phrase = '"' + storable(lowered).replace('"', '""') + '"'
    return fts, literal_column(f"{table}_fts").op("MATCH")(phrase)


def substring_candidates(dialect: str, table: str, id_col: Any, lowered: str) -> list[ColumnElement[bool]]:
    """`id_col IN (trigram_index candidates)`, or nothing where there is no such index. The caller
    keeps its LIKE as the exact test."""
    index = trigram_index(dialect, table, lowered)
    if index is None:
        return []
    fts, match = index
    return [id_col.in_(select(fts.c.rowid).where(match))]


def condition_clause(
    item_type: ItemType, model: Any, cond: Condition, actor: User, now: datetime, dialect: str = ""
) -> ColumnElement[bool]:
    """One condition as a SQL clause on `model`; validates field, operator and value. `dialect`
    lets a substring test use SQLite's trigram index."""
    from crm_core.services.communications import try_normalize_email, try_normalize_phone

    name, kind = canonical_field(item_type, cond.field)
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
            narrow = substring_candidates(dialect, "communications", Communication.id, digits)
            like = Communication.normalized.like(contains_pattern(digits))
            return _comm_exists(model, ckind, and_(like, *narrow))
        pattern = contains_pattern(text.lower())
        narrow = substring_candidates(dialect, "communications", Communication.id, text.lower())
        like = func.lower(Communication.normalized).like(pattern, "\\")
        return _comm_exists(model, ckind, and_(like, *narrow))

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
        narrow = []
        if name in FTS_FIELDS.get(model.__tablename__, ()):
            narrow = substring_candidates(dialect, model.__tablename__, model.id, text.lower())
        return and_(func.lower(col).like(contains_pattern(text.lower()), escape="\\"), *narrow)
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
        "ne": lambda: or_(col != v, col.is_(None)) if name not in NOT_NULL_COLUMNS else col != v,
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
    parts = [select(model.id).where(model.responsible_id == actor.id), observed_ids(actor.id, item_type)]
    if actor.role == Role.HEAD and actor.department_id is not None:
        team = select(User.id).where(User.department_id == actor.department_id)
        parts.append(select(model.id).where(model.responsible_id.in_(team)))
    from sqlalchemy import union

    return [clause, model.id.in_(union(*parts))]


def filtered(
    session: AsyncSession, actor: User, item_type: ItemType, filters: Sequence[Condition], now: datetime
) -> tuple[Any, Callable[[Any], list[ColumnElement[bool]]], list[Any]]:
    """The model of item_type, the filters' WHERE clauses over a source (the model, or a stand-in
    for it: views.observed.Copies) and the parts of what the actor sees (visible_parts): the rows
    listed are those matching the clauses in any of the parts. The filters are checked here."""
    model = ITEM_MODELS[item_type]
    dialect = session.get_bind().dialect.name
    conds = [c if isinstance(c, Condition) else Condition.from_json(c) for c in filters]
    on_model = [condition_clause(item_type, model, c, actor, now, dialect) for c in conds]

    def where(source: Any) -> list[ColumnElement[bool]]:
        if source is model:
            return list(on_model)
        return [condition_clause(item_type, source, c, actor, now, dialect) for c in conds]

    return model, where, visible_parts(actor, model, item_type, dialect=dialect)
