"""Telegram Business: a salesperson's own client chats, through a business connection.

The owner's chats are logged as client conversations (crm_core.services.client_channel) on the
channel "biz:<connection id>", the owner being the responsible of a new lead. Both sides are
logged (the owner's own messages arrive too: sender = the connection's owner); edits and
deletions are recorded in the timeline, never applied silently. A reply through the connection
needs rights.can_reply and an incoming message in the chat within the last 24 hours.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import AccessDenied, NotFound
from crm_core.models.clients import BusinessConnection, ClientChat, ClientMessage, MessageDirection
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_active
from crm_core.services import client_channel as conv
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event

REPLY_WINDOW = timedelta(hours=24)


class ReplyBlock(enum.StrEnum):
    """Why a reply cannot go through the connection now."""

    DISCONNECTED = "disconnected"  # the connection was switched off or removed
    NO_RIGHTS = "no_rights"  # the owner did not let the bot reply
    WINDOW = "window"  # no incoming message in the last 24 hours
    UNREACHABLE = "unreachable"  # the client blocked the bot (open line)


@dataclass(frozen=True)
class ConnectionInfo:
    id: str
    telegram_user_id: int
    user_chat_id: int
    is_enabled: bool
    rights: dict[str, Any] = field(default_factory=dict)


async def connect(session: AsyncSession, info: ConnectionInfo, *, now: datetime | None = None) -> User | None:
    """Store a connection (new, changed or switched off). Returns the CRM user who owns it, or None
    when its owner is no active CRM user: such a connection is kept unlinked and ignored."""
    now = ensure_utc(now) if now else utcnow()
    owner = await session.scalar(select(User).where(User.telegram_id == info.telegram_user_id))
    if owner is not None and not owner.is_active:
        owner = None
    row = await session.get(BusinessConnection, info.id)
    if row is None:
        row = BusinessConnection(
            id=info.id, telegram_user_id=info.telegram_user_id, user_chat_id=info.user_chat_id
        )
        session.add(row)
    row.user_id = owner.id if owner is not None else None
    row.user_chat_id = info.user_chat_id
    row.rights = dict(info.rights)
    row.can_reply = bool(info.rights.get("can_reply"))
    row.is_enabled = info.is_enabled
    row.updated_at = now
    await session.flush()
    return owner


async def owner_of(session: AsyncSession, connection_id: str) -> tuple[BusinessConnection, User] | None:
    """The connection and its CRM owner, when it is enabled and linked to an active user."""
    row = await session.get(BusinessConnection, connection_id)
    if row is None or not row.is_enabled or row.user_id is None:
        return None
    owner = await session.get(User, row.user_id)
    if owner is None or not owner.is_active:
        return None
    return row, owner


@dataclass
class Logged:
    chat: ClientChat
    logged: bool
    first: bool = False  # the chat's first logged message: the owner gets a notice with "do not log"


async def receive(
    session: AsyncSession,
    connection_id: str,
    chat_id: int,
    sender_id: int,
    partner: conv.ClientProfile,
    incoming: conv.Incoming,
    *,
    now: datetime | None = None,
) -> Logged | None:
    """A business message, either side. None: the connection is unknown, off, or not a CRM user's."""
    now = ensure_utc(now) if now else utcnow()
    found = await owner_of(session, connection_id)
    if found is None:
        return None
    row, owner = found
    channel = conv.channel_of(connection_id)
    existed = await conv.get_chat(session, channel, chat_id) is not None
    if sender_id != row.telegram_user_id:
        got = await conv.receive(session, channel, chat_id, partner, incoming, owner=owner, now=now)
        return Logged(got.chat, got.logged, first=got.logged and not existed)
    chat = await conv.open_chat(session, channel, chat_id, partner, now=now)
    if chat.do_not_log or await conv.already_logged(session, channel, chat_id, incoming.message_id):
        return Logged(chat, False)
    await conv._attach(session, chat, incoming, owner=owner, now=now)
    await conv.log_message(session, chat, incoming, MessageDirection.OUT, author_id=owner.id, now=now)
    if not existed:
        await notify(
            session,
            owner.id,
            conv.CLIENT_MESSAGE,
            {
                **conv._queue_note(chat),
                "queued": False,
                "business": True,
                "first": True,
                "text": incoming.text[:1000],
            },
            now=now,
        )
    return Logged(chat, True, first=not existed)


