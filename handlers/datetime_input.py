"""The date and time input: quick choices, a month calendar then a time grid, or typed text
("tomorrow 15:30", "завтра 15:30", "28.11 15:30"), always in the user's timezone.

A feature asks for a moment with `ask_datetime(...)` naming a target it registered with
`register_target(name, on_pick, on_cancel)`; the picked moment (an aware UTC datetime, never in the
past) is handed to `on_pick`. The picker's own state lives in the FSM (`DateInput`), so its buttons
carry only dates and times: nothing in them names an item or an activity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.formatting import format_date as babel_date
from crm_core.formatting import format_time, weekday_name
from crm_core.models import User
from crm_core.services.counters import user_zone
from crm_core.services.when import at_local, local_today, parse_time, parse_when, quick_choice, quick_choices
from handlers.callbacks import Unpacked
from handlers.month_grid import month_rows, month_title
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="datetime_input")

TIME_GRID = tuple(time(h, 0) for h in range(9, 20))  # 09:00 .. 19:00
MAX_MONTHS_AHEAD = 24


class DateInput(StatesGroup):
    pick = State()  # quick choices, the calendar, or typed text
    time = State()  # a day was chosen: a time from the grid or typed


class DtAction(StrEnum):
    QUICK = "quick"  # v: the quick choice
    MONTH = "month"  # v: YYYY-MM
    DAY = "day"  # v: YYYY-MM-DD
    TIME = "time"  # v: HHMM
    BACK = "back"  # to the quick choices
    NOOP = "noop"
    CANCEL = "cancel"


class DtCB(Unpacked, CallbackData, prefix="dt"):
    a: DtAction
    v: str = ""


QUICK_LABELS = {"1h": N_("dt.q.1h"), "t18": N_("dt.q.t18"), "tm10": N_("dt.q.tm10"), "mo10": N_("dt.q.mo10")}


@dataclass
class Ctx:
    """What a target needs to act on a picked moment (the handler's workflow data)."""

    session: AsyncSession
    user: User
    tr: Translator
    state: FSMContext
    bot: Bot | None = None
    callback_answer: CallbackAnswer | None = None

    def toast(self, text: str, *, alert: bool = False) -> None:
        if self.callback_answer is not None:
            self.callback_answer.text = text
            self.callback_answer.show_alert = alert


Event = CallbackQuery | Message
OnPick = Callable[[Event, Ctx, datetime], Awaitable[None]]
OnCancel = Callable[[Event, Ctx], Awaitable[None]]


@dataclass(frozen=True)
class Target:
    on_pick: OnPick
    on_cancel: OnCancel


TARGETS: dict[str, Target] = {}


def register_target(name: str, on_pick: OnPick, on_cancel: OnCancel) -> None:
    TARGETS[name] = Target(on_pick, on_cancel)


# --- formatting moments (public: other screens show deadlines the same way) -------------------


def format_moment(tr: Translator, value: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    """ "today 15:30", "tomorrow 10:00", "yesterday 09:00", else "Mon 28.11 15:30" (with the year
    when it is not this year), in the user's timezone."""
    now = now or utcnow()
    local = value.astimezone(tz)
    today = local_today(now, tz)
    hm = format_time(local, tr.language)
    delta = (local.date() - today).days
    if delta == 0:
        return tr("dt.today", time=hm)
    if delta == 1:
        return tr("dt.tomorrow", time=hm)
    if delta == -1:
        return tr("dt.yesterday", time=hm)
    return f"{format_date(tr, local.date(), today)} {hm}"


def format_date(tr: Translator, day: date, today: date) -> str:
    """ "Mon 28.11", with the year when it is not this year."""
    day_text = babel_date(day, tr.language, with_year=day.year != today.year)
    return f"{weekday_name(day.weekday(), tr.language)} {day_text}"


# --- screens -----------------------------------------------------------------------------------


def _btn(text: str, a: DtAction, v: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=DtCB(a=a, v=v).pack())


def _noop(text: str = "·") -> InlineKeyboardButton:
    return _btn(text, DtAction.NOOP)


def _footer(tr: Translator, back: DtAction | None = None, value: str = "") -> list[InlineKeyboardButton]:
    row = []
    if back is not None:
        row.append(_btn(tr("dt.back"), back, value))
    row.append(_btn(tr("dt.cancel"), DtAction.CANCEL))
    return row


async def _title(state: FSMContext) -> str:
    data = await state.get_data()
    return str(data.get("dt_title") or "")


def quick_screen(tr: Translator, title: str, now: datetime, tz: ZoneInfo) -> tuple[str, InlineKeyboardMarkup]:
    rows: list[list[InlineKeyboardButton]] = []
    row: list[InlineKeyboardButton] = []
    for key, _value in quick_choices(now, tz):
        row.append(_btn(tr(QUICK_LABELS[key]), DtAction.QUICK, key))
        if len(row) == 2:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append([_btn(tr("dt.calendar"), DtAction.MONTH, _month_value(local_today(now, tz)))])
    rows.append(_footer(tr))
    text = (title + "\n\n" if title else "") + tr("dt.prompt")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _month_value(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"  # callback data, not shown


def calendar_screen(
    tr: Translator, title: str, year: int, month: int, now: datetime, tz: ZoneInfo
) -> tuple[str, InlineKeyboardMarkup]:
    today = local_today(now, tz)
    first = date(year, month, 1)
    prev_month = (first - timedelta(days=1)).replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    last_allowed = date(today.year + (today.month - 1 + MAX_MONTHS_AHEAD) // 12,
                        (today.month - 1 + MAX_MONTHS_AHEAD) % 12 + 1, 1)  # fmt: skip
    nav = [
        _btn("«", DtAction.MONTH, _month_value(prev_month))
        if prev_month >= today.replace(day=1) else _noop(),
        _noop(month_title(year, month, tr.language)),
        _btn("»", DtAction.MONTH, _month_value(next_month)) if next_month <= last_allowed else _noop(),
    ]  # fmt: skip

    def day_button(day: date) -> InlineKeyboardButton:
        if day < today:
            return _noop()
        return _btn(f"[{day.day}]" if day == today else str(day.day), DtAction.DAY, day.isoformat())

    rows = [nav, *month_rows(year, month, tr.language, day_button=day_button, blank=_noop)]
    rows.append(_footer(tr, DtAction.BACK))
    text = (title + "\n\n" if title else "") + tr("dt.choose_day")
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def time_screen(
    tr: Translator, title: str, day: date, now: datetime, tz: ZoneInfo
) -> tuple[str, InlineKeyboardMarkup]:
    today = local_today(now, tz)
    rows: list[list[InlineKeyboardButton]] = []
    row: list[InlineKeyboardButton] = []
    for at in TIME_GRID:
        if at_local(day, at, tz) <= now:
            continue  # hours already gone today
        row.append(_btn(format_time(at, tr.language), DtAction.TIME, f"{at.hour:02d}{at.minute:02d}"))
        if len(row) == 4:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    rows.append(_footer(tr, DtAction.MONTH, _month_value(day)))
    text = (title + "\n\n" if title else "") + tr("dt.choose_time", day=format_date(tr, day, today))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def ask_datetime(event: Event, ctx: Ctx, target: str, title: str) -> None:
    """Ask for a moment for `target`; `title` (HTML, already escaped) heads every picker screen."""
    assert target in TARGETS, target
    await ctx.state.set_state(DateInput.pick)
    await ctx.state.update_data(dt_target=target, dt_title=title, dt_day=None)
    now = utcnow()
    text, markup = quick_screen(ctx.tr, title, now, user_zone(ctx.user))
    await show(event, text, markup)


# --- handlers ----------------------------------------------------------------------------------


async def _target(state: FSMContext) -> Target | None:
    data = await state.get_data()
    return TARGETS.get(str(data.get("dt_target")))


async def _picked(event: Event, ctx: Ctx, value: datetime) -> None:
    """Hand a moment to the target, unless it is already in the past."""
    tz = user_zone(ctx.user)
    now = utcnow()
    if value <= now:
        text = ctx.tr("dt.past", when=format_moment(ctx.tr, value, tz, now))
        if isinstance(event, Message):
            await event.answer(text)
        else:
            ctx.toast(text, alert=True)
        return
    target = await _target(ctx.state)
    if target is None:
        await ctx.state.clear()
        if isinstance(event, Message):
            await event.answer(ctx.tr("error.stale_button"))
        else:
            ctx.toast(ctx.tr("error.stale_button"))
        return
    await target.on_pick(event, ctx, value)


@router.callback_query(DtCB.filter(F.a == DtAction.NOOP))
async def noop(callback: CallbackQuery) -> None:
    """Calendar headers and gone days: nothing to do (the middleware answers the press)."""


@router.callback_query(DtCB.filter(), StateFilter(DateInput.pick, DateInput.time))
async def on_button(
    callback: CallbackQuery,
    callback_data: DtCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    tz = user_zone(user)
    now = utcnow()
    title = await _title(state)
    a, v = callback_data.a, callback_data.v
    if a is DtAction.CANCEL:
        target = await _target(state)
        if target is not None:
            await target.on_cancel(callback, ctx)  # it still sees the form's data
        else:
            await show(callback, tr("cancelled"))
        await state.clear()
        return
    if a is DtAction.QUICK:
        value = quick_choice(v, now, tz)
        if value is None:
            callback_answer.text = tr("error.stale_button")
            return
        await _picked(callback, ctx, value)
        if value <= now:  # "today 18:00" went by while the screen was open: refresh the choices
            await show(callback, *quick_screen(tr, title, now, tz))
        return
    if a is DtAction.BACK:
        await state.set_state(DateInput.pick)
        await show(callback, *quick_screen(tr, title, now, tz))
        return
    if a is DtAction.MONTH:
        try:
            month = datetime.strptime(v, "%Y-%m").date()
        except ValueError:
            callback_answer.text = tr("error.stale_button")
            return
        today = local_today(now, tz)
        if month < today.replace(day=1):
            month = today.replace(day=1)
        await state.set_state(DateInput.pick)
        await show(callback, *calendar_screen(tr, title, month.year, month.month, now, tz))
        return
    if a is DtAction.DAY:
        try:
            day = date.fromisoformat(v)
        except ValueError:
            callback_answer.text = tr("error.stale_button")
            return
        if day < local_today(now, tz):
            callback_answer.text = tr("dt.past_day")
            return
        await state.set_state(DateInput.time)
        await state.update_data(dt_day=day.isoformat())
        await show(callback, *time_screen(tr, title, day, now, tz))
        return
    if a is DtAction.TIME:
        day = await _chosen_day(state)
        try:
            at = datetime.strptime(v, "%H%M").time()
        except ValueError:
            at = None
        if day is None or at is None:
            callback_answer.text = tr("error.stale_button")
            return
        await _picked(callback, ctx, at_local(day, at, tz))
        return
    callback_answer.text = tr("error.stale_button")


@router.callback_query(DtCB.filter())
async def stale_button(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
    """A picker button pressed after its form ended."""
    callback_answer.text = tr("error.stale_button")


async def _chosen_day(state: FSMContext) -> date | None:
    raw = (await state.get_data()).get("dt_day")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


@router.message(StateFilter(DateInput.pick, DateInput.time), F.text, ~F.text.startswith("/"))
async def on_text(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    ctx = Ctx(session, user, tr, state, bot)
    tz = user_zone(user)
    now = utcnow()
    text = message.text or ""
    value: datetime | None = None
    if await state.get_state() == DateInput.time.state:
        day = await _chosen_day(state)
        at = parse_time(text)
        if day is not None and at is not None:
            value = at_local(day, at, tz)
    if value is None:
        value = parse_when(text, now, tz)
    if value is None:
        await message.answer(tr("dt.not_understood", text=esc(truncate(text, 100))))
        return
    await _picked(message, ctx, value)
