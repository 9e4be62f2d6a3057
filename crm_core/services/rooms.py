"""Deal rooms: binding a lead or deal to a Telegram group or a topic of the team's forum, the
binding tokens of startgroup links, who may do what in a room, and unbinding.

Telegram itself (creating topics, pinning, invite links) is the presentation layer's business;
these functions decide and record. Every change is in the caller's transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, RoomRefused
from crm_core.models.items import ITEM_MODELS, ItemType
from crm_core.models.rooms import ROOM_ITEMS, Room, RoomKind, RoomToken, TeamForum
from crm_core.models.timeline import EventType
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_admin, ensure_can_view
from crm_core.services import items as items_service
from crm_core.services import room_feed, room_invites
from crm_core.services import timeline as timeline_service

TOKEN_PREFIX = "room_"
TOKEN_TTL = timedelta(hours=1)
TITLE_LIMIT = 128


@dataclass(frozen=True)
class RoomTarget:
    chat_id: int
    thread_id: int | None


# --- who may ------------------------------------------------------------------------------------


async def bindable_item(session: AsyncSession, actor: User, item_type: ItemType | str, item_id: int) -> Any:
    """The item `actor` may bind: a lead or deal they can see, without a room yet."""
    item_type = ItemType(item_type)
    if item_type not in ROOM_ITEMS:
        raise RoomRefused("not_bindable")
    item = await items_service.get_item(session, actor, item_type, item_id)
    if await room_feed.room_of(session, item_type, item_id) is not None:
        raise RoomRefused("item_has_room", ref=item.ref)
    return item


async def room_item(session: AsyncSession, actor: User, room: Room) -> Any:
    """The room's item if `actor` may see it (AccessDenied / NotFound otherwise)."""
    return await items_service.get_item(session, actor, room.owner_type, room.owner_id)


def may_unbind(actor: User, item: Any) -> bool:
    return actor.is_active and (actor.role == Role.ADMIN or item.responsible_id == actor.id)


# --- tokens of startgroup links -------------------------------------------------------------------


async def create_token(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    item_id: int,
    *,
    now: datetime | None = None,
) -> str:
    """A single-use token for a startgroup link (`room_...`, within Telegram's 64 characters)."""
    item = await bindable_item(session, actor, item_type, item_id)
    now = ensure_utc(now) if now else utcnow()
    token = secrets.token_urlsafe(18)
    session.add(
        RoomToken(
            token=token,
            owner_type=item.ITEM_TYPE,
            owner_id=item.id,
            user_id=actor.id,
            expires_at=now + TOKEN_TTL,
        )
    )
    await session.flush()
    return TOKEN_PREFIX + token


async def take_token(session: AsyncSession, actor: User, payload: str, *, now: datetime | None = None) -> Any:
    """Use up a token: returns the item it binds. Unknown, used, expired, or someone else's (a
    forwarded link) -> RoomRefused; nothing is used up then."""
    now = ensure_utc(now) if now else utcnow()
    token = payload.removeprefix(TOKEN_PREFIX)
    row = await session.get(RoomToken, token, with_for_update=True)
    if row is None or row.user_id != actor.id:
        raise RoomRefused("token_unknown")
    if row.used_at is not None:
        raise RoomRefused("token_used")
    if ensure_utc(row.expires_at) <= now:
        raise RoomRefused("token_expired")
    item = await bindable_item(session, actor, row.owner_type, row.owner_id)
    row.used_at = now
    return item


# --- binding ------------------------------------------------------------------------------------


async def room_in_chat(session: AsyncSession, chat_id: int, thread_id: int | None = None) -> Room | None:
    """The room a message in this chat (and topic) belongs to."""
    if await forum(session, chat_id) is not None:
        if thread_id is None:
            return None
        return await session.scalar(select(Room).where(Room.chat_id == chat_id, Room.thread_id == thread_id))
    return await session.scalar(select(Room).where(Room.chat_id == chat_id, Room.thread_id.is_(None)))


async def bind(
    session: AsyncSession,
    actor: User,
    item: Any,
    *,
    chat_id: int,
    title: str,
    thread_id: int | None = None,
    now: datetime | None = None,
) -> Room:
    """Bind an (access-checked, see `bindable_item`) item to a group, or to a forum topic."""
    if await room_feed.room_of(session, item.ITEM_TYPE, item.id) is not None:
        raise RoomRefused("item_has_room", ref=item.ref)
    if thread_id is None:
        if await forum(session, chat_id) is not None:
            raise RoomRefused("chat_is_forum")
        taken = await room_in_chat(session, chat_id)
        if taken is not None:
            raise RoomRefused("chat_taken", ref=_ref(taken))
    now = ensure_utc(now) if now else utcnow()
    room = Room(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        kind=RoomKind.TOPIC if thread_id is not None else RoomKind.GROUP,
        chat_id=chat_id,
        thread_id=thread_id,
        title=(title or "")[:TITLE_LIMIT],
        bound_by=actor.id,
        language=actor.language,
        reminders=False,
        log_messages=False,
        closed=False,
        feed_batch=0,
        created_at=now,
    )
    session.add(room)
    await session.flush()
    await timeline_service.add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.ROOM_BOUND,
        author_id=actor.id,
        payload={"title": room.title, "kind": str(room.kind)},
        at=now,
    )
    return room


