"""An item's events, on their way to its room (a bound group or forum topic).

`on_event` is called by `timeline.add_event` for every event, in the caller's transaction. An event
worth telling the room is added to the room's open summary: one outbox notification (category
room_event) that waits `window` seconds before it may be delivered, collecting whatever else
happens meanwhile, so a burst becomes one message instead of a queue at the group's ~20/min.

The chat and topic travel in the payload, so a room unbound in the same transaction (the item went
to the trash) still hears why. A forum topic to close (the item was won, lost or trashed) or reopen
is an outbox row too (category room_topic), written in the same transaction as the change, whatever
made it (the bot, the REST API, the scheduler), and carried out by the delivery engine: a change
rolled back closes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import cache
from crm_core.clock import ensure_utc, utcnow
from crm_core.models.items import ITEM_MODELS, ItemType, Stage, StageSemantics
from crm_core.models.notifications import Notification, NotificationCategory, NotificationState
from crm_core.models.rooms import ROOM_ITEMS, Room, RoomKind
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import room_invites

# What a room hears about (issue 10, point 3).
FEED_EVENTS = frozenset(
    {
        EventType.STAGE_CHANGED,
        EventType.RESPONSIBLE_CHANGED,
        EventType.ACTIVITY_CREATED,
        EventType.ACTIVITY_COMPLETED,
        EventType.COMMENT_ADDED,
        EventType.FILE_ATTACHED,
        EventType.CONVERTED,
        EventType.DELETED,
        EventType.TASK_CREATED,
    }
)
MAX_EVENTS = 50  # per summary; a longer burst opens the next one


@dataclass
class FeedConfig:
    window: float = 5.0  # seconds a summary collects events before it may go out
    # Seconds between two summaries to one chat (all topics of a forum together): 15 a minute,
    # leaving a quarter of Telegram's 20 for the room's cards, replies and topics. Under a steady
    # flow of events a summary collects for longer instead of queueing behind the group's limit.
    chat_gap: float = 4.0


config = FeedConfig()


_quiet_room: ContextVar[int | None] = ContextVar("room_feed_quiet", default=None)


@contextmanager
def acting_in_room(room_id: int | None) -> Iterator[None]:
    """Events caused from inside a room are not echoed back to that room (it saw them happen)."""
    token = _quiet_room.set(room_id)
    try:
        yield
    finally:
        _quiet_room.reset(token)


# Built once (values bound at execution): every feed event of a lead or deal runs it.
_ROOM_OF = select(Room).where(
    Room.owner_type == bindparam("owner_type"), Room.owner_id == bindparam("owner_id")
)


async def room_of(session: AsyncSession, owner_type: ItemType | str, owner_id: int) -> Room | None:
    item_type = ItemType(owner_type)
    if item_type not in ROOM_ITEMS or await cache.has_no_room(session, item_type, owner_id):
        return None
    return await session.scalar(_ROOM_OF, {"owner_type": item_type, "owner_id": owner_id})


# Who joined the item by this event: invited to the room (payload key of the person).
JOINING = {EventType.OBSERVER_ADDED: "user_id", EventType.RESPONSIBLE_CHANGED: "new"}


async def on_event(session: AsyncSession, event: TimelineEvent) -> None:
    if event.event_type not in FEED_EVENTS and event.event_type not in JOINING:
        return
    room = await room_of(session, event.owner_type, event.owner_id)
    if room is None:
        return
    joined = (event.payload or {}).get(JOINING.get(EventType(event.event_type), ""))
    if isinstance(joined, int):
        await room_invites.invite_later(session, room, joined)
    if event.event_type not in FEED_EVENTS:
        return
    if event.event_type == EventType.STAGE_CHANGED and room.kind == RoomKind.TOPIC:
        await _sync_topic(session, room, event)
    if _quiet_room.get() != room.id:
        await queue(session, room, event_id=event.id)
    if event.event_type == EventType.DELETED:
        await unbind_room(session, room, author_id=event.author_id, reason="trashed")


async def unbind_room(
    session: AsyncSession, room: Room, *, author_id: int | None, reason: str, now: datetime | None = None
) -> None:
    """Forget the binding and log it on the item (`reason`: command, removed, trashed). The event is
    written here rather than through timeline.add_event, which calls this module."""
    unbound = TimelineEvent(
        owner_type=room.owner_type,
        owner_id=room.owner_id,
        event_type=EventType.ROOM_UNBOUND,
        author_id=author_id,
        payload={"title": room.title, "reason": reason},
        created_at=now or utcnow(),
    )
    session.add(unbound)
    if room.kind == RoomKind.TOPIC and room.thread_id is not None and not room.closed:
        await session.flush()
        await _queue_topic_state(session, room, close=True, key=f"u{unbound.id}")
    if reason == "removed":  # the bot is gone: what was waiting for the room cannot be sent
        await session.execute(
            update(Notification)
            .where(
                Notification.dedupe_key.like(f"room:{room.id}:%"),
                Notification.state == NotificationState.PENDING,
            )
            .values(state=NotificationState.CANCELLED)
            .execution_options(synchronize_session=False)
        )
    await session.execute(delete(Room).where(Room.id == room.id))
    await session.flush()


async def _sync_topic(session: AsyncSession, room: Room, event: TimelineEvent) -> None:
    """A won or lost item's topic is closed; reopened when the item goes back in progress."""
    item = await session.get(ITEM_MODELS[ItemType(room.owner_type)], room.owner_id)
    stage_id = getattr(item, "stage_id", None)
    semantics = await session.scalar(select(Stage.semantics).where(Stage.id == stage_id))
    finished = semantics in (StageSemantics.SUCCESS, StageSemantics.FAILURE)
    if finished != room.closed and room.thread_id is not None:
        room.closed = finished
        await _queue_topic_state(session, room, close=finished, key=f"e{event.id}")


