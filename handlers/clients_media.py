"""Reading a Telegram message as a logged conversation message: its kind, text and file id (media
are kept by file_id and forwarded by it, never downloaded)."""

from __future__ import annotations

from aiogram.types import Chat, Message
from aiogram.types import User as TgUser

from crm_core.services.client_channel import ClientProfile, Incoming


def profile_of(user: TgUser | Chat, language: str) -> ClientProfile:
    return ClientProfile(
        telegram_user_id=user.id,
        first_name=user.first_name or "",
        last_name=user.last_name,
        username=user.username,
        language=language,
    )


def incoming_of(message: Message, *, own_contact: bool = True) -> Incoming:
    text = message.text or message.caption or ""
    mid = message.message_id
    if message.photo:
        return Incoming(mid, "photo", text, message.photo[-1].file_id)
    if message.document is not None:
        name = message.document.file_name or ""
        return Incoming(mid, "document", " ".join(p for p in (name, text) if p), message.document.file_id)
    if message.voice is not None:
        return Incoming(mid, "voice", text, message.voice.file_id)
    if message.sticker is not None:
        return Incoming(mid, "sticker", message.sticker.emoji or "", message.sticker.file_id)
    if message.contact is not None:
        contact = message.contact
        words = " ".join(p for p in (contact.first_name, contact.last_name, contact.phone_number) if p)
        return Incoming(mid, "contact", words, None, contact.phone_number if own_contact else None)
    if message.text is not None:
        return Incoming(mid, "text", text)
    return Incoming(mid, "other", text)
