"""An item's events, on their way to its room (a bound group or forum topic).

`on_event` is called by `timeline.add_event` for every event, in the caller's transaction. An event
worth telling the room is added to the room's open summary: one outbox notification (category
room_event) that waits `window` seconds before it may be delivered, collecting whatever else
happens meanwhile, so a burst becomes one message instead of a queue at the group's ~20/min.

The chat and topic travel in the payload, so a room unbound in the same transaction (the item went
to the trash) still hears why. What a handler must do in Telegram afterwards (close or reopen a
topic) is noted in `pending_effects()` for the presentation layer to carry out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models.items import ITEM_MODELS, ItemType, Stage, StageSemantics
from crm_core.models.notifications import Notification, NotificationCategory, NotificationState
from crm_core.models.rooms import Room, RoomKind
from crm_core.models.timeline import EventType, TimelineEvent

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


config = FeedConfig()


@dataclass(frozen=True)
class TopicEffect:
    """A forum topic to close (the item was won or lost, or trashed) or reopen."""

    chat_id: int
    thread_id: int
    close: bool
    name: str | None = None


_quiet_room: ContextVar[int | None] = ContextVar("room_feed_quiet", default=None)
_effects: ContextVar[list[TopicEffect] | None] = ContextVar("room_feed_effects", default=None)


@contextmanager
def acting_in_room(room_id: int | None) -> Iterator[None]:
    """Events caused from inside a room are not echoed back to that room (it saw them happen)."""
    token = _quiet_room.set(room_id)
    try:
        yield
    finally:
        _quiet_room.reset(token)


@contextmanager
def collecting_effects() -> Iterator[list[TopicEffect]]:
    effects: list[TopicEffect] = []
    token = _effects.set(effects)
    try:
        yield effects
    finally:
        _effects.reset(token)


def note_effect(effect: TopicEffect) -> None:
    effects = _effects.get()
    if effects is not None:
        effects.append(effect)


async def room_of(session: AsyncSession, owner_type: ItemType | str, owner_id: int) -> Room | None:
    return await session.scalar(
        select(Room).where(Room.owner_type == ItemType(owner_type), Room.owner_id == owner_id)
    )


async def on_event(session: AsyncSession, event: TimelineEvent) -> None:
    if event.event_type not in FEED_EVENTS:
        return
    room = await room_of(session, event.owner_type, event.owner_id)
    if room is None:
        return
    if event.event_type == EventType.STAGE_CHANGED and room.kind == RoomKind.TOPIC:
        await _sync_topic(session, room)
    if _quiet_room.get() != room.id:
        await _queue(session, room, event)
    if event.event_type == EventType.DELETED:
        await unbind_room(session, room, author_id=event.author_id, reason="trashed")


async def unbind_room(
    session: AsyncSession, room: Room, *, author_id: int | None, reason: str, now: datetime | None = None
) -> None:
    """Forget the binding and log it on the item (`reason`: command, removed, trashed). The event is
    written here rather than through timeline.add_event, which calls this module."""
    if room.kind == RoomKind.TOPIC and room.thread_id is not None and not room.closed:
        note_effect(TopicEffect(room.chat_id, room.thread_id, close=True))
    session.add(
        TimelineEvent(
            owner_type=room.owner_type,
            owner_id=room.owner_id,
            event_type=EventType.ROOM_UNBOUND,
            author_id=author_id,
            payload={"title": room.title, "reason": reason},
            created_at=now or utcnow(),
        )
    )
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


async def _sync_topic(session: AsyncSession, room: Room) -> None:
    """A won or lost item's topic is closed; reopened when the item goes back in progress."""
    item = await session.get(ITEM_MODELS[ItemType(room.owner_type)], room.owner_id)
    stage_id = getattr(item, "stage_id", None)
    semantics = await session.scalar(select(Stage.semantics).where(Stage.id == stage_id))
    finished = semantics in (StageSemantics.SUCCESS, StageSemantics.FAILURE)
    if finished != room.closed and room.thread_id is not None:
        room.closed = finished
        note_effect(TopicEffect(room.chat_id, room.thread_id, close=finished))


async def _queue(session: AsyncSession, room: Room, event: TimelineEvent) -> None:
    now = utcnow()
    key = f"room:{room.id}:{room.feed_batch}"
    open_one = await session.scalar(select(Notification).where(Notification.dedupe_key == key))
    if open_one is not None and open_one.state == NotificationState.PENDING:
        payload = dict(open_one.payload or {})
        events = list(payload.get("events") or [])
        if len(events) < MAX_EVENTS:
            payload["events"] = [*events, event.id]
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
    item = await session.get(ITEM_MODELS[ItemType(room.owner_type)], room.owner_id)
    recipient = room.bound_by or getattr(item, "responsible_id", None)
    if recipient is None:
        return
    room.feed_batch += 1
    session.add(
        Notification(
            user_id=recipient,
            category=NotificationCategory.ROOM_EVENT,
            payload={
                "room_id": room.id,
                "chat_id": room.chat_id,
                "thread_id": room.thread_id,
                "language": room.language,
                "owner_type": str(room.owner_type),
                "owner_id": room.owner_id,
                "events": [event.id],
            },
            created_at=now,
            available_at=now + timedelta(seconds=config.window),
            state=NotificationState.PENDING,
            attempts=0,
            dedupe_key=f"room:{room.id}:{room.feed_batch}",
        )
    )
    await session.flush()