async def _filed_under(session: AsyncSession, room: Room) -> int | None:
    """The person a room's outbox rows are filed under (the table wants one; nobody reads them)."""
    if room.bound_by is not None:
        return room.bound_by
    item = await session.get(ITEM_MODELS[ItemType(room.owner_type)], room.owner_id)
    return getattr(item, "responsible_id", None)


async def _queue_topic_state(session: AsyncSession, room: Room, *, close: bool, key: str) -> None:
    """An outbox row "set the topic's state", due at once: one chat's rows go out in order, so the
    last change made is the state left."""
    await _add_row(
        session, room, NotificationCategory.ROOM_TOPIC, {"close": close}, due=utcnow(), key=f"topic:{key}"
    )


async def _add_row(
    session: AsyncSession, room: Room, category: str, payload: dict[str, Any], *, due: datetime, key: str
) -> bool:
    """One outbox row for the room (`room:<room>:<key>`); False when nobody can file it."""
    recipient = await _filed_under(session, room)
    if recipient is None:
        return False
    session.add(
        Notification(
            user_id=recipient,
            category=category,
            payload={"room_id": room.id, "chat_id": room.chat_id, "thread_id": room.thread_id, **payload},
            created_at=utcnow(),
            available_at=due,
            state=NotificationState.PENDING,
            attempts=0,
            dedupe_key=f"room:{room.id}:{key}",
        )
    )
    return True


async def queue(
    session: AsyncSession, room: Room, *, event_id: int | None = None, overdue: dict[str, Any] | None = None
) -> None:
    """Add an event (by id), or an activity that became overdue (see room_overdue), to the room's
    open summary, or open the next one."""
    now = utcnow()
    field, entry = ("events", event_id) if overdue is None else ("overdue", overdue)
    key = f"room:{room.id}:{room.feed_batch}"
    open_one = await session.scalar(select(Notification).where(Notification.dedupe_key == key))
    if open_one is not None and open_one.state == NotificationState.PENDING:
        payload = dict(open_one.payload or {})
        held = len(payload.get("events") or []) + len(payload.get("overdue") or [])
        if held < MAX_EVENTS:
            payload[field] = [*(payload.get(field) or []), entry]
            # Only while nobody claimed it: a worker that did sends what it has, and this event
            # opens the next summary.
            result = await session.execute(
                update(Notification)
                .where(Notification.id == open_one.id, Notification.state == NotificationState.PENDING)
                .values(payload=payload)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:
                return
    due = now + timedelta(seconds=config.window)
    previous = await _last_in_chat(session, room)
    if previous is not None:
        due = max(due, ensure_utc(previous) + timedelta(seconds=config.chat_gap))
    payload = {
        "language": room.language,
        "owner_type": str(room.owner_type),
        "owner_id": room.owner_id,
        "events": [] if event_id is None else [event_id],
        **({"overdue": [overdue]} if overdue is not None else {}),
    }
    if not await _add_row(
        session, room, NotificationCategory.ROOM_EVENT, payload, due=due, key=str(room.feed_batch + 1)
    ):
        return
    room.feed_batch += 1
    await session.flush()


async def _last_in_chat(session: AsyncSession, room: Room) -> datetime | None:
    """When the latest summary of any room in this chat (a forum's topics share it) was due."""
    rooms = (
        await session.execute(select(Room.id, Room.feed_batch).where(Room.chat_id == room.chat_id))
    ).all()
    keys = [f"room:{rid}:{batch}" for rid, batch in rooms if batch]
    if not keys:
        return None
    return await session.scalar(
        select(Notification.available_at)
        .where(Notification.dedupe_key.in_(keys))
        .order_by(Notification.available_at.desc())
        .limit(1)
    )
