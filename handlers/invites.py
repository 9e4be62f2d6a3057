"""/invite: an admin makes a single-use, expiring deep link that lets one colleague in."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import zone_of
from crm_core.errors import AccessDenied
from crm_core.formatting import format_datetime
from crm_core.models import User
from crm_core.services import users as users_service
from handlers.callbacks import InviteCB, MenuAction, MenuCB
from handlers.keyboards import back_to_menu, invite_roles
from handlers.start import INVITE_PREFIX
from handlers.texts import Translator
from handlers.texts.names import ROLE_NAMES
from handlers.ui import show

router = Router(name="invites")


@router.message(Command("invite"), F.chat.type == "private")
async def invite_command(message: Message, user: User, tr: Translator) -> None:
    if not user.is_admin:
        await message.answer(tr("invite.admin_only"))
        return
    await message.answer(tr("invite.choose_role"), reply_markup=invite_roles(tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.INVITE))
async def invite_button(callback: CallbackQuery, user: User, tr: Translator) -> None:
    if not user.is_admin:
        raise AccessDenied(action="create_invite")
    await show(callback, tr("invite.choose_role"), invite_roles(tr))


@router.callback_query(InviteCB.filter())
async def create_invite(
    callback: CallbackQuery,
    callback_data: InviteCB,
    session: AsyncSession,
    user: User,
    bot: Bot,
    tr: Translator,
) -> None:
    # The button data could be forged: the role is a Role already (InviteCB), and the service
    # re-checks that the presser is an admin.
    role = callback_data.role
    invite = await users_service.create_invite(session, user, role=role)
    link = await create_start_link(bot, INVITE_PREFIX + invite.code)
    expires = format_datetime(invite.expires_at, zone_of(user.timezone), user.language)
    await show(
        callback,
        tr("invite.created", role=tr(ROLE_NAMES[role]), expires=expires, link=link),
        back_to_menu(tr),
    )
