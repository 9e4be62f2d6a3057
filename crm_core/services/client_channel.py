"""Client conversations: a message from a client becomes a lead (or joins the client's open deal or
lead) with an incoming activity; both directions go to the item's timeline; the responsible is
notified. Used by the bot as an open line (channel "bot") and by Telegram Business (channel
"biz:<connection id>", crm_core.services.business).

Rules kept here, once: who a client is (Telegram user id, a shared phone), where their message
lands, who answers (sticky, else crm_core.services.routing), the queue, flood control, the
dedup key (channel, chat id, message id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.clients import BOT_CHANNEL, ClientChat, ClientMessage, MessageDirection
from crm_core.models.items import CommKind, Communication, Contact, Deal, ItemType, Lead
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_can_edit
from crm_core.services import activities as activity_service
from crm_core.services import items as items_service
from crm_core.services import routing
from crm_core.services.communications import try_normalize_phone
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event

CLIENT_MESSAGE = "client_message"  # notification category: a client wrote (Reply / Open / Take)
CLIENT_FLOOD = "client_flood"  # notification category: a client is writing a lot (collapsed)
SOURCE_TELEGRAM = "telegram"
# Flood control: more than FLOOD_LIMIT messages within FLOOD_WINDOW is flooding; every message is
# still logged, the responsible gets one collapsed notice and the client one polite note.
FLOOD_LIMIT = 5
FLOOD_WINDOW = timedelta(seconds=30)
TEXT_LIMIT = 4000
MEDIA_KINDS = ("text", "photo", "document", "voice", "sticker", "contact", "other")


@dataclass(frozen=True)
class ClientProfile:
    telegram_user_id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language: str = "en"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p).strip()


@dataclass(frozen=True)
class Incoming:
    """One Telegram message, as the conversation logs it."""

    message_id: int
    kind: str = "text"
    text: str = ""
    file_id: str | None = None
    phone: str | None = None  # a contact the client shared about themselves


@dataclass
class Received:
    chat: ClientChat
    logged: bool  # False: this message was logged before (a redelivered update)
    new_lead: bool = False
    slow_down: bool = False  # tell the client, once, that they write too fast


def channel_of(business_connection_id: str | None) -> str:
    return f"biz:{business_connection_id}" if business_connection_id else BOT_CHANNEL


async def get_chat(session: AsyncSession, channel: str, chat_id: int) -> ClientChat | None:
    return await session.scalar(
        select(ClientChat).where(ClientChat.channel == channel, ClientChat.chat_id == chat_id)
    )


async def open_chat(
    session: AsyncSession, channel: str, chat_id: int, profile: ClientProfile, *, now: datetime
) -> ClientChat:
    chat = await get_chat(session, channel, chat_id)
    if chat is None:
        chat = ClientChat(
            channel=channel,
            chat_id=chat_id,
            telegram_user_id=profile.telegram_user_id,
            business_connection_id=channel[4:] if channel.startswith("biz:") else None,
            full_name=profile.full_name[:300],
            username=profile.username,
            language=profile.language,
            accepted=True,
            tried_user_ids=[],
            unreachable=False,
            do_not_log=False,
            greeted=False,
            window_count=0,
            slowed=False,
            created_at=now,
        )
        session.add(chat)
        await session.flush()
    return chat


async def already_logged(session: AsyncSession, channel: str, chat_id: int, message_id: int) -> bool:
    return (
        await session.scalar(
            select(ClientMessage.id).where(
                ClientMessage.channel == channel,
                ClientMessage.chat_id == chat_id,
                ClientMessage.message_id == message_id,
            )
        )
        is not None
    )


# --- who the client is, and where their message lands --------------------------------------------


async def _known_contact(session: AsyncSession, chat: ClientChat, phone: str | None) -> Contact | None:
    """The client's contact: remembered on the conversation, made from its lead by conversion,
    carrying their Telegram id, or (a shared phone) their phone."""
    ids: list[int] = []
    if chat.contact_id:
        ids.append(chat.contact_id)
    if chat.owner_type == ItemType.LEAD and chat.owner_id:
        made = await session.scalar(
            select(Contact.id).where(Contact.lead_id == chat.owner_id, Contact.deleted_at.is_(None))
        )
        if made:
            ids.append(made)
    terms = [(CommKind.TELEGRAM, str(chat.telegram_user_id))]
    if phone:
        terms.append((CommKind.PHONE, phone))
    for kind, value in terms:
        found = await session.scalar(
            select(Communication.owner_id)
            .join(Contact, Contact.id == Communication.owner_id)
            .where(
                Communication.owner_type == ItemType.CONTACT,
                Communication.kind == kind,
                Communication.normalized == value,
                Contact.deleted_at.is_(None),
            )
            .order_by(Communication.owner_id.desc())
            .limit(1)
        )
        if found:
            ids.append(found)
    for contact_id in ids:
        contact = await session.get(Contact, contact_id)
        if contact is not None and contact.deleted_at is None:
            return contact
    return None


async def _open_item_of(session: AsyncSession, contact: Contact) -> Deal | Lead | None:
    """The contact's newest open deal, else their newest open lead."""
    for model in (Deal, Lead):
        item = await session.scalar(
            select(model)
            .where(model.contact_id == contact.id, model.closed.is_(False), model.deleted_at.is_(None))
            .order_by(model.id.desc())
            .limit(1)
        )
        if item is not None:
            return item
    return None


