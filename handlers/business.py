"""Telegram Business updates: a salesperson connects the bot to their business account
(Business -> Chatbots), and their client chats are logged in the CRM
(crm_core.services.business). A connection by someone who is not a CRM user is refused in a
private message and ignored. Nothing is ever sent into a business chat from here."""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BusinessConnection, BusinessMessagesDeleted, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.services import business as business_service
from handlers.clients_media import incoming_of, profile_of
from handlers.texts import Translator, normalize_language

log = logging.getLogger(__name__)

router = Router(name="business")


@router.business_connection()
async def connection_changed(connection: BusinessConnection, session: AsyncSession, bot: Bot) -> None:
    rights = connection.rights.model_dump(exclude_none=True) if connection.rights is not None else {}
    info = business_service.ConnectionInfo(
        id=connection.id,
        telegram_user_id=connection.user.id,
        user_chat_id=connection.user_chat_id,
        is_enabled=connection.is_enabled,
        rights=rights,
    )
    owner = await business_service.connect(session, info)
    tr = Translator(
        owner.language if owner is not None else normalize_language(connection.user.language_code)
    )
    if owner is None:
        text = tr("biz.refused") if connection.is_enabled else None
    elif not connection.is_enabled:
        text = tr("biz.disconnected")
    else:
        text = tr("biz.connected") if info.rights.get("can_reply") else tr("biz.connected_read_only")
    if text is None:
        return
    try:
        await bot.send_message(connection.user_chat_id, text)
    except TelegramAPIError as exc:  # they may have blocked the bot: the connection still counts
        log.info("could not tell business connection %s's owner: %s", connection.id, exc)


@router.business_message()
async def business_message(message: Message, session: AsyncSession) -> None:
    if message.business_connection_id is None or message.from_user is None:
        return
    partner = message.chat  # a private chat: the client
    await business_service.receive(
        session,
        message.business_connection_id,
        message.chat.id,
        message.from_user.id,
        profile_of(partner, "en"),
        incoming_of(message),
    )


@router.edited_business_message()
async def business_edit(message: Message, session: AsyncSession) -> None:
    if message.business_connection_id is None:
        return
    await business_service.edited(
        session,
        message.business_connection_id,
        message.chat.id,
        message.message_id,
        incoming_of(message).text,
    )


@router.deleted_business_messages()
async def business_deleted(event: BusinessMessagesDeleted, session: AsyncSession) -> None:
    await business_service.deleted(
        session, event.business_connection_id, event.chat.id, list(event.message_ids)
    )
