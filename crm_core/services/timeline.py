"""Timeline events: writing them (every service that changes an item) and reading them, paged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.fields.kinds import fit_offset
from crm_core.models.items import ItemType
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.rows import insert_now
from crm_core.services import room_feed


def new_event(
    *,
    owner_type: ItemType,
    owner_id: int,
    event_type: EventType | str,
    author_id: int | None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    """The row of an event, not yet added: many new items' events are flushed together (an import);
    a new item has no room to hear of it."""
    return TimelineEvent(
        owner_type=ItemType(owner_type),
        owner_id=owner_id,
        event_type=EventType(event_type),
        author_id=author_id,
        payload=_jsonable(payload or {}),
        created_at=ensure_utc(at) if at else utcnow(),
    )


async def add_event(
    session: AsyncSession,
    *,
    owner_type: ItemType,
    owner_id: int,
    event_type: EventType | str,
    author_id: int | None,
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> TimelineEvent:
    """Append an event to an item's timeline (no access check: the calling service did it)."""
    event = new_event(
        owner_type=owner_type,
        owner_id=owner_id,
        event_type=event_type,
        author_id=author_id,
        payload=payload,
        at=at,
    )
    await insert_now(session, event)
    await room_feed.on_event(session, event)  # the item's room, if it has one, hears of it
    return event


async def list_events(
    session: AsyncSession,
    *,
    owner_type: ItemType,
    owner_id: int,
    event_types: Iterable[EventType | str] | None = None,
    author_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    pinned: bool | None = None,
    limit: int = 20,
    offset: int = 0,
    before_id: int | None = None,
) -> Sequence[TimelineEvent]:
    """Events of one item, newest first. Filters: types, author, [since, until), pinned.
    Page with `offset` or, for stable paging while events arrive, `before_id` (the last id seen)."""
    q = select(TimelineEvent).where(
        TimelineEvent.owner_type == ItemType(owner_type), TimelineEvent.owner_id == owner_id
    )
    if event_types is not None:
        q = q.where(TimelineEvent.event_type.in_([EventType(t) for t in event_types]))
    if author_id is not None:
        q = q.where(TimelineEvent.author_id == author_id)
    if since is not None:
        q = q.where(TimelineEvent.created_at >= ensure_utc(since))
    if until is not None:
        q = q.where(TimelineEvent.created_at < ensure_utc(until))
    if pinned is not None:
        q = q.where(TimelineEvent.pinned.is_(pinned))
    if before_id is not None:
        q = q.where(TimelineEvent.id < before_id)
    q = q.order_by(TimelineEvent.created_at.desc(), TimelineEvent.id.desc())
    q = q.limit(limit).offset(fit_offset(offset))
    return (await session.scalars(q)).all()


async def item_timeline(
    session: AsyncSession, actor: User, item: Any, *, pinned_first: bool = True, **filters: Any
) -> list[TimelineEvent]:
    """The timeline an actor sees on an item card: access-checked, pinned records on top."""
    from crm_core.permissions import ensure_can_view

    await ensure_can_view(session, actor, item)
    events = list(await list_events(session, owner_type=item.ITEM_TYPE, owner_id=item.id, **filters))
    if pinned_first and filters.get("offset", 0) == 0 and filters.get("before_id") is None:
        pins = await list_events(session, owner_type=item.ITEM_TYPE, owner_id=item.id, pinned=True, limit=7)
        pin_ids = {e.id for e in pins}
        events = list(pins) + [e for e in events if e.id not in pin_ids]
    return events


def _jsonable(value: Any) -> Any:
    """Payloads are JSON: datetimes as ISO strings, decimals/enums/dates as strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, str):
        return str(value)  # plain str, also for StrEnum members
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    return str(value)
