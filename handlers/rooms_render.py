"""What a deal room is told: the item's events (one message for a burst), an invite to the room
in a person's private chat, and the card as it is posted in the room. Reads only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import ITEM_MODELS, ItemType
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.timeline import TimelineEvent
from crm_core.models.users import User
from crm_core.services.cards_queries import users_by_id
from handlers.callbacks import CardAction, CardCB, MenuCB
from handlers.card_render import card_screen, user_name
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.timeline_events import activity_label, event_summary, event_user_ids, short_time
from scheduler.ports import OutgoingMessage

TITLE_LIMIT = 120
LINES_SHOWN = 15
ROOM_CATEGORIES = frozenset({NotificationCategory.ROOM_EVENT, NotificationCategory.ROOM_INVITE})


def _owner(payload: dict[str, Any]) -> tuple[ItemType, int] | None:
    try:
        return ItemType(payload["owner_type"]), int(payload["owner_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _heading(tr: Translator, item: Any) -> str:
    return tr("rooms.feed.item", ref=esc(item.ref), title=esc(truncate(item.display_name, TITLE_LIMIT)))


async def render(
    session: AsyncSession, notification: Notification, user: User, *, now: datetime
) -> list[OutgoingMessage]:
    payload = dict(notification.payload or {})
    owner = _owner(payload)
    if owner is None:
        return []
    # A trashed item's room is still told what happened (it is unbound with it).
    item = await session.get(ITEM_MODELS[owner[0]], owner[1])
    if item is None:
        return []
    if notification.category == NotificationCategory.ROOM_INVITE:
        return _invite(Translator(user.language), item, payload)
    return await _events(
        session, Translator(str(payload.get("language") or user.language)), item, payload, user
    )


def _invite(tr: Translator, item: Any, payload: dict[str, Any]) -> list[OutgoingMessage]:
    link = payload.get("link")
    text = tr("rooms.invite", item=_heading(tr, item))
    buttons = [[{"text": tr("rooms.invite.join"), "url": str(link)}]] if link else None
    if not link:
        text += "\n" + tr("rooms.invite.no_link")
    return [OutgoingMessage(text, buttons)]


async def _events(
    session: AsyncSession, tr: Translator, item: Any, payload: dict[str, Any], user: User
) -> list[OutgoingMessage]:
    ids = [int(i) for i in payload.get("events") or [] if isinstance(i, int)]
    events = list(
        await session.scalars(
            select(TimelineEvent).where(TimelineEvent.id.in_(ids)).order_by(TimelineEvent.id)
        )
    )
    overdue = [o for o in payload.get("overdue") or [] if isinstance(o, dict)]
    if not events and not overdue:
        return []
    names = await users_by_id(session, list(event_user_ids(events)))
    reader = User(language=tr.language, timezone=user.timezone)  # the room's language, a person's zone
    lines = []
    for event in events:
        who = user_name(names.get(event.author_id)) if event.author_id else "🤖"
        lines.append(f"• {who}: {event_summary(tr, event, names, reader, excerpt=200)}")
    for o in overdue:
        when = short_time(o.get("deadline"), reader)
        lines.append("• " + tr("rooms.feed.overdue", activity=activity_label(tr, o), when=when))
    count = len(lines)
    if count > LINES_SHOWN:
        lines = [*lines[:LINES_SHOWN], tr("rooms.feed.more", count=count - LINES_SHOWN)]
    head = _heading(tr, item)
    if count > 1:
        head = tr("rooms.feed.summary", item=head, count=count)
    card = {
        "text": tr("rooms.btn.card"),
        "callback_data": CardCB(type=item.ITEM_TYPE, id=item.id, action=CardAction.OPEN).pack(),
    }
    text = head + "\n" + "\n".join(lines)
    if item.deleted_at is not None:
        return [OutgoingMessage(text + "\n" + tr("rooms.feed.trashed"))]
    return [OutgoingMessage(text, [[card]])]


async def room_card(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, item_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The card as a room shows it: the person's own card without the way to their private menu."""
    text, markup = await card_screen(session, user, tr, item_type, item_id)
    rows = [
        row
        for row in markup.inline_keyboard
        if not any(b.callback_data and b.callback_data.startswith(MenuCB.__prefix__ + ":") for b in row)
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=rows)
