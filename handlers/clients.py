"""The bot as an open line: a Telegram user who is not staff and writes to the bot is a client
(when an admin switched the client channel on). Registered before the gate.

A client gets the greeting (with a button to share their phone) and nothing else of the CRM: no
menus, commands, cards or data; their buttons and commands are only more messages to log. Their
messages become a lead or join their open deal (crm_core.services.client_channel), and the
responsible is told. A client who blocks the bot is marked unreachable.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    ChatMemberUpdated,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import DomainError, UserDeactivated
from crm_core.models.clients import BOT_CHANNEL
from crm_core.services import client_channel as conv
from crm_core.services import routing
from handlers.clients_media import incoming_of, profile_of
from handlers.filters import Unregistered
from handlers.render import esc
from handlers.texts import Translator

log = logging.getLogger(__name__)

router = Router(name="clients")
router.message.filter(F.chat.type == "private", Unregistered())


def share_phone_kb(tr: Translator) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=tr("clients.btn.share_phone"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


@router.message()
async def client_message(
    message: Message, session: AsyncSession, tr: Translator, registration_error: DomainError | None = None
) -> None:
    channel = await routing.channel_settings(session)
    if not channel.enabled or isinstance(registration_error, UserDeactivated) or message.from_user is None:
        raise SkipHandler()  # the gate refuses strangers (and deactivated staff) as before
    profile = profile_of(message.from_user, tr.language)
    incoming = incoming_of(message)
    if message.contact is not None and message.contact.user_id != message.from_user.id:
        incoming = incoming_of(message, own_contact=False)
    chat = await conv.open_chat(session, BOT_CHANNEL, message.chat.id, profile, now=conv.utcnow())
    if not chat.greeted:
        chat.greeted = True
        greeting = channel.greeting_ru if tr.language == "ru" else channel.greeting_en
        text = esc(greeting) if greeting.strip() else tr("clients.greeting")
        await message.answer(text, reply_markup=share_phone_kb(tr))
        # Their command menu is theirs alone: no CRM commands, only Start.
        await message.bot.set_my_commands(  # type: ignore[union-attr]
            [BotCommand(command="start", description=tr("clients.cmd.start"))],
            scope=BotCommandScopeChat(chat_id=message.chat.id),
        )
    if (message.text or "").strip() == "/start":
        return  # Telegram's Start button: greeted, nothing to log
    got = await conv.receive(session, BOT_CHANNEL, message.chat.id, profile, incoming)
    if incoming.phone and got.logged:
        await message.answer(tr("clients.phone_thanks"))
    if got.slow_down:
        await message.answer(tr("clients.slow_down"))


@router.my_chat_member(F.chat.type == "private", F.new_chat_member.status == "kicked")
async def client_blocked(event: ChatMemberUpdated, session: AsyncSession) -> None:
    """A client blocked the bot: their conversation is marked unreachable. The update goes on to
    the other handlers (handlers.reminders marks the chat undeliverable)."""
    await conv.mark_unreachable(session, BOT_CHANNEL, event.chat.id)
    raise SkipHandler()
