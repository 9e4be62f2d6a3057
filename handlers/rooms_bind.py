"""Finishing a binding in Telegram: the card posted (and pinned where the bot may pin) in the room,
and an invite link for the responsible and the observers (sent to them privately by the outbox)."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.rooms import Room
from crm_core.models.users import User
from crm_core.services import rooms as rooms_service
from handlers.rooms_render import room_card
from handlers.texts import Translator

log = logging.getLogger(__name__)


async def bot_rights(bot: Bot, chat_id: int) -> tuple[bool, bool, bool]:
    """(may pin, may invite, may manage topics) in the chat."""
    me = await bot.get_chat_member(chat_id, bot.id)
    if isinstance(me, ChatMemberOwner):
        return True, True, True
    if not isinstance(me, ChatMemberAdministrator):
        return False, False, False
    return bool(me.can_pin_messages), bool(me.can_invite_users), bool(me.can_manage_topics)


async def post_card(
    bot: Bot, session: AsyncSession, user: User, tr: Translator, room: Room, *, pin: bool = False
) -> int:
    text, markup = await room_card(session, user, tr, room.owner_type, room.owner_id)
    sent = await bot.send_message(room.chat_id, text, reply_markup=markup, message_thread_id=room.thread_id)
    if pin:
        await bot.pin_chat_message(room.chat_id, sent.message_id, disable_notification=True)
    return sent.message_id


async def finish_binding(bot: Bot, session: AsyncSession, user: User, room: Room, item: Any) -> None:
    """After `rooms_service.bind`: the card in the room, pinned; the people invited."""
    tr = Translator(room.language)
    may_pin, may_invite, _topics = await bot_rights(bot, room.chat_id)
    room.card_message_id = await post_card(bot, session, user, tr, room, pin=may_pin)
    link = None
    if may_invite:
        try:
            invite = await bot.create_chat_invite_link(room.chat_id, name=item.ref[:32])
            link = invite.invite_link
        except TelegramAPIError:
            log.warning("no invite link for chat %s", room.chat_id, exc_info=True)
    await rooms_service.invite_people(session, room, item, link)
    if not (may_pin and may_invite):
        await bot.send_message(room.chat_id, tr("rooms.need_admin"), message_thread_id=room.thread_id)
