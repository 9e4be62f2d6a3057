"""Global search across leads, deals, contacts and companies the actor may see.

Matches, best first: an exact ref ("D-7"), an exact phone (typed any way, compared in E.164) or
email (any case), a name/title starting with the text, a name/title containing it (and a phone
containing at least 5 typed digits). Prefix matches use the lower(...) indexes; the contains scan
only runs when the better matches did not fill the page, read through trigram indexes (pg_trgm on
PostgreSQL, FTS5 tables on SQLite; migration 0017) that only narrow: the LIKE stays the test.

A hit says which stage a lead/deal is on by the stage's code and literal name, not in words: the
caller names it in the reader's language (stage names are the bot's catalogs, not crm_core's).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import ColumnElement, bindparam, func, literal, literal_column, null, or_, select, union_all
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.fields.kinds import in_id_range, storable
from crm_core.models.items import (
    ITEM_MODELS,
    CommKind,
    Communication,
    Company,
    Contact,
    ItemObserver,
    ItemType,
    Lead,
    Stage,
)
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active, id_among, observed_ids, role_visible_clause, visible_clause
from crm_core.refs import format_ref, try_parse_ref
from crm_core.services.communications import DEFAULT_PHONE_REGION, try_normalize_email, try_normalize_phone
from crm_core.services.like import contains, contains_pattern, prefix_pattern
from crm_core.services.views import fast_visible
from crm_core.services.views.filters import (
    FTS_FIELDS,
    substring_candidates,
    trigram_index,
)

RANK_REF, RANK_EXACT, RANK_PREFIX, RANK_CONTAINS = 0, 1, 2, 3
SEARCH_TYPES = (ItemType.DEAL, ItemType.LEAD, ItemType.CONTACT, ItemType.COMPANY)
MIN_PHONE_DIGITS = 5
_PHONE_CHARS = set("0123456789+-() .")


@dataclass(frozen=True)
class SearchHit:
    item_type: ItemType
    id: int
    title: str
    rank: int
    matched_by: str  # "ref" | "phone" | "email" | "name"
    matched: str | None = None  # the phone/email as stored, when one matched
    detail: str | None = None  # a contact's position, a company's industry
    stage_code: str | None = None  # a lead's/deal's stage: its code and its admin-given name
    stage_name: str | None = None

    @property
    def ref(self) -> str:
        return format_ref(self.item_type, self.id)

    @property
    def subtitle(self) -> str:
        """ref · matched phone/email · detail (a lead's/deal's stage is the caller's to name)."""
        return " · ".join(p for p in (self.ref, self.matched, self.detail) if p)


def _name_exprs(model: Any, rows: Any = None) -> tuple[list[Any], list[Any]]:
    """(indexed expressions for prefix search, expressions for contains search) of `model`'s
    names, on `rows` (an alias of model; the model itself by default)."""
    # Constants are written into the SQL, not bound: PostgreSQL's trigram indexes (migration 0017)
    # are on these very expressions, and an expression with a parameter in it matches no index.
    r = model if rows is None else rows
    empty, space = literal_column("''"), literal_column("' '")
    if model is Contact:
        first, last = func.coalesce(r.name, empty), func.coalesce(r.last_name, empty)
        return (
            [func.lower(r.name), func.lower(r.last_name)],
            [
                func.lower(first.op("||")(space).op("||")(last)),
                func.lower(last.op("||")(space).op("||")(first)),
            ],
        )
    if model is Lead:
        person = func.coalesce(r.name, empty).op("||")(space).op("||")(func.coalesce(r.last_name, empty))
        return (
            [func.lower(r.title)],
            [
                func.lower(r.title),
                func.lower(person),
                func.lower(func.coalesce(r.company_title, empty)),
            ],
        )
    return [func.lower(r.title)], [func.lower(r.title)]


def _prefix_cond(expr: Any, text: str, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite" and text and ord(text[-1]) < 0x10FFFF:
        # SQLite uses an expression index for a range, not for LIKE: [text, text-with-last-char+1).
        return (expr >= text) & (expr < text[:-1] + chr(ord(text[-1]) + 1))
    return expr.like(prefix_pattern(text), escape="\\")  # PostgreSQL: text_pattern_ops index


def _select_display(model: Any) -> Any:
    """SELECT id, title, detail, stage code, stage name for a model (detail: position / industry)."""
    no_stage = (null().label("stage_code"), null().label("stage_name"))
    if model is Contact:
        title = func.trim(func.coalesce(Contact.name, "") + " " + func.coalesce(Contact.last_name, ""))
        return select(Contact.id, title, Contact.position, *no_stage)
    if model is Company:
        return select(Company.id, Company.title, Company.industry, *no_stage)
    title = model.title
    if model is Lead:
        person = func.trim(func.coalesce(Lead.name, "") + " " + func.coalesce(Lead.last_name, ""))
        title = func.coalesce(func.nullif(Lead.title, ""), person)
    return select(model.id, title, null(), Stage.code, Stage.name).join(Stage, Stage.id == model.stage_id)


def _hit(item_type: ItemType, row: Any, rank: int, matched_by: str, matched: str | None = None) -> SearchHit:
    item_id, title, detail, stage_code, stage_name = row[:5]
    title = (title or "").strip() or format_ref(item_type, item_id)
    return SearchHit(
        item_type, int(item_id), title, rank, matched_by,
        matched=matched or None, detail=detail or None, stage_code=stage_code, stage_name=stage_name,
    )  # fmt: skip


def _name_query(
    model: Any, cond: Any, actor: User, lowered: str, dialect: str, limit: int, *, trigram: bool = True
) -> Any:
    """The newest `limit` rows matching a name condition the actor may see. On SQLite the
    trigram index (every prefix or contains match is in it) is read newest first (rowid = id)
    and the reading stops at the page's end: a common name costs no more than a rare one. Each
    candidate's access is checked on its own; under three characters no index helps and a
    non-admin's own rows are read instead. `trigram=False`: `cond` is served by its own index."""
    access = [visible_clause(actor, model)] if len(lowered) >= 3 else fast_visible(actor, model)
    stmt = _select_display(model).where(cond, *access).limit(limit)
    fts = trigram_index(dialect, model.__tablename__, lowered) if trigram else None
    if fts is None:
        return stmt.order_by(model.id.desc())
    table, match = fts
    return stmt.join(table, table.c.rowid == model.id).where(match).order_by(table.c.rowid.desc())


FEW_PREFIX_ROWS = 200

# PostgreSQL: a text whose trigrams are all common costs the trigram index every row it matches
# (its posting lists, then each row), though the page wants only the newest twenty. Such a text is
# found sooner by reading the newest rows first: a first window tells how common it is, a second,
# sized on that, is read when it promises the page; otherwise the index answers, as before.
PROBE_FIRST, PROBE_MAX = 1_000, 20_000
# Below this many rows the trigram index is cheap whatever the text: no window is read first.
# The size is the planner's estimate (pg_class.reltuples), read once in a while per table.
LARGE_TABLE, SIZE_TTL = 100_000, 300.0
_Sizes = dict[str, tuple[float, float]]  # table -> (rows, when read)
_sizes: WeakKeyDictionary[Any, _Sizes] = WeakKeyDictionary()  # per engine


def _name_columns(model: Any) -> list[Any]:
    """The columns a name search reads (those the trigram index holds), in a fixed order."""
    return [getattr(model, c) for c in sorted(FTS_FIELDS[model.__tablename__])]


def _names_matching(model: Any, rows: Any, pattern: Any) -> ColumnElement[bool]:
    _, exprs = _name_exprs(model, rows.c)
    return or_(*[e.like(pattern, escape="\\") for e in exprs])


# A lead's names are in the index of a salesperson's newest leads (0026) when together they take
# at most this many bytes; the wider ones, in their own index.
LEAD_NAME_BYTES = 1000


def _lead_name_bytes() -> Any:
    """The bytes of a lead's four names, written as migration 0026's partial indexes have it."""
    empty = literal_column("''")
    names = [func.coalesce(getattr(Lead, c), empty) for c in ("title", "name", "last_name", "company_title")]
    joined = names[0]
    for n in names[1:]:
        joined = joined.op("||")(n)
    return func.octet_length(joined)


# The newest-first reading's statements are built once per shape (cached; their values are
# bound): building them anew cost more than running them.


@cache
def _newest_matching(model: Any, admin: bool) -> Any:
    """Ids of the newest :limit rows whose names match :pattern among the :window newest rows the
    actor (:actor_id) sees by whom they belong to: an admin all, a salesperson their own (read
    through an index on (responsible_id, id) that carries the names and the lowered names the
    test compares, 0022, 0025 and 0026)."""
    _, lowered = _name_exprs(model)
    names = [e.label(f"name{i}") for i, e in enumerate(lowered)]
    base = select(model.id, *names).where(model.deleted_at.is_(None))
    if not admin:
        base = base.where(model.responsible_id == bindparam("actor_id"))
    if admin or model is not Lead:
        # The LIMIT keeps the window one: the planner may not trade it for the trigram index.
        newest: Any = base.order_by(model.id.desc()).limit(bindparam("window")).subquery("newest")
    else:
        # A salesperson's leads are in two indexes by the width of their names (0026): each is
        # read newest first, and the window is the newest of both, merged in id order (so the
        # reading still stops at the page's last match).
        width, limit = _lead_name_bytes(), literal_column(str(LEAD_NAME_BYTES))
        parts = [
            base.where(cond).order_by(Lead.id.desc()).limit(bindparam("window")).subquery()
            for cond in (width <= limit, width > limit)
        ]
        both = union_all(*[select(p) for p in parts])
        newest = both.order_by(both.selected_columns.id.desc()).limit(bindparam("window")).subquery("newest")
    matching = or_(*[newest.c[n.name].like(bindparam("pattern"), escape="\\") for n in names])
    return select(newest.c.id).where(matching).order_by(newest.c.id.desc()).limit(bindparam("limit"))


@cache
def _first_windows(types: tuple[ItemType, ...], admin: bool) -> Any:
    """_newest_matching of several types in one statement, each row tagged (k) by its type's place."""
    firsts = [_newest_matching(ITEM_MODELS[t], admin).subquery() for t in types]
    return union_all(*[select(f.c.id, literal(i).label("k")) for i, f in enumerate(firsts)])


@cache
def _observed_matching(model: Any) -> Any:
    """Ids of the rows :actor_id observes, newer than :above, whose names match :pattern."""
    newer = observed_ids(bindparam("actor_id"), model.ITEM_TYPE).where(
        ItemObserver.owner_id > bindparam("above")
    )
    # OFFSET: looked up by id, not through the trigram index, which the planner would AND in.
    rows = (
        select(model.id, *_name_columns(model))
        .where(id_among(model.id, newer, "postgresql"), model.deleted_at.is_(None))
        .offset(0)
        .subquery("observed")
    )
    return select(rows.c.id).where(_names_matching(model, rows, bindparam("pattern")))


@cache
def _display_of(model: Any, role: Role) -> Any:
    """The display rows of :ids that an actor of `role` (:actor_id) may see, newest first."""
    access = role_visible_clause(role, bindparam("actor_id"), None, model)
    return (
        _select_display(model)
        .where(model.id.in_(bindparam("ids", expanding=True)), access)
        .order_by(model.id.desc())
    )


async def _large(session: AsyncSession, table: str) -> bool:
    sizes = _sizes.setdefault(session.get_bind().engine, {})
    now = time.monotonic()
    known = sizes.get(table)
    if known is None or now - known[1] > SIZE_TTL:
        rows = await session.scalar(
            sql_text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        )
        known = sizes[table] = (float(rows or 0), now)
    return known[0] >= LARGE_TABLE


async def _newest_first(
    session: AsyncSession, types: tuple[ItemType, ...], actor: User, pattern: str, limit: int
) -> dict[ItemType, list[Any]]:
    """The contains pages read newest first (PostgreSQL), of the types where that found them; the
    others are the trigram index's to answer. The first windows of all types are read in one
    statement. A salesperson's page also takes the observed rows newer than their own last."""
    if actor.role == Role.HEAD and actor.department_id is not None:
        return {}  # a team is not one range of an index
    large = tuple([t for t in types if await _large(session, ITEM_MODELS[t].__tablename__)])
    if not large:
        return {}
    admin = actor.role == Role.ADMIN
    params = {"actor_id": actor.id, "pattern": pattern, "limit": limit}
    found: dict[ItemType, list[int]] = {t: [] for t in large}
    firsts = await session.execute(_first_windows(large, admin), {**params, "window": PROBE_FIRST})
    for row_id, k in firsts.all():
        found[large[k]].append(row_id)
    pages: dict[ItemType, list[Any]] = {}
    for item_type, ids in found.items():
        model = ITEM_MODELS[item_type]
        window = PROBE_FIRST
        while 0 < len(ids) < limit and window < PROBE_MAX:
            window = min(PROBE_MAX, window * limit * 3 // (2 * len(ids)))
            wider = await session.scalars(_newest_matching(model, admin), {**params, "window": window})
            ids = list(wider.all())
        if len(ids) < limit:
            continue
        ids.sort(reverse=True)
        if not admin:
            above = {**params, "above": ids[limit - 1]}
            ids += (await session.scalars(_observed_matching(model), above)).all()
            ids = sorted(ids, reverse=True)[:limit]
        # Their names matched just now; what the actor may see is asked again, as everywhere.
        shown = await session.execute(_display_of(model, actor.role), {"actor_id": actor.id, "ids": ids})
        pages[item_type] = list(shown.all())
    return pages


async def _fewer_than(session: AsyncSession, model: Any, cond: Any, n: int) -> bool:
    """Whether fewer than `n` rows (of any visibility) match `cond`: at most n index entries read."""
    upto = select(model.id).where(cond).limit(n).subquery()
    return int(await session.scalar(select(func.count()).select_from(upto)) or 0) < n


async def search_items(
    session: AsyncSession,
    actor: User,
    text: str,
    *,
    limit: int = 20,
    types: tuple[ItemType, ...] = SEARCH_TYPES,
    default_region: str | None = DEFAULT_PHONE_REGION,
) -> list[SearchHit]:
    """Items the actor may see (not trashed) matching `text`, ranked, at most `limit`."""
    ensure_active(actor)
    text = storable(text or "").strip()
    if not text or limit <= 0:
        return []
    dialect = session.get_bind().dialect.name
    hits: dict[tuple[ItemType, int], SearchHit] = {}

    def add(hit: SearchHit) -> None:
        key = (hit.item_type, hit.id)
        if key not in hits or hits[key].rank > hit.rank:
            hits[key] = hit

    # 1. a ref
    parsed = try_parse_ref(text)
    if parsed and parsed[0] in types and in_id_range(parsed[1]):  # a larger id names nothing
        model = ITEM_MODELS[parsed[0]]
        row = (
            await session.execute(
                _select_display(model).where(model.id == parsed[1], visible_clause(actor, model))
            )
        ).first()
        if row:  # a typed ref is unambiguous: no need to scan names for "d-7"
            return [_hit(parsed[0], row, RANK_REF, "ref")]

    # 2. an exact phone/email; a phone's digits as a fragment
    comm: tuple[CommKind, ColumnElement[bool], str] | None = None
    partial_digits: str | None = None
    if "@" in text:
        email = try_normalize_email(text)
        if email:
            comm = (CommKind.EMAIL, Communication.normalized == email, "email")
    elif set(text) <= _PHONE_CHARS and sum(c.isdigit() for c in text) >= MIN_PHONE_DIGITS:
        phone = try_normalize_phone(text, default_region)
        if phone:
            comm = (CommKind.PHONE, Communication.normalized == phone, "phone")
        partial_digits = "".join(c for c in text if c.isdigit())
    if comm is not None:
        kind, cond, label = comm
        for item_type in types:
            model = ITEM_MODELS[item_type]
            stmt = (
                _select_display(model)
                .add_columns(Communication.value)
                .join(
                    Communication,
                    (Communication.owner_type == item_type) & (Communication.owner_id == model.id),
                )
                .where(Communication.kind == kind, cond, visible_clause(actor, model))
                .order_by(model.id.desc())
                .limit(limit)
            )
            for row in (await session.execute(stmt)).all():
                add(_hit(item_type, row, RANK_EXACT, label, row[5]))

    # 3. names: prefix (indexed) first; the contains scan only if the page is not full yet.
    # A phone that matched exactly is what was meant: skip the name scans for it.
    lowered = text.lower()
    name_types = () if comm is not None and partial_digits and hits else types
    for item_type in name_types:
        model = ITEM_MODELS[item_type]
        prefix_exprs, _ = _name_exprs(model)
        cond = or_(*[_prefix_cond(e, lowered, dialect) for e in prefix_exprs])
        # The trigram index is read newest first until the page is full: slow when the text is in
        # many names but starts few (none: all of them read). Few starting with it: their index.
        few = dialect == "sqlite" and await _fewer_than(session, model, cond, FEW_PREFIX_ROWS)
        stmt = _name_query(model, cond, actor, lowered, dialect, limit, trigram=not few)
        for row in (await session.execute(stmt)).all():
            add(_hit(item_type, row, RANK_PREFIX, "name"))
    if len(hits) < limit:
        pattern = contains(lowered)  # bound: the newest-first windows' plan is one for any text
        newest: dict[ItemType, list[Any]] = {}
        if dialect == "postgresql" and len(lowered) >= 3:
            newest = await _newest_first(session, name_types, actor, pattern, limit)
        for item_type in name_types:
            model = ITEM_MODELS[item_type]
            _, contains_exprs = _name_exprs(model)
            cond = or_(*[e.like(contains_pattern(lowered), escape="\\") for e in contains_exprs])
            rows = newest.get(item_type)
            if rows is None:
                query = _name_query(model, cond, actor, lowered, dialect, limit)
                rows = list((await session.execute(query)).all())
            for row in rows:
                add(_hit(item_type, row, RANK_CONTAINS, "name"))
    if partial_digits and len(hits) < limit and not (comm is not None and hits):
        for item_type in types:
            model = ITEM_MODELS[item_type]
            stmt = (
                _select_display(model)
                .add_columns(Communication.value)
                .join(
                    Communication,
                    (Communication.owner_type == item_type) & (Communication.owner_id == model.id),
                )
                .where(
                    Communication.kind == CommKind.PHONE,
                    Communication.normalized.like(contains_pattern(partial_digits)),
                    *substring_candidates(dialect, "communications", Communication.id, partial_digits),
                    visible_clause(actor, model),
                )
                .order_by(model.id.desc())
                .limit(limit)
            )
            for row in (await session.execute(stmt)).all():
                add(_hit(item_type, row, RANK_CONTAINS, "phone", row[5]))

    type_order = {t: i for i, t in enumerate(types)}
    ranked = sorted(hits.values(), key=lambda h: (h.rank, type_order[h.item_type], -h.id))
    return ranked[:limit]


__all__ = ["SearchHit", "search_items", "RANK_REF", "RANK_EXACT", "RANK_PREFIX", "RANK_CONTAINS"]
