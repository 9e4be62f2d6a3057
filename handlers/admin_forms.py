"""Admin: web forms. The keys that accept leads from a website, a new one (a name, then who gets
its leads: the admin by default), its ready HTML snippet, and revoking one. The rules (admins
only, names, keys) are crm_core.services.forms; the HTTP entrance is handlers/http/forms.py."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound, ValidationFailed
from crm_core.models import User, WebForm
from crm_core.services import forms as forms_service
from crm_core.services import users as users_service
from handlers.admin_common import (
    TYPED,
    AdmCB,
    AdminDoor,
    AdminForm,
    Ctx,
    Screen,
    ask,
    back,
    button,
    kb,
    name,
    typed_name,
)
from handlers.callbacks import Unpacked
from handlers.context import HandlerOptions
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="admin_forms")
router.callback_query.middleware(AdminDoor())

FORMS_SHOWN = 20
PICKER_SHOWN = 20


class FormAction(StrEnum):
    LIST = "ls"
    NEW = "n"
    PICK = "p"  # the responsible of the new form (id = the user)
    OPEN = "o"
    REVOKE = "rv"
    REVOKE_SURE = "ry"


class FormsCB(Unpacked, CallbackData, prefix="adf"):
    action: FormAction = FormAction.LIST
    id: int = 0


def form_url(options: HandlerOptions, form: WebForm) -> str:
    return f"{options.public_url.rstrip('/')}/forms/{form.key}"


async def receiver_name(ctx: Ctx, form: WebForm) -> str:
    """Who gets the form's leads, as shown to the admin (escaped)."""
    if form.responsible_id is None:
        return ctx.tr("adf.by_rule")
    responsible = await ctx.session.get(User, form.responsible_id)
    return name(responsible.full_name if responsible else "?")


async def forms_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    forms = (await forms_service.list_forms(ctx.session, ctx.user))[:FORMS_SHOWN]
    lines = [tr("adf.title")]
    rows = []
    for n, form in enumerate(forms, 1):
        lines.append(tr("adf.line", n=n, name=name(form.name), responsible=await receiver_name(ctx, form)))
        rows.append([button(f"{n}. {truncate(form.name, 40)}", FormsCB(action=FormAction.OPEN, id=form.id))])
    if not forms:
        lines.append(tr("adf.none"))
    rows.append([button(tr("adf.new"), FormsCB(action=FormAction.NEW))])
    rows.append(back(ctx.tr, AdmCB()))
    return "\n\n".join(lines), kb(rows)


async def form_screen(ctx: Ctx, options: HandlerOptions, form_id: int) -> Screen:
    tr = ctx.tr
    form = await forms_service.get_form_for_admin(ctx.session, ctx.user, form_id)
    url = form_url(options, form)
    text = tr(
        "adf.card",
        name=name(form.name),
        responsible=await receiver_name(ctx, form),
        count=await forms_service.count_submissions(ctx.session, form.id),
        url=esc(url),
        snippet=esc(tr("adf.snippet", url=url)),
    )
    rows = [
        [button(tr("adf.revoke"), FormsCB(action=FormAction.REVOKE, id=form.id))],
        back(tr, FormsCB()),
    ]
    return text, kb(rows)


@router.callback_query(FormsCB.filter(F.action == FormAction.LIST))
async def forms_list(cb: CallbackQuery, ctx: Ctx) -> None:
    await show(cb, *await forms_screen(ctx))


@router.callback_query(FormsCB.filter(F.action == FormAction.OPEN))
async def form_open(cb: CallbackQuery, callback_data: FormsCB, ctx: Ctx, options: HandlerOptions) -> None:
    try:
        screen = await form_screen(ctx, options, callback_data.id)
    except NotFound:
        ctx.alert(ctx.tr("adf.gone"))
        screen = await forms_screen(ctx)
    await show(cb, *screen)


@router.callback_query(FormsCB.filter(F.action == FormAction.NEW))
async def form_new(cb: CallbackQuery, ctx: Ctx) -> None:
    await ask(cb, ctx, ctx.tr("adf.ask_name"), AdminForm.web_form_name, FormsCB())


@router.message(AdminForm.web_form_name, *TYPED)
async def form_name_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:

    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    if len(typed) > forms_service.NAME_LIMIT:
        await message.answer(tr("adf.name_long", max=forms_service.NAME_LIMIT))
        return
    await state.set_state(None)  # keep other features' data
    await state.update_data(web_form_name=typed)
    people = await users_service.list_users(session, user)
    people.sort(key=lambda u: u.id != user.id)  # the admin first: the default
    rows = [
        [
            button(
                ("⭐ " if u.id == user.id else "") + truncate(u.full_name or str(u.telegram_id), 40),
                FormsCB(action=FormAction.PICK, id=u.id),
            )
        ]
        for u in people[:PICKER_SHOWN]
    ]
    # id 0: nobody in particular, the client channel's routing rule decides per lead
    rows.append([button(tr("adf.by_rule_btn"), FormsCB(action=FormAction.PICK, id=0))])
    rows.append(back(tr, FormsCB()))
    await message.answer(tr("adf.ask_responsible", name=name(typed)), reply_markup=kb(rows))


@router.callback_query(FormsCB.filter(F.action == FormAction.PICK))
async def form_pick(cb: CallbackQuery, callback_data: FormsCB, ctx: Ctx, options: HandlerOptions) -> None:
    data = await ctx.state.get_data()
    typed = data.get("web_form_name")
    if not typed:
        ctx.alert(ctx.tr("adf.gone"))
        await show(cb, *await forms_screen(ctx))
        return
    try:
        form = await forms_service.create_form(
            ctx.session,
            ctx.user,
            typed,
            responsible_id=callback_data.id or None,
            routed=callback_data.id == 0,
        )
    except (NotFound, ValidationFailed):
        ctx.alert(ctx.tr("adf.bad_responsible"))
        return
    await ctx.state.update_data(web_form_name=None)
    ctx.note(ctx.tr("adf.created"))
    await show(cb, *await form_screen(ctx, options, form.id))


@router.callback_query(FormsCB.filter(F.action == FormAction.REVOKE))
async def form_revoke(cb: CallbackQuery, callback_data: FormsCB, ctx: Ctx) -> None:
    try:
        form = await forms_service.get_form_for_admin(ctx.session, ctx.user, callback_data.id)
    except NotFound:
        ctx.alert(ctx.tr("adf.gone"))
        await show(cb, *await forms_screen(ctx))
        return
    rows = [
        [button(ctx.tr("adf.revoke_sure"), FormsCB(action=FormAction.REVOKE_SURE, id=form.id))],
        back(ctx.tr, FormsCB(action=FormAction.OPEN, id=form.id)),
    ]
    await show(cb, ctx.tr("adf.revoke_ask", name=name(form.name)), kb(rows))


@router.callback_query(FormsCB.filter(F.action == FormAction.REVOKE_SURE))
async def form_revoke_sure(cb: CallbackQuery, callback_data: FormsCB, ctx: Ctx) -> None:
    try:
        await forms_service.revoke_form(ctx.session, ctx.user, callback_data.id)
        ctx.note(ctx.tr("adf.revoked"))
    except NotFound:
        ctx.alert(ctx.tr("adf.gone"))
    await show(cb, *await forms_screen(ctx))


__all__ = ["FormsCB", "router"]
