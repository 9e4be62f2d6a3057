"""What a client conversation shows staff: the pushed notice of a client's message (Reply / Open /
Take / Do not log) and a logged message as a timeline line. Reads only."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram.filters.callback_data import CallbackData

from crm_core.models.clients import ClientChat
from crm_core.models.notifications import Notification
from crm_core.models.users import User
from crm_core.services import client_channel as conv
from handlers.callbacks import Unpacked
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from scheduler.ports import OutgoingMessage

CARD_CHATS = 2  # client chats answerable from a card
KIND_NAMES = {
    "photo": N_("clients.kind.photo"),
    "document": N_("clients.kind.document"),
    "voice": N_("clients.kind.voice"),
    "sticker": N_("clients.kind.sticker"),
    "contact": N_("clients.kind.contact"),
    "other": N_("clients.kind.other"),
}


class TalkAction(StrEnum):
    REPLY = "r"
    TAKE = "t"
    CLOSE = "x"
    NO_LOG = "n"
    CANCEL = "c"  # a typed reply not sent after all


class TalkCB(Unpacked, CallbackData, prefix="cc"):
    """A client conversation's buttons; every press is re-authorised by crm_core."""

    action: TalkAction
    chat: int


def kind_word(tr: Translator, kind: str | None) -> str:
    key = KIND_NAMES.get(kind or "text")
    return tr(key) if key else ""


def message_line(tr: Translator, payload: dict[str, Any], excerpt: int) -> str:
    """A logged message for the timeline: its kind, its text, and whether it was edited or deleted."""
    if payload.get("kind") == "unreachable":
        return tr("clients.tl.unreachable")
    text = esc(truncate(" ".join(str(payload.get("text") or "").split()), excerpt))
    word = kind_word(tr, payload.get("kind"))
    body = " ".join(p for p in (word, text) if p)
    if payload.get("deleted"):
        return tr("clients.tl.deleted", text=body)
    if payload.get("edited"):
        old = esc(truncate(" ".join(str(payload.get("old") or "").split()), excerpt))
        return tr("clients.tl.edited", old=old, text=body)
    return body


def render_notice(
    tr: Translator, notification: Notification, user: User, item_html: str, open_button: dict[str, Any] | None
) -> list[OutgoingMessage]:
    payload = dict(notification.payload or {})
    chat_id = int(payload.get("client_chat_id") or 0)
    name = esc(truncate(str(payload.get("name") or ""), 80)) or "—"
    lines: list[str] = []
    if notification.category == conv.CLIENT_FLOOD:
        lines.append(tr("clients.n.flood", name=name))
    elif payload.get("passed_on"):
        lines.append(tr("clients.n.passed_on", name=name))
    elif payload.get("business"):
        lines.append(tr("clients.n.business", name=name))
    else:
        lines.append(tr("clients.n.message", name=name))
    if item_html:
        lines.append(item_html)
    word = kind_word(tr, payload.get("kind"))
    text = esc(truncate(str(payload.get("text") or ""), 1000))
    body = " ".join(p for p in (word, text) if p)
    if body and notification.category != conv.CLIENT_FLOOD:
        lines.append(f"<i>{body}</i>")
    if payload.get("queued"):
        lines.append(tr("clients.n.queued"))
    row = [
        {
            "text": tr("clients.btn.reply"),
            "callback_data": TalkCB(action=TalkAction.REPLY, chat=chat_id).pack(),
        }
    ]
    if open_button is not None:
        row.append(open_button)
    buttons = [row]
    if payload.get("queued"):
        buttons.append(
            [
                {
                    "text": tr("clients.btn.take"),
                    "callback_data": TalkCB(action=TalkAction.TAKE, chat=chat_id).pack(),
                }
            ]
        )
    if payload.get("business") and payload.get("first"):
        buttons.append(
            [
                {
                    "text": tr("clients.btn.no_log"),
                    "callback_data": TalkCB(action=TalkAction.NO_LOG, chat=chat_id).pack(),
                }
            ]
        )
    return [OutgoingMessage("\n".join(lines), buttons)]


def is_conversation(category: str) -> bool:
    return category in (conv.CLIENT_MESSAGE, conv.CLIENT_FLOOD)


async def conversation_rows(session: Any, tr: Translator, chats: list[ClientChat]) -> list[list[Any]]:
    """The card's buttons to answer the item's client `chats`; a 🔒 one says why when pressed."""
    from aiogram.types import InlineKeyboardButton

    from crm_core.services import business as business_service

    rows = []
    for chat in chats[:CARD_CHATS]:
        if chat.do_not_log:
            continue
        blocked = await business_service.reply_block(session, chat) is not None
        key = N_("clients.btn.card_reply_blocked") if blocked else N_("clients.btn.card_reply")
        name = truncate(chat.full_name or chat.username or "—", 30)
        data = TalkCB(action=TalkAction.REPLY, chat=chat.id).pack()
        rows.append([InlineKeyboardButton(text=tr(key, name=name), callback_data=data)])
    return rows