def _ref(room: Room) -> str:
    from crm_core.refs import format_ref  # noqa: PLC0415

    return format_ref(room.owner_type, room.owner_id)


async def set_card_message(session: AsyncSession, room: Room, message_id: int) -> None:
    room.card_message_id = message_id


async def invite_people(session: AsyncSession, room: Room, item: Any, link: str | None) -> list[int]:
    """Queue an invite to the room for the responsible and the observers; returns their ids."""
    ids = [item.responsible_id, *await items_service.get_observer_ids(session, item)]
    return await room_invites.invite(session, room, ids, link)


async def unbind(
    session: AsyncSession,
    room: Room,
    *,
    author_id: int | None,
    reason: str,
    now: datetime | None = None,
) -> None:
    """Forget the binding and log it on the item (`reason`: command, removed, trashed)."""
    await room_feed.unbind_room(session, room, author_id=author_id, reason=reason, now=now)


async def unbind_by(session: AsyncSession, actor: User, room: Room) -> Any:
    """/unbind: the item's responsible or an admin."""
    item = await room_item(session, actor, room)
    if not may_unbind(actor, item):
        raise RoomRefused("unbind_not_allowed")
    await unbind(session, room, author_id=actor.id, reason="command")
    return item


async def chat_gone(session: AsyncSession, chat_id: int) -> list[Room]:
    """The bot left or was removed: every room in that chat is unbound (and logged)."""
    rooms = list(await session.scalars(select(Room).where(Room.chat_id == chat_id)))
    for room in rooms:
        room.closed = True  # nothing to close: the bot is no longer there
        await unbind(session, room, author_id=None, reason="removed")
    await session.execute(delete(TeamForum).where(TeamForum.chat_id == chat_id))
    return rooms


async def migrate_chat(session: AsyncSession, old_chat_id: int, new_chat_id: int) -> int:
    """A group upgraded to a supergroup keeps its room under the new id."""
    result = await session.execute(
        update(Room)
        .where(Room.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(TeamForum)
        .where(TeamForum.chat_id == old_chat_id)
        .values(chat_id=new_chat_id)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def set_option(
    session: AsyncSession,
    actor: User,
    room: Room,
    *,
    reminders: bool | None = None,
    log_messages: bool | None = None,
) -> None:
    """A room's opt-ins (the item's reminders there; its plain messages logged as comments): the
    item's responsible or an admin."""
    item = await room_item(session, actor, room)
    if not may_unbind(actor, item):
        raise RoomRefused("unbind_not_allowed")
    if reminders is not None:
        room.reminders = reminders
    if log_messages is not None:
        room.log_messages = log_messages


# --- the team forum -------------------------------------------------------------------------------


async def forum(session: AsyncSession, chat_id: int | None = None) -> TeamForum | None:
    """The registered forum (the one with `chat_id`, when given)."""
    q = select(TeamForum)
    if chat_id is not None:
        q = q.where(TeamForum.chat_id == chat_id)
    return await session.scalar(q.order_by(TeamForum.id.desc()).limit(1))


async def register_forum(session: AsyncSession, actor: User, chat_id: int, title: str) -> TeamForum:
    """/setforum: an admin makes this forum supergroup the team's (the previous one is replaced)."""
    ensure_admin(actor)
    if await session.scalar(select(Room.id).where(Room.chat_id == chat_id, Room.thread_id.is_(None))):
        raise RoomRefused("chat_taken")
    await session.execute(delete(TeamForum).where(TeamForum.chat_id != chat_id))
    row = await forum(session, chat_id)
    if row is None:
        row = TeamForum(chat_id=chat_id, title=(title or "")[:TITLE_LIMIT], registered_by=actor.id)
        session.add(row)
    else:
        row.title = (title or "")[:TITLE_LIMIT]
    await session.flush()
    return row


# --- reading for the scheduler and /status -------------------------------------------------------


class ItemRooms:
    """scheduler.ports.ItemChats: the rooms that opted in to their item's reminders."""

    async def chats_for_item(self, session: AsyncSession, owner_type: str, owner_id: int) -> list[int]:
        return [t.chat_id for t in await self.targets_for_item(session, owner_type, owner_id)]

    async def targets_for_item(
        self, session: AsyncSession, owner_type: str, owner_id: int
    ) -> list[RoomTarget]:
        room = await room_feed.room_of(session, owner_type, owner_id)
        if room is None or not room.reminders:
            return []
        return [RoomTarget(room.chat_id, room.thread_id)]


async def ensure_item_visible(session: AsyncSession, actor: User, room: Room) -> Any:
    item = await session.get(ITEM_MODELS[ItemType(room.owner_type)], room.owner_id)
    if item is None:
        raise NotFound()
    await ensure_can_view(session, actor, item)
    return item


async def room_item_of(session: AsyncSession, actor: User, item_type: ItemType | str, item_id: int) -> Any:
    return await items_service.get_item(session, actor, ItemType(item_type), item_id)
