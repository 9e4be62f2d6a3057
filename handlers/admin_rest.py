"""Admin: the REST API's tokens. Each belongs to one person and acts with exactly their rights; a new
token's webhook address is shown once (only its hash is kept); revoking one refuses its calls at
once. The rules (admins only, an active owner) are crm_core.services.rest_tokens'."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery
from sqlalchemy import select

from crm_core.clock import zone_of
from crm_core.formatting import format_datetime
from crm_core.models import User
from crm_core.services import rest_tokens
from crm_core.services import users as users_service
from handlers.admin_common import AdmCB, AdminDoor, Ctx, Screen, back, button, kb, name
from handlers.callbacks import Unpacked
from handlers.context import HandlerOptions
from handlers.render import esc
from handlers.ui import show

router = Router(name="admin_rest")
router.callback_query.middleware(AdminDoor())

TOKENS_SHOWN = 15
PEOPLE_SHOWN = 30


class RestAction(StrEnum):
    LIST = "list"
    PICK = "pick"
    CREATE = "create"
    REVOKE = "revoke"


class RestCB(Unpacked, CallbackData, prefix="api"):
    action: RestAction = RestAction.LIST
    id: int = 0  # the token (revoke) or the person (create)


async def tokens_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    tokens = (await rest_tokens.list_tokens(ctx.session, ctx.user))[:TOKENS_SHOWN]
    owners = {
        u.id: u
        for u in await ctx.session.scalars(select(User).where(User.id.in_({t.user_id for t in tokens})))
    }
    zone = zone_of(ctx.user.timezone)
    lines = [tr("adm.rest.title")]
    rows = []
    for n, token in enumerate(tokens, 1):
        owner = owners.get(token.user_id)
        created = format_datetime(token.created_at, zone, tr.language)
        lines.append(tr("adm.rest.line", n=n, owner=name(owner.full_name if owner else "?"), created=created))
        rows.append([button(tr("adm.rest.revoke", n=n), RestCB(action=RestAction.REVOKE, id=token.id))])
    if not tokens:
        lines.append(tr("adm.rest.none"))
    rows.append([button(tr("adm.rest.new"), RestCB(action=RestAction.PICK))])
    rows.append(back(tr, AdmCB()))
    return "\n\n".join(lines), kb(rows)


@router.callback_query(RestCB.filter(F.action == RestAction.LIST))
async def tokens_list(cb: CallbackQuery, ctx: Ctx) -> None:
    await show(cb, *await tokens_screen(ctx))


@router.callback_query(RestCB.filter(F.action == RestAction.PICK))
async def pick_owner(cb: CallbackQuery, ctx: Ctx) -> None:
    people = [u for u in await users_service.list_users(ctx.session, ctx.user) if u.is_active][:PEOPLE_SHOWN]
    rows = [[button(u.full_name or str(u.id), RestCB(action=RestAction.CREATE, id=u.id))] for u in people]
    rows.append(back(ctx.tr, RestCB()))
    await show(cb, ctx.tr("adm.rest.pick"), kb(rows))


@router.callback_query(RestCB.filter(F.action == RestAction.CREATE))
async def create(cb: CallbackQuery, callback_data: RestCB, ctx: Ctx, options: HandlerOptions) -> None:
    issued = await rest_tokens.create_token(ctx.session, ctx.user, callback_data.id)
    owner = await ctx.session.get(User, issued.token.user_id)
    url = f"{options.public_url.rstrip('/')}/rest/{issued.token.user_id}/{issued.secret}/"
    text = ctx.tr("adm.rest.created", owner=name(owner.full_name if owner else "?"), url=esc(url))
    await show(cb, text, kb([back(ctx.tr, RestCB())]))


@router.callback_query(RestCB.filter(F.action == RestAction.REVOKE))
async def revoke(cb: CallbackQuery, callback_data: RestCB, ctx: Ctx) -> None:
    await rest_tokens.revoke_token(ctx.session, ctx.user, callback_data.id)
    ctx.note(ctx.tr("adm.rest.revoked"))
    await show(cb, *await tokens_screen(ctx))
