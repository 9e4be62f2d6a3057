"""/admin -> Clients: the bot as an open line. On/off, the greeting in each language, the routing
rule (round robin among those on duty, or one fixed person) and the queue time. Admins only (the
door), and crm_core checks again."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.models import RoutingRule, User
from crm_core.services import routing
from handlers.admin_common import AdmCB, AdminDoor, Ctx, Screen, back, button, kb, name
from handlers.callbacks import Unpacked
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import reply_screen, show

router = Router(name="admin_clients")
router.callback_query.middleware(AdminDoor())
PEOPLE_LIMIT = 30


class ClientsAction(StrEnum):
    HOME = "home"
    TOGGLE = "on"
    GREET_EN = "gen"
    GREET_RU = "gru"
    ROUND_ROBIN = "rr"
    FIXED = "fix"  # choose the person
    PERSON = "p"
    QUEUE = "q"


class ClientsCB(Unpacked, CallbackData, prefix="acl"):
    action: ClientsAction = ClientsAction.HOME
    value: int = 0


class ClientsForm(StatesGroup):
    greeting_en = State()
    greeting_ru = State()
    queue = State()


def on(action: ClientsAction, value: int = 0) -> ClientsCB:
    return ClientsCB(action=action, value=value)


async def home_screen(session: AsyncSession, tr: Translator) -> Screen:
    channel = await routing.channel_settings(session)
    if channel.rule == RoutingRule.FIXED and channel.fixed_user_id:
        person = await session.get(User, channel.fixed_user_id)
        rule = tr("adm.cl.rule_fixed", name=name(person.full_name if person else "—"))
    else:
        rule = tr("adm.cl.rule_rr", count=len(await routing.on_duty_ids(session)))
    lines = [
        tr("adm.cl.title"),
        tr("adm.cl.on") if channel.enabled else tr("adm.cl.off"),
        rule,
        tr("adm.cl.queue", count=channel.queue_minutes),
        tr("adm.cl.greeting_en", text=esc(truncate(channel.greeting_en, 200)) or tr("adm.cl.default")),
        tr("adm.cl.greeting_ru", text=esc(truncate(channel.greeting_ru, 200)) or tr("adm.cl.default")),
    ]
    toggle = tr("adm.cl.btn.off") if channel.enabled else tr("adm.cl.btn.on")
    return "\n".join(lines), kb(
        [
            [button(toggle, on(ClientsAction.TOGGLE))],
            [
                button(tr("adm.cl.btn.greet_en"), on(ClientsAction.GREET_EN)),
                button(tr("adm.cl.btn.greet_ru"), on(ClientsAction.GREET_RU)),
            ],
            [
                button(tr("adm.cl.btn.rr"), on(ClientsAction.ROUND_ROBIN)),
                button(tr("adm.cl.btn.fixed"), on(ClientsAction.FIXED)),
            ],
            [button(tr("adm.cl.btn.queue"), on(ClientsAction.QUEUE))],
            back(tr, AdmCB()),
        ]
    )


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.HOME))
async def home(cb: CallbackQuery, ctx: Ctx) -> None:
    await show(cb, *await home_screen(ctx.session, ctx.tr))


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.TOGGLE))
async def toggle(cb: CallbackQuery, ctx: Ctx) -> None:
    channel = await routing.channel_settings(ctx.session)
    await routing.set_enabled(ctx.session, ctx.user, not channel.enabled)
    await show(cb, *await home_screen(ctx.session, ctx.tr))


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.ROUND_ROBIN))
async def round_robin(cb: CallbackQuery, ctx: Ctx) -> None:
    await routing.set_rule(ctx.session, ctx.user, RoutingRule.ROUND_ROBIN)
    await show(cb, *await home_screen(ctx.session, ctx.tr))


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.FIXED))
async def choose_person(cb: CallbackQuery, ctx: Ctx) -> None:
    people = await ctx.session.scalars(
        select(User).where(User.is_active).order_by(User.id).limit(PEOPLE_LIMIT)
    )
    rows = [[button(truncate(p.full_name or str(p.id), 40), on(ClientsAction.PERSON, p.id))] for p in people]
    await show(cb, ctx.tr("adm.cl.choose_person"), kb([*rows, back(ctx.tr, on(ClientsAction.HOME))]))


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.PERSON))
async def fixed_person(cb: CallbackQuery, ctx: Ctx, callback_data: ClientsCB) -> None:
    try:
        await routing.set_rule(ctx.session, ctx.user, RoutingRule.FIXED, fixed_user_id=callback_data.value)
    except ValidationFailed:
        ctx.alert(ctx.tr("adm.cl.person_bad"))
        return
    await show(cb, *await home_screen(ctx.session, ctx.tr))


@router.callback_query(ClientsCB.filter(F.action.in_({ClientsAction.GREET_EN, ClientsAction.GREET_RU})))
async def ask_greeting(cb: CallbackQuery, ctx: Ctx, callback_data: ClientsCB) -> None:
    form = (
        ClientsForm.greeting_ru if callback_data.action == ClientsAction.GREET_RU else ClientsForm.greeting_en
    )
    await ctx.state.set_state(form)
    cancel = kb([[button(ctx.tr("adm.btn.cancel"), on(ClientsAction.HOME))]])
    await show(cb, ctx.tr("adm.cl.ask_greeting", limit=routing.GREETING_LIMIT), cancel)


@router.callback_query(ClientsCB.filter(F.action == ClientsAction.QUEUE))
async def ask_queue(cb: CallbackQuery, ctx: Ctx) -> None:
    await ctx.state.set_state(ClientsForm.queue)
    cancel = kb([[button(ctx.tr("adm.btn.cancel"), on(ClientsAction.HOME))]])
    await show(cb, ctx.tr("adm.cl.ask_queue", limit=routing.QUEUE_MINUTES_MAX), cancel)


TYPED = (F.text, ~F.text.startswith("/"))


@router.message(ClientsForm.greeting_en, *TYPED)
@router.message(ClientsForm.greeting_ru, *TYPED)
async def greeting_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    language = "ru" if await state.get_state() == ClientsForm.greeting_ru.state else "en"
    await state.set_state(None)
    if not user.is_admin:
        await message.answer(tr("adm.only"))
        return
    try:
        await routing.set_greeting(session, user, language, message.text or "")
    except ValidationFailed:
        await message.answer(tr("adm.cl.greeting_bad", limit=routing.GREETING_LIMIT))
        return
    await reply_screen(message, await home_screen(session, tr), tr("adm.cl.saved"))


@router.message(ClientsForm.queue, *TYPED)
async def queue_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await state.set_state(None)
    if not user.is_admin:
        await message.answer(tr("adm.only"))
        return
    text = (message.text or "").strip()
    try:
        await routing.set_queue_minutes(session, user, int(text) if text.isdigit() else 0)
    except ValidationFailed:
        await message.answer(tr("adm.cl.queue_bad", limit=routing.QUEUE_MINUTES_MAX))
        return
    await reply_screen(message, await home_screen(session, tr), tr("adm.cl.saved"))
