"""Saved filters: the actor's own named filter+sort specs (CRUD, a default per item type), and
list_items run with one of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.items import ITEM_MODELS, ItemType
from crm_core.models.users import User
from crm_core.models.views import SavedFilter
from crm_core.permissions import ensure_active
from crm_core.services.views.filters import Condition, condition_clause
from crm_core.services.views.paging import Page, list_items, sort_keys


def _validate_spec(
    actor: User, item_type: ItemType, conditions: Sequence[Any], sort: Sequence[Any] | None
) -> tuple[list[dict[str, Any]], list[list[str]]]:
    conds = [c if isinstance(c, Condition) else Condition.from_json(c) for c in conditions]
    model = ITEM_MODELS[item_type]
    for c in conds:  # build the SQL once: the same validation list_items applies
        condition_clause(item_type, model, c, actor, utcnow())
    keys = sort_keys(item_type, sort, [("id", "desc")]) if sort else []
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
