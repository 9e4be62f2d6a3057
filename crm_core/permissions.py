"""Who may see and change an item. One rule, used both as a SQL predicate and per item.

- admin: every item;
- head of department: items whose responsible is in their department, plus items where they are
  responsible or an observer;
- salesperson: items where they are responsible or an observer;
- an inactive user: nothing.
Trashed items are invisible to normal access (only the trash service looks at them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, any_, exists, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound, UserDeactivated
from crm_core.models.items import ItemObserver, ItemType
from crm_core.models.users import Role, User


def visible_clause(
    actor: User, model: Any, item_type: ItemType | None = None, *, include_deleted: bool = False
) -> ColumnElement[bool]:
    """A WHERE clause selecting the rows of `model` (Lead, Deal, Contact, Company or an alias of one)
    that `actor` may see. Not-deleted rows only unless `include_deleted`."""
    if not actor.is_active:
        return false()
    return role_visible_clause(
        actor.role, actor.id, actor.department_id, model, item_type, include_deleted=include_deleted
    )


def role_visible_clause(
    role: Role,
    actor_id: Any,
    department_id: Any,
    model: Any,
    item_type: ItemType | None = None,
    *,
    include_deleted: bool = False,
    observed: bool = True,
) -> ColumnElement[bool]:
    """visible_clause for an active actor given by role, id and department, where the id and the
    department may be bound parameters (a statement built once for every actor of that role).
    `observed=False`: only the rows visible for whom they belong to (own, a head's team's), not
    for being observed; a list reads those by index apart from the observed ones."""
    item_type = item_type or model.ITEM_TYPE
    alive = true() if include_deleted else model.deleted_at.is_(None)
    if role == Role.ADMIN:
        return alive
    own: ColumnElement[bool] = model.responsible_id == actor_id
    if observed:
        watched = exists().where(
            ItemObserver.user_id == actor_id,
            ItemObserver.owner_type == item_type,
            ItemObserver.owner_id == model.id,
        )
        own = or_(own, watched)
    if role == Role.HEAD and department_id is not None:
        team = select(User.id).where(User.department_id == department_id).scalar_subquery()
        own = or_(own, model.responsible_id.in_(team))
    return and_(alive, own)


def observed_ids(actor_id: Any, item_type: ItemType) -> Select[Any]:
    """The ids of the items of `item_type` the actor observes."""
    return select(ItemObserver.owner_id).where(
        ItemObserver.user_id == actor_id, ItemObserver.owner_type == item_type
    )


def id_among(col: Any, ids: Select[Any], dialect: str) -> ColumnElement[bool]:
    """`col IN (ids)`. PostgreSQL joins an IN (subquery) row by row (twice the time at a thousand
    observed items); an array of the ids is looked up in one index scan."""
    if dialect == "postgresql":
        return col == any_(func.array(ids.scalar_subquery()))
    return col.in_(ids)


@dataclass(frozen=True)
class ObservedPart:
    """The rows an actor sees only for observing them (alive, observed, not theirs by owner), in
    two equivalent forms: `by_id`, clauses over the item model (its id among the observed ids);
    `copies`, clauses over `observations`, an alias of item_observers whose copies of the item's
    columns (migration 0024) stand for the item's, so that a list reads them in its order."""

    by_id: list[ColumnElement[bool]]
    observations: Any
    copies: list[ColumnElement[bool]]


def visible_parts(
    actor: User, model: Any, item_type: ItemType | None = None, *, dialect: str = "sqlite"
) -> list[list[ColumnElement[bool]] | ObservedPart]:
    """What visible_clause selects, as disjoint parts that an index can read in a list's order: an
    admin's one part; for others, the rows they see for whom they belong to (their own, a head's
    team's), and those they see only for observing them (ObservedPart). The first leaves out the
    observer test, which cannot matter there: PostgreSQL would price that subquery for every row
    an index reads, and then not read the index in the page's order."""
    item_type = item_type or model.ITEM_TYPE
    if not actor.is_active or actor.role == Role.ADMIN:
        return [[visible_clause(actor, model, item_type)]]
    by_owner = role_visible_clause(
        actor.role, actor.id, actor.department_id, model, item_type, observed=False
    )
    team = None
    if actor.role == Role.HEAD and actor.department_id is not None:
        team = select(User.id).where(User.department_id == actor.department_id).scalar_subquery()

    def owned(responsible: Any) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
        """(the actor's by owner, not the actor's by owner) over a responsible column."""
        if team is None:
            return responsible == actor.id, responsible != actor.id
        return or_(responsible == actor.id, responsible.in_(team)), and_(
            responsible != actor.id, responsible.not_in(team)
        )

    mine, theirs = owned(model.responsible_id)
    observations = ItemObserver.__table__.alias("observed")
    o = observations.c
    observed = ObservedPart(
        by_id=[
            model.deleted_at.is_(None),
            id_among(model.id, observed_ids(actor.id, item_type), dialect),
            theirs,
        ],
        observations=observations,
        copies=[
            o.user_id == actor.id,
            o.owner_type == item_type,
            o.item_deleted_at.is_(None),
            owned(o.item_responsible_id)[1],
        ],
    )
    return [[by_owner, mine], observed]


async def can_view(session: AsyncSession, actor: User, item: Any) -> bool:
    if not actor.is_active:
        return False
    if actor.role == Role.ADMIN or item.responsible_id == actor.id:
        return True
    if actor.role == Role.HEAD and actor.department_id is not None and item.responsible_id is not None:
        dept = await session.scalar(select(User.department_id).where(User.id == item.responsible_id))
        if dept == actor.department_id:
            return True
    observer = await session.scalar(
        select(ItemObserver.user_id).where(
            ItemObserver.owner_type == item.ITEM_TYPE,
            ItemObserver.owner_id == item.id,
            ItemObserver.user_id == actor.id,
        )
    )
    return observer is not None


def ensure_active(actor: User) -> None:
    if not actor.is_active:
        raise UserDeactivated(user_id=actor.id)


def ensure_admin(actor: User) -> None:
    ensure_active(actor)
    if actor.role != Role.ADMIN:
        raise AccessDenied("admin only", user_id=actor.id)


async def ensure_can_view(
    session: AsyncSession, actor: User, item: Any, *, allow_deleted: bool = False
) -> None:
    """Raise unless `actor` may see `item`. A trashed item is NotFound unless `allow_deleted`."""
    ensure_active(actor)
    if item.deleted_at is not None and not allow_deleted:
        raise NotFound(ref=item.ref)
    if not await can_view(session, actor, item):
        raise AccessDenied(ref=item.ref, user_id=actor.id)


async def ensure_can_edit(
    session: AsyncSession, actor: User, item: Any, *, allow_deleted: bool = False
) -> None:
    """Whoever may see an item may change it (Bitrix24's default role set)."""
    await ensure_can_view(session, actor, item, allow_deleted=allow_deleted)
