"""Admin: people. The list, a person's card, their role, department and access."""

from __future__ import annotations

from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.models import Department, Role, User
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
    main_menu_kb,
    name,
    typed_name,
)
from handlers.callbacks import Unpacked
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.texts.names import ROLE_NAMES
from handlers.ui import reply_screen, show

router = Router(name="admin_users")
router.callback_query.middleware(AdminDoor())

USERS_PAGE = 8


class UserAction(StrEnum):
    LIST = "list"
    OPEN = "open"
    ROLE = "role"  # value: the role
    DEPARTMENTS = "depts"
    DEPARTMENT = "dept"  # value: the department id, 0 for none
    DEPARTMENT_NEW = "dept_new"
    DEACTIVATE = "off"  # asks first
    DEACTIVATE_YES = "off_yes"
    REACTIVATE = "on"


class UsersCB(Unpacked, CallbackData, prefix="adu"):
    action: UserAction = UserAction.LIST
    id: int = 0  # the person
    page: int = 0  # of the list, to come back to
    value: str = ""


async def users_screen(ctx: Ctx, page: int) -> Screen:
    page = max(0, page)
    users, total = await users_service.list_users_page(
        ctx.session, ctx.user, offset=page * USERS_PAGE, limit=USERS_PAGE
    )
    if not users and page:
        page = max(0, (total - 1) // USERS_PAGE)
        users, total = await users_service.list_users_page(
            ctx.session, ctx.user, offset=page * USERS_PAGE, limit=USERS_PAGE
        )
    tr = ctx.tr
    rows = []
    for u in users:
        label = ("🚫 " if not u.is_active else "") + truncate(u.full_name or str(u.telegram_id), 40)
        rows.append(
            [
                button(
                    f"{label} · {tr(ROLE_NAMES[u.role])}", UsersCB(action=UserAction.OPEN, id=u.id, page=page)
                )
            ]
        )
    nav = []
    if page:
        nav.append(button(tr("adm.btn.prev"), UsersCB(page=page - 1)))
    if (page + 1) * USERS_PAGE < total:
        nav.append(button(tr("adm.btn.next"), UsersCB(page=page + 1)))
    if nav:
        rows.append(nav)
    rows.append(back(tr, AdmCB()))
    return tr("adm.users.title", total=total), kb(rows)


async def user_screen(ctx: Ctx, user_id: int, page: int) -> Screen:
    tr = ctx.tr
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, user_id)
    dept = await ctx.session.get(Department, target.department_id) if target.department_id else None
    username = f" @{esc(target.username)}" if target.username else ""
    if target.id == ctx.user.id:
        username += tr("adm.user.you")
    text = tr(
        "adm.user.card",
        name=name(target.full_name),
        username=username,
        role=tr(ROLE_NAMES[target.role]),
        department=name(dept.name) if dept else tr("adm.user.no_department"),
        status=tr("adm.user.active") if target.is_active else tr("adm.user.inactive"),
    )

    def on(action: UserAction, value: str = "") -> UsersCB:
        return UsersCB(action=action, id=target.id, page=page, value=value)

    roles = [
        button(
            ("✅ " if target.role == role else "") + tr(ROLE_NAMES[role]).capitalize(),
            on(UserAction.ROLE, role),
        )
        for role in (Role.SALESPERSON, Role.HEAD, Role.ADMIN)
    ]
    access = (
        button(tr("adm.btn.deactivate"), on(UserAction.DEACTIVATE))
        if target.is_active
        else button(tr("adm.btn.reactivate"), on(UserAction.REACTIVATE))
    )
    rows = [roles[:2], roles[2:], [button(tr("adm.btn.department"), on(UserAction.DEPARTMENTS))], [access]]
    rows.append(back(tr, UsersCB(page=page)))
    return text, kb(rows)