async def _message(
    session: AsyncSession, connection_id: str, chat_id: int, message_id: int
) -> ClientMessage | None:
    return await session.scalar(
        select(ClientMessage).where(
            ClientMessage.channel == conv.channel_of(connection_id),
            ClientMessage.chat_id == chat_id,
            ClientMessage.message_id == message_id,
        )
    )


async def _record(session: AsyncSession, row: ClientMessage, now: datetime, **change: Any) -> None:
    chat = await session.get(ClientChat, row.client_chat_id)
    if chat is None or chat.owner_type is None or chat.owner_id is None:
        return
    await add_event(
        session,
        owner_type=chat.owner_type,
        owner_id=chat.owner_id,
        event_type=EventType.MESSAGE_IN if row.direction == MessageDirection.IN else EventType.MESSAGE_OUT,
        author_id=row.author_id,
        payload=conv.message_payload(chat, row, **change),
        at=now,
    )


async def edited(
    session: AsyncSession,
    connection_id: str,
    chat_id: int,
    message_id: int,
    text: str,
    *,
    now: datetime | None = None,
) -> bool:
    """An edit is recorded as a timeline event with the old and the new text; the logged message
    keeps the latest text. An edit of a message never logged changes nothing."""
    now = ensure_utc(now) if now else utcnow()
    if await owner_of(session, connection_id) is None:
        return False
    row = await _message(session, connection_id, chat_id, message_id)
    if row is None or row.text == text[: conv.TEXT_LIMIT]:
        return False
    old = row.text
    row.text = text[: conv.TEXT_LIMIT]
    row.edited_at = now
    await _record(session, row, now, edited=True, old=old)
    return True


async def deleted(
    session: AsyncSession,
    connection_id: str,
    chat_id: int,
    message_ids: list[int],
    *,
    now: datetime | None = None,
) -> int:
    """Deletions are recorded (what was deleted stays readable in the timeline)."""
    now = ensure_utc(now) if now else utcnow()
    if await owner_of(session, connection_id) is None:
        return 0
    count = 0
    for message_id in message_ids:
        row = await _message(session, connection_id, chat_id, message_id)
        if row is None or row.deleted_at is not None:
            continue
        row.deleted_at = now
        await _record(session, row, now, deleted=True)
        count += 1
    return count


async def reply_block(
    session: AsyncSession, chat: ClientChat, *, now: datetime | None = None
) -> ReplyBlock | None:
    """Why a reply to this conversation cannot be sent now (None: it can)."""
    now = ensure_utc(now) if now else utcnow()
    if chat.business_connection_id is None:
        return ReplyBlock.UNREACHABLE if chat.unreachable else None
    found = await owner_of(session, chat.business_connection_id)
    if found is None:
        return ReplyBlock.DISCONNECTED
    if not found[0].can_reply:
        return ReplyBlock.NO_RIGHTS
    last = ensure_utc(chat.last_incoming_at) if chat.last_incoming_at else None
    if last is None or now - last > REPLY_WINDOW:
        return ReplyBlock.WINDOW
    return None


async def set_do_not_log(session: AsyncSession, actor: User, client_chat_id: int) -> ClientChat:
    """The connection's owner chose not to log this chat: nothing more of it is logged."""
    ensure_active(actor)
    chat = await session.get(ClientChat, client_chat_id)
    if chat is None or chat.business_connection_id is None:
        raise NotFound(client_chat_id=client_chat_id)
    row = await session.get(BusinessConnection, chat.business_connection_id)
    if row is None or row.user_id != actor.id:
        raise AccessDenied(client_chat_id=client_chat_id)
    chat.do_not_log = True
    await session.flush()
    return chat
