"""/admin: the home screen of the admin section, whose concerns each have a router of their own
(admin_users, admin_invites, admin_pipelines, admin_required; shared pieces in admin_common).

Admins only: every button is re-checked at the admin routers' door (anyone else gets a polite
refusal, whatever data their client sends) and again by crm_core, where the rules live (the
last admin stays an admin, a stage with items is not deleted, a pipeline keeps its success and
failure stages).
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from crm_core.models import User
from handlers.admin_clients import ClientsCB
from handlers.admin_common import AdmCB, AdminAction, AdminDoor, Ctx, Screen, back, button, kb, leave_form
from handlers.admin_forms import FormsCB
from handlers.admin_invites import InvitesCB
from handlers.admin_pipelines import PipelinesCB
from handlers.admin_required import RequiredCB
from handlers.admin_rest import RestCB
from handlers.admin_users import UsersCB
from handlers.callbacks import MenuAction, MenuCB
from handlers.mail_boxes import BoxAction, BoxCB
from handlers.texts import Translator
from handlers.ui import reply_screen, show

router = Router(name="admin")
router.callback_query.middleware(AdminDoor())


def home_screen(tr: Translator) -> Screen:
    return tr("adm.title"), kb(
        [
            [button(tr("adm.btn.users"), UsersCB()), button(tr("adm.btn.invites"), InvitesCB())],
            [button(tr("adm.btn.pipelines"), PipelinesCB()), button(tr("adm.btn.required"), RequiredCB())],
            [
                button(tr("mail.btn.admin"), BoxCB(action=BoxAction.TEAM)),
                button(tr("adm.btn.rest"), RestCB()),
            ],
            [button(tr("adf.btn"), FormsCB()), button(tr("adm.btn.clients"), ClientsCB())],
            back(tr, MenuCB(action=MenuAction.MAIN)),
        ]
    )


@router.message(Command("admin"), F.chat.type == "private")
async def admin_command(message: Message, user: User, tr: Translator, state: FSMContext) -> None:
    if not user.is_admin:
        await message.answer(tr("adm.only"))
        return
    await leave_form(state)
    await reply_screen(message, home_screen(tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.ADMIN))
async def admin_menu_button(callback: CallbackQuery, ctx: Ctx) -> None:
    await show(callback, *home_screen(ctx.tr))


@router.callback_query(AdmCB.filter(F.action == AdminAction.HOME))
async def admin_home_button(callback: CallbackQuery, ctx: Ctx) -> None:
    await show(callback, *home_screen(ctx.tr))


__all__ = ["AdmCB", "home_screen", "router"]