async def _current_item(session: AsyncSession, chat: ClientChat) -> Deal | Lead | None:
    """The item the conversation is logged on while it stays open (not closed, not trashed)."""
    if chat.owner_type is None or chat.owner_id is None:
        return None
    model = Deal if chat.owner_type == ItemType.DEAL else Lead
    item = await session.get(model, chat.owner_id)
    if item is None or item.deleted_at is not None or item.closed:
        return None
    return item


async def _open_telegram_lead(session: AsyncSession, telegram_user_id: int) -> Lead | None:
    """An open lead carrying this Telegram id (the client wrote on another channel first)."""
    return await session.scalar(
        select(Lead)
        .join(
            Communication,
            (Communication.owner_type == ItemType.LEAD) & (Communication.owner_id == Lead.id),
        )
        .where(
            Communication.kind == CommKind.TELEGRAM,
            Communication.normalized == str(telegram_user_id),
            Lead.closed.is_(False),
            Lead.deleted_at.is_(None),
        )
        .order_by(Lead.id.desc())
        .limit(1)
    )


async def _active(session: AsyncSession, user_id: int | None) -> User | None:
    user = await session.get(User, user_id) if user_id else None
    return user if user is not None and user.is_active else None


async def _attach(
    session: AsyncSession, chat: ClientChat, incoming: Incoming, *, owner: User | None, now: datetime
) -> bool:
    """Make sure the conversation has an open item; True when a new lead was made. `owner`: the
    business account's owner (their chats are theirs), None for the open line."""
    phone = try_normalize_phone(incoming.phone) if incoming.phone else None
    current = await _current_item(session, chat)
    if current is not None and not phone:
        return False
    contact = await _known_contact(session, chat, phone)
    item: Deal | Lead | None = await _open_item_of(session, contact) if contact is not None else None
    if item is None:
        item = current or (
            await _open_telegram_lead(session, chat.telegram_user_id) if contact is None else None
        )
    if item is not None:
        if contact is not None and isinstance(item, Lead) and item.contact_id is None:
            item.contact_id = contact.id  # the shared phone told who they are
            await items_service.recompute_return_customer(session, item)
        if phone:
            await _add_phone(session, item, phone)
        if current is None or (item.ITEM_TYPE, item.id) != (current.ITEM_TYPE, current.id):
            await _move_to(session, chat, item, contact)
        elif contact is not None:
            chat.contact_id = contact.id
        return False
    # A new lead; a known client's is a repeat lead linked to their contact, given to their own
    # responsible (sticky) while that person is active.
    responsible = owner or (await _active(session, contact.responsible_id) if contact else None)
    queued = responsible is None and chat.channel == BOT_CHANNEL
    if responsible is None:
        responsible = await session.get(User, await routing.route_new_client(session))
        assert responsible is not None
    fields: dict[str, Any] = {
        "title": (chat.full_name or (f"@{chat.username}" if chat.username else "Telegram"))[:255],
        "name": (chat.full_name.split(" ")[0] if chat.full_name else None),
        "source": SOURCE_TELEGRAM,
        "comment": f"@{chat.username}" if chat.username else None,
    }
    if contact is not None:
        fields["contact_id"] = contact.id
    lead = await items_service.create_item(
        session,
        responsible,
        ItemType.LEAD,
        {k: v for k, v in fields.items() if v},
        phones=[phone] if phone else None,
        check_required=False,
        check_link_access=False,
        now=now,
    )
    session.add(
        Communication(
            owner_type=ItemType.LEAD,
            owner_id=lead.id,
            kind=CommKind.TELEGRAM,
            value=f"@{chat.username}" if chat.username else str(chat.telegram_user_id),
            normalized=str(chat.telegram_user_id),
            sort=0,
        )
    )
    chat.owner_type, chat.owner_id = ItemType.LEAD, lead.id
    chat.contact_id = contact.id if contact else None
    chat.responsible_id = responsible.id
    chat.activity_id = None
    chat.accepted = not queued
    chat.routed_at = now
    chat.tried_user_ids = [responsible.id]
    await session.flush()
    return True


