"""Staff answering clients: Reply (then a message, or a reply to the notice), Take a queued
conversation, close it, "do not log" a business chat, and /duty (on duty for new clients).

Every press and every reply is re-authorised by crm_core (the conversation's item must be the
staff member's to edit); replies go out through the bot, or through the business connection
within Telegram's rules, and are logged as outgoing.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command, Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound
from crm_core.models import ClientChat, User
from crm_core.services import business as business_service
from crm_core.services import client_channel as conv
from crm_core.services import routing
from handlers.clients_media import incoming_of
from handlers.clients_notify import TalkAction, TalkCB
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

log = logging.getLogger(__name__)

router = Router(name="clients_staff")
router.message.filter(F.chat.type == "private")

BLOCKS = {
    business_service.ReplyBlock.DISCONNECTED: N_("clients.block.disconnected"),
    business_service.ReplyBlock.NO_RIGHTS: N_("clients.block.no_rights"),
    business_service.ReplyBlock.WINDOW: N_("clients.block.window"),
    business_service.ReplyBlock.UNREACHABLE: N_("clients.block.unreachable"),
}


class ReplyForm(StatesGroup):
    text = State()  # text, a photo or a document, for data["client_chat"]


class RepliesToNotice(Filter):
    """A message that replies to a client notice: its Reply button names the conversation."""

    async def __call__(self, message: Message) -> bool | dict[str, int]:
        target = message.reply_to_message
        markup = target.reply_markup if target is not None else None
        if markup is None or target is None or target.from_user is None or not target.from_user.is_bot:
            return False
        for row in markup.inline_keyboard:
            for button in row:
                data = button.callback_data or ""
                if data.startswith(f"{TalkCB.__prefix__}:"):
                    try:
                        parsed = TalkCB.unpack(data)
                    except (TypeError, ValueError):
                        continue
                    if parsed.action == TalkAction.REPLY:
                        return {"client_chat": parsed.chat}
        return False


def cancel_kb(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("clients.btn.cancel"),
                    callback_data=TalkCB(action=TalkAction.CANCEL, chat=0).pack(),
                )
            ]
        ]
    )


async def _chat(session: AsyncSession, user: User, chat_id: int) -> ClientChat | None:
    try:
        return await conv.chat_for_staff(session, user, chat_id)
    except (NotFound, AccessDenied):
        return None


async def _pressed_chat(
    session: AsyncSession, user: User, tr: Translator, chat_id: int, callback_answer: CallbackAnswer
) -> ClientChat | None:
    """The conversation a button names, if the presser may work on it; else a refusal only they see."""
    chat = await _chat(session, user, chat_id)
    if chat is None:
        callback_answer.text, callback_answer.show_alert = tr("clients.not_yours"), True
    return chat


@router.callback_query(TalkCB.filter(F.action == TalkAction.REPLY))
async def reply_button(
    callback: CallbackQuery,
    callback_data: TalkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    chat = await _pressed_chat(session, user, tr, callback_data.chat, callback_answer)
    if chat is None:
        return
    block = await business_service.reply_block(session, chat)
    if block is not None:
        callback_answer.text, callback_answer.show_alert = tr(BLOCKS[block]), True
        return
    await state.set_state(ReplyForm.text)
    await state.update_data(client_chat=chat.id)
    await callback.bot.send_message(  # type: ignore[union-attr]
        callback.from_user.id,
        tr("clients.reply_prompt", name=esc(truncate(chat.full_name or "—", 80))),
        reply_markup=cancel_kb(tr),
    )


@router.callback_query(TalkCB.filter(F.action == TalkAction.CANCEL))
async def cancel_reply(
    callback: CallbackQuery, state: FSMContext, tr: Translator, callback_answer: CallbackAnswer
) -> None:
    if await state.get_state() == ReplyForm.text.state:
        await state.set_state(None)
    callback_answer.text = tr("clients.cancelled")
    if callback.message is not None:
        await callback.bot.delete_message(callback.message.chat.id, callback.message.message_id)  # type: ignore[union-attr]


@router.message(ReplyForm.text, ~F.text.startswith("/"))
async def reply_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    data = await state.get_data()
    await state.set_state(None)
    await _send_reply(message, session, user, tr, bot, int(data.get("client_chat") or 0))


@router.message(RepliesToNotice(), ~F.text.startswith("/"))
async def reply_to_notice(
    message: Message, session: AsyncSession, user: User, tr: Translator, bot: Bot, client_chat: int
) -> None:
    await _send_reply(message, session, user, tr, bot, client_chat)


async def _send_reply(
    message: Message, session: AsyncSession, user: User, tr: Translator, bot: Bot, chat_id: int
) -> None:
    chat = await _chat(session, user, chat_id)
    if chat is None:
        await message.answer(tr("clients.not_yours"))
        return
    block = await business_service.reply_block(session, chat)
    if block is not None:
        await message.answer(tr(BLOCKS[block]))
        return
    outgoing = incoming_of(message)
    if outgoing.kind not in ("text", "photo", "document"):
        await message.answer(tr("clients.reply_kinds"))
        return
    extra = {"business_connection_id": chat.business_connection_id} if chat.business_connection_id else {}
    caption = esc(message.caption) if message.caption else None
    try:
        if outgoing.kind == "photo":
            sent = await bot.send_photo(chat.chat_id, outgoing.file_id or "", caption=caption, **extra)
        elif outgoing.kind == "document":
            sent = await bot.send_document(chat.chat_id, outgoing.file_id or "", caption=caption, **extra)
        else:
            sent = await bot.send_message(chat.chat_id, esc(message.text or ""), **extra)
    except TelegramForbiddenError:
        await conv.mark_unreachable(session, chat.channel, chat.chat_id)
        await message.answer(tr("clients.block.unreachable"))
        return
    except TelegramBadRequest as exc:
        log.warning("a reply to client chat %s was refused: %s", chat.id, exc.message)
        await message.answer(tr("clients.reply_refused"))
        return
    logged = conv.Incoming(sent.message_id, outgoing.kind, outgoing.text, outgoing.file_id)
    await conv.log_reply(session, user, chat, logged)
    close = InlineKeyboardButton(
        text=tr("clients.btn.close"), callback_data=TalkCB(action=TalkAction.CLOSE, chat=chat.id).pack()
    )
    await message.answer(
        tr("clients.reply_sent", name=esc(truncate(chat.full_name or "—", 80))),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[close]]),
    )


@router.callback_query(TalkCB.filter(F.action == TalkAction.TAKE))
async def take_button(
    callback: CallbackQuery,
    callback_data: TalkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    if await _pressed_chat(session, user, tr, callback_data.chat, callback_answer) is None:
        return
    await conv.take(session, user, callback_data.chat)
    callback_answer.text = tr("clients.taken")


@router.callback_query(TalkCB.filter(F.action == TalkAction.CLOSE))
async def close_button(
    callback: CallbackQuery,
    callback_data: TalkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    if await _pressed_chat(session, user, tr, callback_data.chat, callback_answer) is None:
        return
    await conv.close(session, user, callback_data.chat)
    await show(callback, tr("clients.closed"))


@router.callback_query(TalkCB.filter(F.action == TalkAction.NO_LOG))
async def no_log_button(
    callback: CallbackQuery,
    callback_data: TalkCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        await business_service.set_do_not_log(session, user, callback_data.chat)
    except (NotFound, AccessDenied):
        callback_answer.text, callback_answer.show_alert = tr("clients.not_yours"), True
        return
    callback_answer.text, callback_answer.show_alert = tr("clients.no_log_done"), True


@router.message(Command("duty"))
async def duty_command(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    on = not await routing.is_on_duty(session, user.id)
    await routing.set_on_duty(session, user, on)
    await message.answer(tr("clients.duty_on") if on else tr("clients.duty_off"))
