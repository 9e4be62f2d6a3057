"""/admin: users (role, department, access), invites, pipelines and stages, required fields.

Admins only: every button is re-checked here (anyone else gets a polite refusal, whatever data
their client sends) and again by crm_core, where the rules live (the last admin stays an admin,
a stage with items is not deleted, a pipeline keeps its success and failure stages).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import zone_of
from crm_core.errors import PipelineInvariantViolated, StageNotEmpty, ValidationFailed
from crm_core.models import Department, Role, User
from crm_core.models.items import ItemType, Pipeline, Stage, StageSemantics
from crm_core.services import admin_queries
from crm_core.services import pipelines as pipelines_service
from crm_core.services import users as users_service
from crm_core.services.required_fields import REQUIRABLE_FIELDS, set_required_fields
from handlers.callbacks import MenuAction, MenuCB
from handlers.render import esc, truncate
from handlers.start import INVITE_PREFIX
from handlers.texts import Translator
from handlers.ui import reply_screen, show

router = Router(name="admin")


USERS_PAGE = 8
INVITES_SHOWN = 15
NAME_LIMIT = 60  # of a typed name shown in a message or on a button
# (key, colour): the stage palette; each has an emoji of its own in the texts.
PALETTE: tuple[tuple[str, str], ...] = (
    ("blue", "#39A8EF"),
    ("green", "#7BD500"),
    ("yellow", "#FFD200"),
    ("orange", "#FFA900"),
    ("red", "#FF5752"),
    ("purple", "#9D6BE0"),
    ("brown", "#A0714F"),
    ("grey", "#525C69"),
)
PALETTE_EMOJI = {"blue": "🔵", "green": "🟢", "yellow": "🟡", "orange": "🟠", "red": "🔴",
                 "purple": "🟣", "brown": "🟤", "grey": "⚫"}  # fmt: skip
# Approximate colours of the circle emoji, to show any stage colour (seeded ones are not in the palette).
EMOJI_RGB = {"🔴": (221, 46, 68), "🟠": (244, 144, 12), "🟡": (253, 203, 88), "🟢": (120, 177, 89),
             "🔵": (85, 172, 238), "🟣": (170, 142, 214), "🟤": (193, 105, 79), "⚫": (49, 55, 61),
             "⚪": (230, 231, 232)}  # fmt: skip
FIELD_ORDER = (
    "title", "name", "last_name", "second_name", "company_title", "position", "phone", "email",
    "amount", "contact_id", "company_id", "industry", "begin_date", "close_date", "source", "comment",
)  # fmt: skip
RF_TYPES = (ItemType.LEAD, ItemType.DEAL, ItemType.CONTACT, ItemType.COMPANY)
RF_DRAFT = "adm_rf"


class AdminForm(StatesGroup):
    department = State()  # a new department for a user
    pipeline_new = State()
    pipeline_rename = State()
    stage_rename = State()
    stage_name = State()  # then the kind of the stage, by buttons


class AdmCB(CallbackData, prefix="adm"):
    """a: home; us users page / u user / ur role / ud departments / udp set / udn new / ux, uxy
    deactivate / ua reactivate; inv invites / ir revoke; pl pipelines / p pipeline / pn new / pr
    rename; s stage / sr rename / sc, scs colour / su, sd move / sx, sxy delete / sa, sas add;
    rf required / rt type / rtt toggle / rts save; cx cancel a typed input (back to `v`)."""

    a: str
    id: int = 0
    p: int = 0
    v: str = ""


@dataclass(slots=True)
class Ctx:
    session: AsyncSession
    user: User
    tr: Translator
    state: FSMContext
    bot: Bot
    answer: CallbackAnswer | None = None

    def alert(self, text: str) -> None:
        if self.answer is not None:
            self.answer.text = text
            self.answer.show_alert = True

    def note(self, text: str) -> None:
        if self.answer is not None:
            self.answer.text = text


Screen = tuple[str, InlineKeyboardMarkup]


def _btn(text: str, a: str, id: int = 0, p: int = 0, v: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=AdmCB(a=a, id=id, p=p, v=v).pack())


def _back(tr: Translator, a: str, id: int = 0, p: int = 0) -> list[InlineKeyboardButton]:
    return [_btn(tr("adm.btn.back"), a, id, p)]


def _kb(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _name(value: str | None) -> str:
    """A user-typed name for a message: shortened and escaped."""
    return esc(truncate(value or "", NAME_LIMIT))


def colour_emoji(color: str) -> str:
    for key, hex_ in PALETTE:
        if hex_.upper() == (color or "").upper():
            return PALETTE_EMOJI[key]
    try:
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    except (ValueError, TypeError):
        return "⚪"
    return min(EMOJI_RGB, key=lambda e: sum((a - b) ** 2 for a, b in zip(EMOJI_RGB[e], rgb, strict=True)))


# --- entry points --------------------------------------------------------------------------------


def home_screen(tr: Translator) -> Screen:
    return tr("adm.title"), _kb(
        [
            [_btn(tr("adm.btn.users"), "us"), _btn(tr("adm.btn.invites"), "inv")],
            [_btn(tr("adm.btn.pipelines"), "pl")],
            [_btn(tr("adm.btn.required"), "rf")],
            [
                InlineKeyboardButton(
                    text=tr("adm.btn.back"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
                )
            ],
        ]
    )


@router.message(Command("admin"), F.chat.type == "private")
async def admin_command(message: Message, user: User, tr: Translator, state: FSMContext) -> None:
    if not user.is_admin:
        await message.answer(tr("adm.only"))
        return
    await _leave_form(state)
    await reply_screen(message, home_screen(tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.ADMIN))
async def admin_menu_button(
    callback: CallbackQuery, user: User, tr: Translator, state: FSMContext, callback_answer: CallbackAnswer
) -> None:
    if not user.is_admin:
        callback_answer.text, callback_answer.show_alert = tr("adm.only"), True
        return
    await _leave_form(state)
    await show(callback, *home_screen(tr))


async def _leave_form(state: FSMContext) -> None:
    current = await state.get_state()
    if current is not None and current.startswith(f"{AdminForm.__name__}:"):
        await state.set_state(None)  # keep other features' data


Action = Callable[[CallbackQuery, AdmCB, Ctx], Awaitable[None]]
ACTIONS: dict[str, Action] = {}


def action(*names: str) -> Callable[[Action], Action]:
    def register(fn: Action) -> Action:
        for name in names:
            ACTIONS[name] = fn
        return fn

    return register


@router.callback_query(AdmCB.filter())
async def admin_button(
    callback: CallbackQuery,
    callback_data: AdmCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    # The one door of every admin button: forged data from anyone else changes nothing.
    if not user.is_admin:
        callback_answer.text, callback_answer.show_alert = tr("adm.only"), True
        return
    handler = ACTIONS.get(callback_data.a)
    await _leave_form(state)  # any admin button ends a pending typed input; "ask" ones start anew
    if handler is None:
        callback_answer.text = tr("error.stale_button")
        return
    await handler(callback, callback_data, Ctx(session, user, tr, state, bot, callback_answer))


@action("home")
async def _home(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await _leave_form(ctx.state)
    await show(cb, *home_screen(ctx.tr))


@action("cx")
async def _cancel(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    """Cancel a typed input and go back to the screen it came from (`v`)."""
    await _leave_form(ctx.state)
    back = ACTIONS.get(data.v) if data.v not in ("cx", "") else None
    if back is None:
        await show(cb, *home_screen(ctx.tr))
        return
    await back(cb, AdmCB(a=data.v, id=data.id, p=data.p), ctx)


async def _ask(cb: CallbackQuery, ctx: Ctx, prompt: str, form: State, back: AdmCB, **data: object) -> None:
    await ctx.state.set_state(form)
    await ctx.state.update_data(**data)
    cancel = _btn(ctx.tr("adm.btn.cancel"), "cx", back.id, back.p, back.a)
    await show(cb, prompt, _kb([[cancel]]))


# --- users ---------------------------------------------------------------------------------------


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
        rows.append([_btn(f"{label} · {tr(f'role.{u.role.value}')}", "u", u.id, page)])
    nav = []
    if page:
        nav.append(_btn(tr("adm.btn.prev"), "us", p=page - 1))
    if (page + 1) * USERS_PAGE < total:
        nav.append(_btn(tr("adm.btn.next"), "us", p=page + 1))
    if nav:
        rows.append(nav)
    rows.append(_back(tr, "home"))
    return tr("adm.users.title", total=total), _kb(rows)


async def user_screen(ctx: Ctx, user_id: int, page: int) -> Screen:
    tr = ctx.tr
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, user_id)
    dept = await ctx.session.get(Department, target.department_id) if target.department_id else None
    username = f" @{esc(target.username)}" if target.username else ""
    if target.id == ctx.user.id:
        username += tr("adm.user.you")
    text = tr(
        "adm.user.card",
        name=_name(target.full_name),
        username=username,
        role=tr(f"role.{target.role.value}"),
        department=_name(dept.name) if dept else tr("adm.user.no_department"),
        status=tr("adm.user.active" if target.is_active else "adm.user.inactive"),
    )
    roles = [
        _btn(
            ("✅ " if target.role == role else "") + tr(f"role.{role.value}").capitalize(),
            "ur",
            target.id,
            page,
            role.value,
        )
        for role in (Role.SALESPERSON, Role.HEAD, Role.ADMIN)
    ]
    access = (
        _btn(tr("adm.btn.deactivate"), "ux", target.id, page)
        if target.is_active
        else _btn(tr("adm.btn.reactivate"), "ua", target.id, page)
    )
    rows = [roles[:2], roles[2:], [_btn(tr("adm.btn.department"), "ud", target.id, page)], [access]]
    rows.append(_back(tr, "us", p=page))
    return text, _kb(rows)


@action("us")
async def _users(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await users_screen(ctx, data.p))


@action("u")
async def _user(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await user_screen(ctx, data.id, data.p))


@action("ur")
async def _user_role(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    try:
        target = await users_service.set_role(ctx.session, ctx.user, data.id, data.v)
    except users_service.LastAdmin:
        ctx.alert(ctx.tr("adm.last_admin"))
        return
    ctx.note(ctx.tr("adm.user.role_set", role=ctx.tr(f"role.{target.role.value}")))
    if not ctx.user.is_admin:  # they stepped down themselves: the admin screens are closed now
        await show(
            cb, ctx.tr("adm.user.role_set", role=ctx.tr(f"role.{target.role.value}")), _main_menu_kb(ctx.tr)
        )
        return
    await show(cb, *await user_screen(ctx, data.id, data.p))


def _main_menu_kb(tr: Translator) -> InlineKeyboardMarkup:
    return _kb(
        [[InlineKeyboardButton(text=tr("adm.btn.back"), callback_data=MenuCB(action=MenuAction.MAIN).pack())]]
    )


@action("ud")
async def _user_departments(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    tr = ctx.tr
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, data.id)
    departments = await users_service.list_departments(ctx.session)
    current = next((d for d in departments if d.id == target.department_id), None)
    rows = [
        [
            _btn(
                ("✅ " if d.id == target.department_id else "") + truncate(d.name, 40),
                "udp",
                target.id,
                data.p,
                str(d.id),
            )
        ]
        for d in departments
    ]
    rows.append(
        [_btn(("✅ " if current is None else "") + tr("adm.dept.none"), "udp", target.id, data.p, "0")]
    )
    rows.append([_btn(tr("adm.dept.new"), "udn", target.id, data.p)])
    rows.append(_back(tr, "u", target.id, data.p))
    text = tr(
        "adm.dept.title",
        name=_name(target.full_name),
        department=_name(current.name) if current else tr("adm.user.no_department"),
    )
    await show(cb, text, _kb(rows))


@action("udp")
async def _user_department_set(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    try:
        dept_id = int(data.v) or None
    except ValueError:
        raise ValidationFailed("bad department", field="department") from None
    target = await users_service.set_department(ctx.session, ctx.user, data.id, dept_id)
    dept = await ctx.session.get(Department, dept_id) if dept_id else None
    ctx.note(ctx.tr("adm.dept.set", department=truncate(dept.name, 40) if dept else "—"))
    await show(cb, *await user_screen(ctx, target.id, data.p))


@action("udn")
async def _user_department_new(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, data.id)
    await _ask(cb, ctx, ctx.tr("adm.dept.ask"), AdminForm.department, AdmCB(a="ud", id=target.id, p=data.p),
               adm_user=target.id, adm_page=data.p)  # fmt: skip


@action("ux")
async def _user_deactivate_confirm(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    target = await users_service.get_user_for_admin(ctx.session, ctx.user, data.id)
    rows = [
        [_btn(ctx.tr("adm.btn.yes_deactivate"), "uxy", target.id, data.p)],
        [_btn(ctx.tr("adm.btn.cancel"), "u", target.id, data.p)],
    ]
    await show(cb, ctx.tr("adm.user.confirm_deactivate", name=_name(target.full_name)), _kb(rows))


@action("uxy")
async def _user_deactivate(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    try:
        await users_service.deactivate_user(ctx.session, ctx.user, data.id)
    except users_service.LastAdmin:
        ctx.alert(ctx.tr("adm.last_admin"))
        return
    ctx.note(ctx.tr("adm.user.deactivated"))
    if not ctx.user.is_active:  # switched themselves off (another admin remains)
        await show(cb, ctx.tr("deactivated"))
        return
    await show(cb, *await user_screen(ctx, data.id, data.p))


@action("ua")
async def _user_reactivate(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await users_service.reactivate_user(ctx.session, ctx.user, data.id)
    ctx.note(ctx.tr("adm.user.reactivated"))
    await show(cb, *await user_screen(ctx, data.id, data.p))


# --- invites -------------------------------------------------------------------------------------


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
                role=tr(f"role.{invite.role.value}"),
                expires=invite.expires_at.astimezone(zone).strftime("%d.%m.%Y %H:%M"),
                author=_name(author.full_name if author else "?"),
                link=esc(link),
            )
        )
        rows.append([_btn(tr("adm.inv.revoke", n=n), "ir", invite.id)])
    if not invites:
        lines.append(tr("adm.inv.none"))
    rows.append(
        [InlineKeyboardButton(text=tr("adm.inv.new"), callback_data=MenuCB(action=MenuAction.INVITE).pack())]
    )
    rows.append(_back(tr, "home"))
    return "\n\n".join(lines), _kb(rows)


@action("inv")
async def _invites(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await invites_screen(ctx))


@action("ir")
async def _invite_revoke(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await users_service.revoke_invite(ctx.session, ctx.user, data.id)
    ctx.note(ctx.tr("adm.inv.revoked"))
    await show(cb, *await invites_screen(ctx))


# --- pipelines and stages ------------------------------------------------------------------------


async def pipelines_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    rows = []
    for kind, key in ((ItemType.LEAD, "adm.pl.leads"), (ItemType.DEAL, "adm.pl.deals")):
        for pipeline in await pipelines_service.list_pipelines(ctx.session, kind):
            rows.append([_btn(tr(key, name=truncate(pipeline.name(tr.language), 40)), "p", pipeline.id)])
    rows.append([_btn(tr("adm.pl.new"), "pn")])
    rows.append(_back(tr, "home"))
    return tr("adm.pl.title"), _kb(rows)


def _group_key(stage: Stage) -> int:
    return {StageSemantics.PROCESS: 0, StageSemantics.SUCCESS: 1, StageSemantics.FAILURE: 2}[stage.semantics]


async def pipeline_screen(ctx: Ctx, pipeline_id: int) -> Screen:
    tr = ctx.tr
    pipeline = await pipelines_service.get_pipeline(ctx.session, pipeline_id)
    stages = await pipelines_service.list_stages(ctx.session, pipeline.id)
    counts = await admin_queries.stage_item_counts(ctx.session, pipeline.id)
    lines = [
        tr(
            "adm.pl.header",
            kind=tr(f"adm.pl.kind.{pipeline.entity_type.value}"),
            name=_name(pipeline.name(tr.language)),
        )
    ]
    group = None
    for stage in stages:
        if stage.semantics != group:
            group = stage.semantics
            lines.append("\n" + tr(f"adm.pl.group.{group.value}"))
        lines.append(
            tr("adm.pl.stage_line", emoji=colour_emoji(stage.color), name=_name(stage.name(tr.language)),
               count=counts.get(stage.id, 0))
        )  # fmt: skip
    rows = [[_btn(f"{colour_emoji(s.color)} {truncate(s.name(tr.language), 40)}", "s", s.id)] for s in stages]
    rows.append(
        [_btn(tr("adm.pl.add_stage"), "sa", pipeline.id), _btn(tr("adm.btn.rename"), "pr", pipeline.id)]
    )
    rows.append(_back(tr, "pl"))
    return "\n".join(lines), _kb(rows)


async def stage_screen(ctx: Ctx, stage_id: int) -> Screen:
    tr = ctx.tr
    stage = await pipelines_service.get_stage(ctx.session, stage_id)
    pipeline = await pipelines_service.get_pipeline(ctx.session, stage.pipeline_id)
    count = await pipelines_service.count_items_on_stage(ctx.session, stage.id)
    text = tr(
        "adm.st.card",
        emoji=colour_emoji(stage.color),
        name=_name(stage.name(tr.language)),
        pipeline=_name(pipeline.name(tr.language)),
        semantics=tr(f"adm.sem.{stage.semantics.value}"),
        color=esc(stage.color),
        count=count,
    )
    before, after = await _neighbours(ctx.session, stage)
    rows = [[_btn(tr("adm.btn.rename"), "sr", stage.id), _btn(tr("adm.st.colour"), "sc", stage.id)]]
    move = []
    if before is not None:
        move.append(_btn(tr("adm.st.up"), "su", stage.id))
    if after is not None:
        move.append(_btn(tr("adm.st.down"), "sd", stage.id))
    if move:
        rows.append(move)
    rows.append([_btn(tr("adm.st.delete"), "sx", stage.id)])
    rows.append(_back(tr, "p", pipeline.id))
    return text, _kb(rows)


async def _neighbours(session: AsyncSession, stage: Stage) -> tuple[Stage | None, Stage | None]:
    """The stages just before and after this one within its group (stages move inside a group:
    the board always shows in-progress, then won, then lost)."""
    same = [
        s
        for s in await pipelines_service.list_stages(session, stage.pipeline_id)
        if s.semantics == stage.semantics
    ]
    i = next(i for i, s in enumerate(same) if s.id == stage.id)
    return (same[i - 1] if i > 0 else None), (same[i + 1] if i + 1 < len(same) else None)


@action("pl")
async def _pipelines(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await pipelines_screen(ctx))


@action("p")
async def _pipeline(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await pipeline_screen(ctx, data.id))


@action("pn")
async def _pipeline_new(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await _ask(cb, ctx, ctx.tr("adm.pl.ask_new"), AdminForm.pipeline_new, AdmCB(a="pl"))


@action("pr")
async def _pipeline_rename(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    pipeline = await pipelines_service.get_pipeline(ctx.session, data.id)
    prompt = ctx.tr("adm.pl.ask_rename", name=_name(pipeline.name(ctx.tr.language)))
    await _ask(
        cb, ctx, prompt, AdminForm.pipeline_rename, AdmCB(a="p", id=pipeline.id), adm_pipeline=pipeline.id
    )


@action("s")
async def _stage(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await show(cb, *await stage_screen(ctx, data.id))


@action("sr")
async def _stage_rename(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, data.id)
    prompt = ctx.tr("adm.st.ask_rename", name=_name(stage.name(ctx.tr.language)))
    await _ask(cb, ctx, prompt, AdminForm.stage_rename, AdmCB(a="s", id=stage.id), adm_stage=stage.id)


@action("sc")
async def _stage_colours(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, data.id)
    buttons = [
        _btn(ctx.tr(f"adm.colour.{key}"), "scs", stage.id, v=str(i)) for i, (key, _) in enumerate(PALETTE)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(_back(ctx.tr, "s", stage.id))
    await show(cb, ctx.tr("adm.st.colour_title", name=_name(stage.name(ctx.tr.language))), _kb(rows))


@action("scs")
async def _stage_colour_set(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    if not data.v.isdigit() or int(data.v) >= len(PALETTE):
        raise ValidationFailed("invalid colour", field="color")
    await pipelines_service.update_stage(ctx.session, ctx.user, data.id, color=PALETTE[int(data.v)][1])
    await show(cb, *await stage_screen(ctx, data.id))


@action("su", "sd")
async def _stage_move(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, data.id)
    before, after = await _neighbours(ctx.session, stage)
    other = before if data.a == "su" else after
    if other is not None:  # already first/last of its group: nothing to do
        order = [s.id for s in await pipelines_service.list_stages(ctx.session, stage.pipeline_id)]
        i, j = order.index(stage.id), order.index(other.id)
        order[i], order[j] = order[j], order[i]
        await pipelines_service.reorder_stages(ctx.session, ctx.user, stage.pipeline_id, order)
    await show(cb, *await stage_screen(ctx, stage.id))


@action("sx")
async def _stage_delete_confirm(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, data.id)
    rows = [
        [_btn(ctx.tr("adm.btn.yes_delete"), "sxy", stage.id)],
        [_btn(ctx.tr("adm.btn.cancel"), "s", stage.id)],
    ]
    await show(cb, ctx.tr("adm.st.confirm_delete", name=_name(stage.name(ctx.tr.language))), _kb(rows))


@action("sxy")
async def _stage_delete(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, data.id)
    pipeline_id, semantics = stage.pipeline_id, stage.semantics
    name = truncate(stage.name(ctx.tr.language), NAME_LIMIT)
    try:
        await pipelines_service.delete_stage(ctx.session, ctx.user, stage.id)
    except StageNotEmpty as exc:
        ctx.alert(ctx.tr("adm.st.not_empty", name=name, count=exc.params.get("count", "?")))
        return
    except PipelineInvariantViolated:
        ctx.alert(ctx.tr(f"adm.st.keep_{semantics.value}"))
        return
    ctx.note(ctx.tr("adm.st.deleted"))
    await show(cb, *await pipeline_screen(ctx, pipeline_id))


@action("sa")
async def _stage_add(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    pipeline = await pipelines_service.get_pipeline(ctx.session, data.id)
    await _ask(cb, ctx, ctx.tr("adm.st.ask_name"), AdminForm.stage_name, AdmCB(a="p", id=pipeline.id),
               adm_pipeline=pipeline.id)  # fmt: skip


@action("sas")
async def _stage_add_kind(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    name = (await ctx.state.get_data()).get("adm_stage_name")
    if not name or data.v not in (StageSemantics.PROCESS.value, StageSemantics.FAILURE.value):
        ctx.note(ctx.tr("error.stale_button"))
        return
    await pipelines_service.create_stage(
        ctx.session, ctx.user, data.id, name_ru=name, name_en=name, semantics=data.v,
        color="#FF5752" if data.v == StageSemantics.FAILURE.value else "#39A8EF",
    )  # fmt: skip
    await ctx.state.update_data(adm_stage_name=None)
    ctx.note(ctx.tr("adm.st.added"))
    await show(cb, *await pipeline_screen(ctx, data.id))


# --- required fields -----------------------------------------------------------------------------


async def required_home_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    rows = [[_btn(tr(f"adm.rf.type.{t.value}"), "rt", v=t.value)] for t in RF_TYPES]
    for pipeline in await pipelines_service.list_pipelines(ctx.session, ItemType.DEAL):
        rows.append(
            [
                _btn(
                    tr("adm.rf.pipeline", name=truncate(pipeline.name(tr.language), 40)),
                    "rt",
                    pipeline.id,
                    v="deal",
                )
            ]
        )
    rows.append(_back(tr, "home"))
    return tr("adm.rf.title"), _kb(rows)


def _fields_label(tr: Translator, fields: list[str]) -> str:
    return ", ".join(tr(f"adm.field.{f}") for f in FIELD_ORDER if f in fields) or tr("settings.none")


async def _rf_scope(ctx: Ctx, type_value: str, pipeline_id: int) -> tuple[ItemType, Pipeline | None]:
    try:
        item_type = ItemType(type_value)
    except ValueError:
        raise ValidationFailed("unknown item type", field="item_type") from None
    pipeline = None
    if pipeline_id:
        pipeline = await pipelines_service.get_pipeline(ctx.session, pipeline_id)
        if pipeline.entity_type != item_type or item_type != ItemType.DEAL:
            raise ValidationFailed("pipeline of another item type", pipeline_id=pipeline_id)
    return item_type, pipeline


async def required_screen(
    ctx: Ctx, item_type: ItemType, pipeline: Pipeline | None, chosen: list[str]
) -> Screen:
    tr = ctx.tr
    pid = pipeline.id if pipeline else 0
    scope = (
        tr("adm.rf.pipeline", name=_name(pipeline.name(tr.language)))
        if pipeline
        else tr(f"adm.rf.type.{item_type.value}")
    )
    text = tr("adm.rf.edit", scope=scope, fields=_fields_label(tr, chosen))
    if pipeline is not None:
        common = await admin_queries.required_fields_of(ctx.session, item_type)
        if common:
            text += "\n" + tr("adm.rf.also", fields=_fields_label(tr, common))
    fields = [f for f in FIELD_ORDER if f in REQUIRABLE_FIELDS[item_type]]
    buttons = [
        _btn(("✅ " if f in chosen else "▫️ ") + tr(f"adm.field.{f}"), "rtt", pid, v=f"{item_type.value}.{f}")
        for f in fields
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_btn(tr("adm.btn.save"), "rts", pid, v=item_type.value), _btn(tr("adm.btn.back"), "rf")])
    return text, _kb(rows)


@action("rf")
async def _required_home(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    await ctx.state.update_data({RF_DRAFT: None})
    await show(cb, *await required_home_screen(ctx))


async def _rf_draft(
    ctx: Ctx, item_type: ItemType, pipeline: Pipeline | None, *, reload: bool = False
) -> list[str]:
    key = f"{item_type.value}:{pipeline.id if pipeline else 0}"
    draft = (await ctx.state.get_data()).get(RF_DRAFT)
    if reload or not draft or draft.get("scope") != key:
        fields = await admin_queries.required_fields_of(
            ctx.session, item_type, pipeline_id=pipeline.id if pipeline else None
        )
        draft = {"scope": key, "fields": fields}
        await ctx.state.update_data({RF_DRAFT: draft})
    return list(draft["fields"])


@action("rt")
async def _required_type(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    item_type, pipeline = await _rf_scope(ctx, data.v, data.id)
    chosen = await _rf_draft(ctx, item_type, pipeline, reload=True)
    await show(cb, *await required_screen(ctx, item_type, pipeline, chosen))


@action("rtt")
async def _required_toggle(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    type_value, _, field = data.v.partition(".")
    item_type, pipeline = await _rf_scope(ctx, type_value, data.id)
    if field not in REQUIRABLE_FIELDS[item_type]:
        raise ValidationFailed("unknown fields", fields=[field])
    chosen = set(await _rf_draft(ctx, item_type, pipeline))
    chosen ^= {field}
    key = f"{item_type.value}:{pipeline.id if pipeline else 0}"
    await ctx.state.update_data({RF_DRAFT: {"scope": key, "fields": sorted(chosen)}})
    await show(cb, *await required_screen(ctx, item_type, pipeline, sorted(chosen)))


@action("rts")
async def _required_save(cb: CallbackQuery, data: AdmCB, ctx: Ctx) -> None:
    item_type, pipeline = await _rf_scope(ctx, data.v, data.id)
    chosen = await _rf_draft(ctx, item_type, pipeline)
    saved = await set_required_fields(
        ctx.session, ctx.user, item_type, chosen, pipeline_id=pipeline.id if pipeline else None
    )
    ctx.note(ctx.tr("adm.rf.saved"))
    await show(cb, *await required_screen(ctx, item_type, pipeline, saved))


# --- typed names ---------------------------------------------------------------------------------


async def _typed_prelude(message: Message, user: User, tr: Translator, state: FSMContext) -> str | None:
    """The typed name, or None after answering (not an admin any more, or an empty name)."""
    if not user.is_admin:
        await state.set_state(None)  # keep other features' data
        await message.answer(tr("adm.only"))
        return None
    name = " ".join((message.text or "").split())
    if not name:
        await message.answer(tr("adm.name_bad"))
        return None
    return name[:200]


TypedFilter = (F.text, ~F.text.startswith("/"))


@router.message(AdminForm.department, *TypedFilter)
async def department_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    name = await _typed_prelude(message, user, tr, state)
    if name is None:
        return
    data = await state.get_data()
    await state.set_state(None)  # keep other features' data
    dept = await users_service.create_department(session, user, name)
    await users_service.set_department(session, user, int(data.get("adm_user") or 0), dept.id)
    ctx = Ctx(session, user, tr, state, bot)
    await reply_screen(
        message,
        await user_screen(ctx, int(data["adm_user"]), int(data.get("adm_page") or 0)),
        tr("adm.dept.set", department=_name(dept.name)),
    )


@router.message(AdminForm.pipeline_new, *TypedFilter)
async def pipeline_new_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    name = await _typed_prelude(message, user, tr, state)
    if name is None:
        return
    await state.set_state(None)  # keep other features' data
    pipeline = await pipelines_service.create_pipeline(session, user, name_ru=name, name_en=name)
    await reply_screen(
        message, await pipeline_screen(Ctx(session, user, tr, state, bot), pipeline.id), tr("adm.pl.created")
    )


@router.message(AdminForm.pipeline_rename, *TypedFilter)
async def pipeline_rename_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    name = await _typed_prelude(message, user, tr, state)
    if name is None:
        return
    pipeline_id = int((await state.get_data()).get("adm_pipeline") or 0)
    await state.set_state(None)  # keep other features' data
    # A typed name is the name for everyone, whatever their language.
    await pipelines_service.rename_pipeline(session, user, pipeline_id, name_ru=name, name_en=name)
    await reply_screen(
        message, await pipeline_screen(Ctx(session, user, tr, state, bot), pipeline_id), tr("adm.pl.renamed")
    )


@router.message(AdminForm.stage_rename, *TypedFilter)
async def stage_rename_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    name = await _typed_prelude(message, user, tr, state)
    if name is None:
        return
    stage_id = int((await state.get_data()).get("adm_stage") or 0)
    await state.set_state(None)  # keep other features' data
    await pipelines_service.update_stage(session, user, stage_id, name_ru=name, name_en=name)
    await reply_screen(
        message, await stage_screen(Ctx(session, user, tr, state, bot), stage_id), tr("adm.st.renamed")
    )


@router.message(AdminForm.stage_name, *TypedFilter)
async def stage_name_typed(message: Message, user: User, tr: Translator, state: FSMContext) -> None:
    name = await _typed_prelude(message, user, tr, state)
    if name is None:
        return
    pipeline_id = int((await state.get_data()).get("adm_pipeline") or 0)
    await state.set_state(None)  # the kind is chosen by buttons; the name waits in the data
    await state.update_data(adm_stage_name=name)
    rows = [
        [_btn(tr("adm.st.sem_process"), "sas", pipeline_id, v=StageSemantics.PROCESS.value)],
        [_btn(tr("adm.st.sem_failure"), "sas", pipeline_id, v=StageSemantics.FAILURE.value)],
        [_btn(tr("adm.btn.cancel"), "p", pipeline_id)],
    ]
    await message.answer(tr("adm.st.ask_semantics", name=_name(name)), reply_markup=_kb(rows))


__all__ = ["AdmCB", "router"]