async def _add_phone(session: AsyncSession, item: Deal | Lead, phone: str) -> None:
    have = await session.scalar(
        select(Communication.id).where(
            Communication.owner_type == item.ITEM_TYPE,
            Communication.owner_id == item.id,
            Communication.kind == CommKind.PHONE,
            Communication.normalized == phone,
        )
    )
    if have is None and isinstance(item, Lead):
        session.add(
            Communication(
                owner_type=item.ITEM_TYPE,
                owner_id=item.id,
                kind=CommKind.PHONE,
                value=phone,
                normalized=phone,
                sort=9,
            )
        )
        await session.flush()


async def _move_to(
    session: AsyncSession, chat: ClientChat, item: Deal | Lead, contact: Contact | None
) -> None:
    chat.owner_type, chat.owner_id = item.ITEM_TYPE, item.id
    chat.contact_id = contact.id if contact else chat.contact_id
    chat.responsible_id = item.responsible_id
    chat.activity_id = None
    chat.accepted = True
    await session.flush()


async def _ensure_activity(
    session: AsyncSession, chat: ClientChat, incoming: Incoming, now: datetime
) -> None:
    """An open incoming activity on the item: the conversation to answer. The client writing after
    it was completed ("conversation closed") opens a new one."""
    if chat.activity_id is not None:
        activity = await session.get(Activity, chat.activity_id)
        if activity is not None and not activity.completed:
            return
    assert chat.owner_type is not None and chat.owner_id is not None
    activity = await activity_service.create_incoming_activity(
        session,
        owner_type=chat.owner_type,
        owner_id=chat.owner_id,
        type=ActivityType.MESSAGE,
        subject=f"Telegram: {chat.full_name or chat.username or chat.telegram_user_id}"[:500],
        description=incoming.text[:TEXT_LIMIT],
        responsible_id=chat.responsible_id,
        now=now,
    )
    chat.activity_id = activity.id


def _flooding(chat: ClientChat, now: datetime) -> tuple[bool, bool]:
    """(over the limit, first time over it in this window)."""
    start = ensure_utc(chat.window_start) if chat.window_start else None
    if start is None or now - start > FLOOD_WINDOW:
        chat.window_start, chat.window_count, chat.slowed = now, 0, False
    chat.window_count += 1
    if chat.window_count <= FLOOD_LIMIT:
        return False, False
    first = not chat.slowed
    chat.slowed = True
    return True, first


