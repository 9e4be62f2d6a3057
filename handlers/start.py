"""/start (with invite deep links), /menu, /help and /cancel."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import InviteInvalid
from crm_core.models import User
from crm_core.services import users as users_service
from crm_core.services.counters import get_counters
from handlers.callbacks import MenuAction, MenuCB
from handlers.commands import help_lines
from handlers.context import HandlerOptions
from handlers.keyboards import back_to_menu, main_menu
from handlers.render import esc
from handlers.texts import LANGUAGES, N_, Translator
from handlers.texts.names import ROLE_NAMES
from handlers.ui import show

router = Router(name="start")

INVITE_PREFIX = "inv_"
# Why a link was refused (InviteInvalid's reason) -> what the person reads.
INVITE_INVALID = {
    "unknown": N_("invite.invalid.unknown"),
    "used": N_("invite.invalid.used"),
    "expired": N_("invite.invalid.expired"),
}


@router.message(Command("cancel"))
async def cancel(message: Message, state: FSMContext, tr: Translator) -> None:
    # Registered first so that it leaves any form, whatever state the user is in.
    if await state.get_state() is None:
        await message.answer(tr("nothing_to_cancel"))
        return
    await state.clear()
    await message.answer(tr("cancelled"))


@router.message(
    CommandStart(deep_link=True, magic=F.args.startswith(INVITE_PREFIX)), F.chat.type == "private"
)
async def start_with_invite(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    bot: Bot,
    options: HandlerOptions,
    profile: users_service.TelegramProfile,
    user: User | None,
    tr: Translator,
) -> None:
    code = (command.args or "")[len(INVITE_PREFIX) :]
    try:
        async with session.begin_nested():
            joined = await users_service.accept_invite(
                session, code, profile, default_timezone=options.default_timezone, languages=LANGUAGES
            )
    except InviteInvalid as exc:
        if user is not None:  # already a member: a stale link is no obstacle
            await send_main_menu(message, session, user, tr, greet=True)
            return
        reason = INVITE_INVALID.get(str(exc.params.get("reason")), INVITE_INVALID["unknown"])
        await message.answer(tr(reason))
        return
    tr = Translator(joined.language)
    await message.answer(tr("invite.accepted", role=tr(ROLE_NAMES[joined.role])))
    await send_main_menu(message, session, joined, tr, greet=True)
    await _tell_inviter(session, bot, joined)


async def _tell_inviter(session: AsyncSession, bot: Bot, joined: User) -> None:
    if joined.invited_by_id is None:
        return
    inviter = await session.get(User, joined.invited_by_id)
    if inviter is None or not inviter.is_active:
        return
    itr = Translator(inviter.language)
    text = itr("invite.new_user", name=esc(joined.full_name), role=itr(ROLE_NAMES[joined.role]))
    try:
        await bot.send_message(inviter.telegram_id, text)
    except TelegramAPIError:
        pass  # the inviter may have blocked the bot; joining must not fail because of that


@router.message(CommandStart(), F.chat.type == "private")
async def start(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    await send_main_menu(message, session, user, tr, greet=True)


@router.message(Command("menu"), F.chat.type == "private")
async def menu(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    await send_main_menu(message, session, user, tr)


@router.message(Command("help"))
async def help_command(message: Message, tr: Translator) -> None:
    await message.answer(tr("help", commands=help_lines(tr.language)))


@router.callback_query(MenuCB.filter(F.action == MenuAction.MAIN))
async def menu_button(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, await main_menu_text(session, user, tr), main_menu(tr, user))


@router.callback_query(MenuCB.filter(F.action == MenuAction.HELP))
async def help_button(callback: CallbackQuery, tr: Translator) -> None:
    await show(callback, tr("help", commands=help_lines(tr.language)), back_to_menu(tr))


async def main_menu_text(session: AsyncSession, user: User, tr: Translator) -> str:
    counters = await get_counters(session, user)
    return (
        tr("menu.title")
        + "\n"
        + tr(
            "menu.counters",
            overdue=counters.overdue,
            today=counters.today,
            incoming=counters.incoming,
            idle=counters.idle,
        )
    )


async def send_main_menu(
    message: Message, session: AsyncSession, user: User, tr: Translator, *, greet: bool = False
) -> None:
    text = await main_menu_text(session, user, tr)
    if greet:
        text = tr("welcome", name=esc(user.full_name)) + "\n\n" + text
    await message.answer(text, reply_markup=main_menu(tr, user))


__all__ = ["router", "send_main_menu"]