@router.callback_query(UsersCB.filter(F.action == UserAction.LIST))
async def users_list(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    await show(cb, *await users_screen(ctx, callback_data.page))


@router.callback_query(UsersCB.filter(F.action == UserAction.OPEN))
async def user_card(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    await show(cb, *await user_screen(ctx, callback_data.id, callback_data.page))


@router.callback_query(UsersCB.filter(F.action == UserAction.ROLE))
async def user_role(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    data = callback_data
    try:
        target = await users_service.set_role(ctx.session, ctx.user, data.id, data.value)
    except users_service.LastAdmin:
        ctx.alert(ctx.tr("adm.last_admin"))
        return
    done = ctx.tr("adm.user.role_set", role=ctx.tr(ROLE_NAMES[target.role]))
    ctx.note(done)
    if not ctx.user.is_admin:  # they stepped down themselves: the admin screens are closed now
        await show(cb, done, main_menu_kb(ctx.tr))
        return
    await show(cb, *await user_screen(ctx, data.id, data.page))


@router.callback_query(UsersCB.filter(F.action == UserAction.DEPARTMENTS))
async def user_departments(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    tr, page = ctx.tr, callback_data.page
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, callback_data.id)
    departments = await users_service.list_departments(ctx.session)
    current = next((d for d in departments if d.id == target.department_id), None)

    def choose(dept_id: int) -> UsersCB:
        return UsersCB(action=UserAction.DEPARTMENT, id=target.id, page=page, value=str(dept_id))

    rows = [
        [button(("✅ " if d.id == target.department_id else "") + truncate(d.name, 40), choose(d.id))]
        for d in departments
    ]
    rows.append([button(("✅ " if current is None else "") + tr("adm.dept.none"), choose(0))])
    rows.append(
        [button(tr("adm.dept.new"), UsersCB(action=UserAction.DEPARTMENT_NEW, id=target.id, page=page))]
    )
    rows.append(back(tr, UsersCB(action=UserAction.OPEN, id=target.id, page=page)))
    text = tr(
        "adm.dept.title",
        name=name(target.full_name),
        department=name(current.name) if current else tr("adm.user.no_department"),
    )
    await show(cb, text, kb(rows))


@router.callback_query(UsersCB.filter(F.action == UserAction.DEPARTMENT))
async def user_department_set(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    try:
        dept_id = int(callback_data.value) or None
    except ValueError:
        raise ValidationFailed("bad department", field="department") from None
    target = await users_service.set_department(ctx.session, ctx.user, callback_data.id, dept_id)
    dept = await ctx.session.get(Department, dept_id) if dept_id else None
    ctx.note(ctx.tr("adm.dept.set", department=truncate(dept.name, 40) if dept else "—"))
    await show(cb, *await user_screen(ctx, target.id, callback_data.page))


@router.callback_query(UsersCB.filter(F.action == UserAction.DEPARTMENT_NEW))
async def user_department_new(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, callback_data.id)
    page = callback_data.page
    cancel = UsersCB(action=UserAction.DEPARTMENTS, id=target.id, page=page)
    await ask(
        cb, ctx, ctx.tr("adm.dept.ask"), AdminForm.department, cancel, adm_user=target.id, adm_page=page
    )


@router.callback_query(UsersCB.filter(F.action == UserAction.DEACTIVATE))
async def user_deactivate_confirm(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, callback_data.id)
    page = callback_data.page
    rows = [
        [
            button(
                ctx.tr("adm.btn.yes_deactivate"),
                UsersCB(action=UserAction.DEACTIVATE_YES, id=target.id, page=page),
            )
        ],
        [button(ctx.tr("adm.btn.cancel"), UsersCB(action=UserAction.OPEN, id=target.id, page=page))],
    ]
    await show(cb, ctx.tr("adm.user.confirm_deactivate", name=name(target.full_name)), kb(rows))


@router.callback_query(UsersCB.filter(F.action == UserAction.DEACTIVATE_YES))
async def user_deactivate(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    try:
        await users_service.deactivate_user(ctx.session, ctx.user, callback_data.id)
    except users_service.LastAdmin:
        ctx.alert(ctx.tr("adm.last_admin"))
        return
    ctx.note(ctx.tr("adm.user.deactivated"))
    if not ctx.user.is_active:  # switched themselves off (another admin remains)
        await show(cb, ctx.tr("deactivated"))
        return
    await show(cb, *await user_screen(ctx, callback_data.id, callback_data.page))


@router.callback_query(UsersCB.filter(F.action == UserAction.REACTIVATE))
async def user_reactivate(cb: CallbackQuery, callback_data: UsersCB, ctx: Ctx) -> None:
    await users_service.reactivate_user(ctx.session, ctx.user, callback_data.id)
    ctx.note(ctx.tr("adm.user.reactivated"))
    await show(cb, *await user_screen(ctx, callback_data.id, callback_data.page))


@router.message(AdminForm.department, *TYPED)
async def department_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    data = await state.get_data()
    await state.set_state(None)  # keep other features' data
    dept = await users_service.create_department(session, user, typed)
    await users_service.set_department(session, user, int(data.get("adm_user") or 0), dept.id)
    ctx = Ctx(session, user, tr, state, bot)
    await reply_screen(
        message,
        await user_screen(ctx, int(data["adm_user"]), int(data.get("adm_page") or 0)),
        tr("adm.dept.set", department=name(dept.name)),
    )