async def log_message(
    session: AsyncSession,
    chat: ClientChat,
    incoming: Incoming,
    direction: MessageDirection,
    *,
    author_id: int | None,
    now: datetime,
) -> ClientMessage:
    row = ClientMessage(
        client_chat_id=chat.id,
        channel=chat.channel,
        chat_id=chat.chat_id,
        message_id=incoming.message_id,
        direction=direction,
        kind=incoming.kind if incoming.kind in MEDIA_KINDS else "other",
        text=incoming.text[:TEXT_LIMIT],
        file_id=incoming.file_id,
        author_id=author_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    if chat.owner_type is not None and chat.owner_id is not None:
        await add_event(
            session,
            owner_type=chat.owner_type,
            owner_id=chat.owner_id,
            event_type=EventType.MESSAGE_IN if direction == MessageDirection.IN else EventType.MESSAGE_OUT,
            author_id=author_id,
            payload=message_payload(chat, row),
            at=now,
        )
    return row


def message_payload(chat: ClientChat, row: ClientMessage, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": row.text, "kind": row.kind, "message": row.id, "channel": chat.channel}
    if row.file_id:
        payload["file_id"] = row.file_id
    payload.update(extra)
    return payload


async def receive(
    session: AsyncSession,
    channel: str,
    chat_id: int,
    profile: ClientProfile,
    incoming: Incoming,
    *,
    owner: User | None = None,
    now: datetime | None = None,
) -> Received:
    """A client's message: logged once on their open item (a new lead the first time), an
    incoming activity open, the responsible told (collapsed while the client floods)."""
    now = ensure_utc(now) if now else utcnow()
    existed = await get_chat(session, channel, chat_id) is not None
    chat = await open_chat(session, channel, chat_id, profile, now=now)
    if await already_logged(session, channel, chat_id, incoming.message_id):
        return Received(chat, logged=False)
    if chat.do_not_log:
        return Received(chat, logged=False)
    chat.unreachable = False  # they wrote: they can be reached again
    chat.last_incoming_at = now
    if profile.full_name:
        chat.full_name = profile.full_name[:300]
    new_lead = await _attach(session, chat, incoming, owner=owner, now=now)
    await _ensure_activity(session, chat, incoming, now)
    row = await log_message(session, chat, incoming, MessageDirection.IN, author_id=None, now=now)
    flooding, first_over = _flooding(chat, now)
    if chat.responsible_id is not None:
        if not flooding:
            note = {**_note(chat, row, new_lead), "first": not existed}
            await notify(session, chat.responsible_id, CLIENT_MESSAGE, note, now=now)
        elif first_over:
            window = ensure_utc(chat.window_start or now).isoformat()
            await notify(
                session,
                chat.responsible_id,
                CLIENT_FLOOD,
                _note(chat, row, False),
                dedupe_key=f"client-flood:{chat.id}:{window}",
                now=now,
            )
    await session.flush()
    return Received(chat, logged=True, new_lead=new_lead, slow_down=first_over and channel == BOT_CHANNEL)


def _note(chat: ClientChat, row: ClientMessage, new_lead: bool) -> dict[str, Any]:
    return {
        "client_chat_id": chat.id,
        "owner_type": str(chat.owner_type),
        "owner_id": chat.owner_id,
        "message": row.id,
        "kind": row.kind,
        "text": row.text[:1000],
        "name": chat.full_name,
        "queued": not chat.accepted,
        "new_lead": new_lead,
        "business": chat.channel != BOT_CHANNEL,
    }


# --- staff side -----------------------------------------------------------------------------------


async def chat_for_staff(session: AsyncSession, actor: User, client_chat_id: int) -> ClientChat:
    """A conversation the actor may act on: they may edit its item. Anything else is NotFound or
    AccessDenied (button data can be forged)."""
    chat = await session.get(ClientChat, client_chat_id)
    if chat is None or chat.owner_type is None or chat.owner_id is None:
        raise NotFound(client_chat_id=client_chat_id)
    item = await items_service.get_item(session, actor, chat.owner_type, chat.owner_id)
    await ensure_can_edit(session, actor, item)
    return chat


async def log_reply(
    session: AsyncSession,
    actor: User,
    chat: ClientChat,
    sent: Incoming,
    *,
    now: datetime | None = None,
) -> ClientMessage:
    """What the salesperson sent the client (already delivered by Telegram), logged as outgoing."""
    now = ensure_utc(now) if now else utcnow()
    if not chat.accepted and chat.responsible_id == actor.id:
        chat.accepted = True  # answering takes the conversation
    return await log_message(session, chat, sent, MessageDirection.OUT, author_id=actor.id, now=now)


async def take(
    session: AsyncSession, actor: User, client_chat_id: int, *, now: datetime | None = None
) -> ClientChat:
    """The queued conversation is the actor's: it stops passing on; the item becomes theirs."""
    chat = await chat_for_staff(session, actor, client_chat_id)
    if chat.responsible_id != actor.id:
        item = await items_service.get_item(session, actor, chat.owner_type, chat.owner_id)  # type: ignore[arg-type]
        await items_service.change_responsible(session, actor, item, actor.id, now=now)
        await _reassign_activity(session, chat, actor.id)
        chat.responsible_id = actor.id
    chat.accepted = True
    await session.flush()
    return chat


async def close(session: AsyncSession, actor: User, client_chat_id: int) -> ClientChat:
    """Conversation closed: its incoming activity is completed; the client writing again opens a
    new one."""
    chat = await chat_for_staff(session, actor, client_chat_id)
    if chat.activity_id is not None:
        activity = await session.get(Activity, chat.activity_id)
        if activity is not None and not activity.completed:
            await activity_service.complete_activity(session, actor, activity.id)
    chat.accepted = True
    await session.flush()
    return chat


async def mark_unreachable(
    session: AsyncSession, channel: str, chat_id: int, *, now: datetime | None = None
) -> None:
    """The client blocked the bot: the conversation (and its item's timeline) says so."""
    chat = await get_chat(session, channel, chat_id)
    if chat is None or chat.unreachable:
        return
    chat.unreachable = True
    if chat.owner_type is not None and chat.owner_id is not None:
        await add_event(
            session,
            owner_type=chat.owner_type,
            owner_id=chat.owner_id,
            event_type=EventType.MESSAGE_OUT,
            author_id=None,
            payload={"text": "", "kind": "unreachable", "channel": chat.channel},
            at=now,
        )
    await session.flush()


def of_item(owner_type: ItemType, owner_id: Any) -> ColumnElement[bool]:
    """The client chats of an item (`owner_id` a value or the item table's id column)."""
    return and_(ClientChat.owner_type == owner_type, ClientChat.owner_id == owner_id)


async def chats_of_item(session: AsyncSession, owner_type: ItemType, owner_id: int) -> list[ClientChat]:
    rows = await session.scalars(
        select(ClientChat).where(of_item(owner_type, owner_id)).order_by(ClientChat.id)
    )
    return list(rows)


# --- the queue --------------------------------------------------------------------------------------


async def _reassign_activity(session: AsyncSession, chat: ClientChat, user_id: int) -> None:
    if chat.activity_id is not None:
        activity = await session.get(Activity, chat.activity_id)
        if activity is not None and not activity.completed:
            activity.responsible_id = user_id
            await session.flush()


async def pass_on_expired(session: AsyncSession, *, now: datetime | None = None) -> list[ClientChat]:
    """Conversations nobody took within the queue time go to the next person on duty (each person
    once; when everyone had it, it stays with the last)."""
    now = ensure_utc(now) if now else utcnow()
    channel = await routing.channel_settings(session)
    cutoff = now - timedelta(minutes=channel.queue_minutes)
    rows = await session.scalars(
        select(ClientChat).where(ClientChat.accepted.is_(False), ClientChat.routed_at <= cutoff).limit(100)
    )
    moved: list[ClientChat] = []
    for chat in list(rows):
        item = await _current_item(session, chat)
        if item is None:
            chat.accepted = True
            continue
        tried = list(chat.tried_user_ids or [])
        nxt = await routing.route_new_client(session, exclude=tried)
        chat.routed_at = now
        if nxt in tried:
            chat.accepted = True  # nobody else: it stays
            continue
        previous = await session.get(User, item.responsible_id)
        actor = previous if previous is not None and previous.is_active else await session.get(User, nxt)
        assert actor is not None
        await items_service.change_responsible(session, actor, item, nxt, now=now)
        await _reassign_activity(session, chat, nxt)
        chat.responsible_id = nxt
        chat.tried_user_ids = [*tried, nxt]
        await notify(session, nxt, CLIENT_MESSAGE, {**_queue_note(chat), "passed_on": True}, now=now)
        moved.append(chat)
    await session.flush()
    return moved


def _queue_note(chat: ClientChat) -> dict[str, Any]:
    return {
        "client_chat_id": chat.id,
        "owner_type": str(chat.owner_type),
        "owner_id": chat.owner_id,
        "kind": "text",
        "text": "",
        "name": chat.full_name,
        "queued": True,
        "business": False,
    }
