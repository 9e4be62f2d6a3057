"""Admin: the invites still open, their links and revoking one. A new invite is made by /invite
(handlers/invites.py)."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy import select

from crm_core.clock import zone_of
from crm_core.formatting import format_datetime
from crm_core.models import User
from crm_core.services import users as users_service
from handlers.admin_common import AdmCB, AdminDoor, Ctx, Screen, back, button, kb, name
from handlers.callbacks import MenuAction, MenuCB, Unpacked
from handlers.render import esc
from handlers.start import INVITE_PREFIX
from handlers.texts.names import ROLE_NAMES
from handlers.ui import show

router = Router(name="admin_invites")
router.callback_query.middleware(AdminDoor())

INVITES_SHOWN = 15


class InviteAction(StrEnum):
    LIST = "list"
    REVOKE = "revoke"


class InvitesCB(Unpacked, CallbackData, prefix="adi"):
    action: InviteAction = InviteAction.LIST
    id: int = 0  # the invite


async def invites_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    invites = (await users_service.list_invites(ctx.session, ctx.user))[:INVITES_SHOWN]
    authors = {
        u.id: u
        for u in await ctx.session.scalars(
            select(User).where(User.id.in_({i.created_by_id for i in invites}))
        )
    }
    zone = zone_of(ctx.user.timezone)
    lines = [tr("adm.inv.title")]
    rows = []
    for n, invite in enumerate(invites, 1):
        author = authors.get(invite.created_by_id)
        link = await create_start_link(ctx.bot, INVITE_PREFIX + invite.code)
        lines.append(
            tr(
                "adm.inv.line",
                n=n,
                role=tr(ROLE_NAMES[invite.role]),
                expires=format_datetime(invite.expires_at, zone, tr.language),
                author=name(author.full_name if author else "?"),
                link=esc(link),
            )
        )
        rows.append([button(tr("adm.inv.revoke", n=n), InvitesCB(action=InviteAction.REVOKE, id=invite.id))])
    if not invites:
        lines.append(tr("adm.inv.none"))
    rows.append([button(tr("adm.inv.new"), MenuCB(action=MenuAction.INVITE))])
    rows.append(back(tr, AdmCB()))
    return "\n\n".join(lines), kb(rows)


@router.callback_query(InvitesCB.filter(F.action == InviteAction.LIST))
async def invites_list(cb: CallbackQuery, ctx: Ctx) -> None:
    await show(cb, *await invites_screen(ctx))


@router.callback_query(InvitesCB.filter(F.action == InviteAction.REVOKE))
async def invite_revoke(cb: CallbackQuery, callback_data: InvitesCB, ctx: Ctx) -> None:
    await users_service.revoke_invite(ctx.session, ctx.user, callback_data.id)
    ctx.note(ctx.tr("adm.inv.revoked"))
    await show(cb, *await invites_screen(ctx))
