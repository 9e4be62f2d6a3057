"""/report: the funnel of a pipeline, deals won and lost over a period, and the salespeople's
numbers, each as a picture with a caption whose numbers are the picture's. Who sees whose numbers
is crm_core.services.reports' rule (head: department, admin: all, salesperson: self)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.fields import FieldContext
from crm_core.formatting import format_date, format_money
from crm_core.models.items import ItemType
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services import reports as reports_service
from crm_core.services import users as users_service
from crm_core.services.reports import Funnel, Period, PersonStats, WonLost
from handlers import notify_render, report_charts
from handlers.callbacks import Unpacked
from handlers.context import HandlerOptions
from handlers.errors import describe
from handlers.render import esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name, stage_name
from scheduler.ports import OutgoingMessage

router = Router(name="reports")

CAPTION_LIMIT = 1024
PERIOD_BUTTONS = {
    "week": N_("rp.period.week"),
    "month": N_("rp.period.month"),
    "last_month": N_("rp.period.last_month"),
}


class RpAction(StrEnum):
    FUNNEL = "f"  # pipeline n
    WON = "w"  # won/lost over period v
    PEOPLE = "p"  # salespeople over period v
    RANGE = "r"  # ask for a range of days, for report v (w or p)


class RpCB(Unpacked, CallbackData, prefix="rp"):
    action: RpAction
    n: int = 0
    v: str = ""


class ReportForm(StatesGroup):
    range = State()


def _btn(text: str, **data: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=RpCB(**data).pack())  # type: ignore[arg-type]


async def _menu(session: AsyncSession, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    rows = []
    for item_type in (ItemType.LEAD, ItemType.DEAL):
        for p in await pipelines_service.list_pipelines(session, item_type):
            label = tr("rp.btn.funnel", pipeline=truncate(pipeline_name(tr, p), 30))
            rows.append([_btn(label, action=RpAction.FUNNEL, n=p.id)])
    for action, key in ((RpAction.WON, N_("rp.btn.won")), (RpAction.PEOPLE, N_("rp.btn.people"))):
        rows.append([_btn(tr(key), action=RpAction.RANGE, v=action.value)])
        rows.append([_btn(tr(label), action=action, v=kind) for kind, label in PERIOD_BUTTONS.items()])
    return tr("rp.menu"), InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("report"), F.chat.type == "private")
async def report_command(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    text, markup = await _menu(session, tr)
    await message.answer(text, reply_markup=markup)


def _sums(tr: Translator, sums: dict[str, Decimal]) -> str:
    return " + ".join(format_money(v, c, tr.language) for c, v in sorted(sums.items())) or "—"


def _caption(lines: list[str]) -> str:
    """Lines that fit a caption; the ones that do not are cut with an ellipsis line."""
    out: list[str] = []
    for line in lines:
        if visible_length("\n".join([*out, line, "…"])) > CAPTION_LIMIT:
            out.append("…")
            break
        out.append(line)
    return "\n".join(out)


def _span(tr: Translator, when: Period) -> str:
    return f"{format_date(when.first, tr.language)} – {format_date(when.last, tr.language)}"


# --- the funnel -------------------------------------------------------------------------------------


def funnel_report(tr: Translator, f: Funnel) -> tuple[bytes, str]:
    name = pipeline_name(tr, f.pipeline)
    labels, counts, notes = [], [], []
    lines = [tr("rp.funnel.title", pipeline=esc(name), count=f.total)]
    chart = tr("rp.funnel.chart", pipeline=name)
    if f.period is not None:
        lines.append(tr("rp.funnel.period", span=_span(tr, f.period)))
        chart = f"{chart}\n{tr('rp.funnel.period', span=_span(tr, f.period))}"
    for fs in f.stages + f.lost:
        label = stage_name(tr, fs.stage)
        sums = _sums(tr, fs.sums)
        note = f"{fs.items} · {sums}"
        if fs.conversion is not None:
            note += f" · {fs.conversion}%"
        labels.append(label)
        counts.append(fs.items)
        notes.append(note)
        lines.append(f"{esc(label)}: {esc(note)}")
    png = report_charts.funnel_png(chart, labels, counts, notes, len(f.lost))
    return png, _caption(lines)


def funnel_periods(tr: Translator, pipeline_id: int) -> InlineKeyboardMarkup:
    """Under a funnel: the same funnel for the items that came this week, this month, last month,
    in typed days, or all of them."""
    rows = [
        [
            _btn(tr(label), action=RpAction.FUNNEL, n=pipeline_id, v=kind)
            for kind, label in PERIOD_BUTTONS.items()
        ],
        [
            _btn(tr("rp.period.range"), action=RpAction.RANGE, n=pipeline_id, v=RpAction.FUNNEL.value),
            _btn(tr("rp.period.all"), action=RpAction.FUNNEL, n=pipeline_id),
        ],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def _funnel(
    session: AsyncSession, user: User, tr: Translator, pipeline_id: int, when: Period | None
) -> tuple[bytes, str]:
    f = await reports_service.funnel(session, user, pipeline_id, when)
    return await asyncio.to_thread(funnel_report, tr, f)


@router.callback_query(RpCB.filter(F.action == RpAction.FUNNEL))
async def on_funnel(
    callback: CallbackQuery, callback_data: RpCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    when = reports_service.period(callback_data.v, user) if callback_data.v else None
    png, caption = await _funnel(session, user, tr, callback_data.n, when)
    await _send(callback, png, caption, "funnel.png", funnel_periods(tr, callback_data.n))


# --- won and lost, salespeople -----------------------------------------------------------------


def won_lost_report(tr: Translator, wl: WonLost) -> tuple[bytes, str]:
    span = _span(tr, wl.period)
    weeks = [format_date(w, tr.language, with_year=False) for w in wl.weeks]
    png = report_charts.won_lost_png(
        tr("rp.won.chart", span=span), weeks, [v[0] for v in wl.weeks.values()],
        [v[1] for v in wl.weeks.values()], tr("rp.won.won"), tr("rp.won.lost"),
    )  # fmt: skip
    lines = [
        tr("rp.won.title", span=span),
        tr("rp.won.line_won", count=wl.won, sums=_sums(tr, wl.won_sums)),
        tr("rp.won.line_lost", count=wl.lost, sums=_sums(tr, wl.lost_sums)),
    ]
    return png, _caption(lines)


def people_report(tr: Translator, when: Period, stats: list[PersonStats]) -> tuple[bytes, str]:
    span = _span(tr, when)
    names = [s.name for s in stats]
    series = [
        (tr("rp.people.done"), report_charts.SERIES_COLOURS[0], [s.activities_done for s in stats]),
        (tr("rp.people.overdue"), report_charts.SERIES_COLOURS[1], [s.overdue for s in stats]),
        (tr("rp.people.converted"), report_charts.SERIES_COLOURS[2], [s.leads_converted for s in stats]),
        (tr("rp.people.won"), report_charts.SERIES_COLOURS[3], [s.deals_won for s in stats]),
    ]
    png = report_charts.people_png(tr("rp.people.chart", span=span), names, series)
    lines = [tr("rp.people.title", span=span)]
    for s in stats:
        lines.append(
            tr("rp.people.line", name=esc(truncate(s.name, 40)), done=s.activities_done, overdue=s.overdue,
               converted=s.leads_converted, won=s.deals_won)
        )  # fmt: skip
    return png, _caption(lines)


async def _period_report(
    session: AsyncSession, user: User, tr: Translator, which: str, when: Period
) -> tuple[bytes, str]:
    if which == RpAction.WON:
        wl = await reports_service.won_lost(session, user, when)
        return await asyncio.to_thread(won_lost_report, tr, wl)
    stats = await reports_service.salespeople(session, user, when)
    return await asyncio.to_thread(people_report, tr, when, stats)


@router.callback_query(RpCB.filter(F.action.in_({RpAction.WON, RpAction.PEOPLE})))
async def on_period(
    callback: CallbackQuery, callback_data: RpCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    when = reports_service.period(callback_data.v, user)
    png, caption = await _period_report(session, user, tr, callback_data.action, when)
    await _send(callback, png, caption, f"{callback_data.action.name.lower()}.png")


@router.callback_query(RpCB.filter(F.action == RpAction.RANGE))
async def on_range(
    callback: CallbackQuery, callback_data: RpCB, tr: Translator, state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    which = (
        callback_data.v
        if callback_data.v in (RpAction.WON, RpAction.PEOPLE, RpAction.FUNNEL)
        else RpAction.WON
    )
    await state.set_state(ReportForm.range)
    await state.update_data(rp=which, rp_n=callback_data.n)
    if isinstance(callback.message, Message):
        await callback.message.answer(tr("rp.ask_range"))


@router.message(ReportForm.range, F.chat.type == "private", F.text, ~F.text.startswith("/"))
async def on_range_text(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    options: HandlerOptions,
) -> None:  # fmt: skip
    ctx = FieldContext.of(user.language, user.timezone, region=options.phone_region)
    try:
        first, last = reports_service.parse_range(message.text or "", ctx)
        when = reports_service.period("range", user, first=first, last=last)
    except ValidationFailed as exc:
        await message.answer(describe(tr, exc) + "\n" + tr("rp.ask_range"))
        return
    data = await state.get_data()
    which, pipeline_id = data.get("rp", RpAction.WON), int(data.get("rp_n") or 0)
    await state.set_state(None)
    markup = None
    if which == RpAction.FUNNEL:
        png, caption = await _funnel(session, user, tr, pipeline_id, when)
        markup = funnel_periods(tr, pipeline_id)
    else:
        png, caption = await _period_report(session, user, tr, which, when)
    await message.answer_photo(
        BufferedInputFile(png, filename="report.png"), caption=caption, reply_markup=markup
    )


async def _send(
    callback: CallbackQuery, png: bytes, caption: str, name: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    if isinstance(callback.message, Message):
        await callback.message.answer_photo(
            BufferedInputFile(png, filename=name), caption=caption, reply_markup=markup
        )


# --- the weekly digest of heads and admins --------------------------------------------------------


async def weekly_digest(
    session: AsyncSession, notification: Notification, user: User, *, now: datetime
) -> list[OutgoingMessage]:
    """Last week's deals won and lost (what the person sees) and, when they want it, the funnel of
    the main deal pipeline as the picture with these lines as its caption."""
    if not users_service.may_get_weekly_digest(user) or not user.weekly_digest:
        return []  # a role or a setting changed after it was queued
    tr = Translator(user.language)
    monday = date.fromisoformat(str((notification.payload or {}).get("date")))
    when = reports_service.period(
        "range", user, first=monday - timedelta(days=7), last=monday - timedelta(days=1)
    )
    wl = await reports_service.won_lost(session, user, when)
    lines = [
        tr("rp.weekly.title", span=_span(tr, when)),
        tr("rp.won.line_won", count=wl.won, sums=_sums(tr, wl.won_sums)),
        tr("rp.won.line_lost", count=wl.lost, sums=_sums(tr, wl.lost_sums)),
    ]
    if not user.weekly_funnel:
        return [OutgoingMessage("\n".join(lines))]
    pipeline = await pipelines_service.default_pipeline(session, ItemType.DEAL)
    f = await reports_service.funnel(session, user, pipeline.id)
    png, caption = await asyncio.to_thread(funnel_report, tr, f)
    return [OutgoingMessage(_caption([*lines, "", *caption.splitlines()]), photo=png)]


notify_render.EXTRA_RENDERERS[NotificationCategory.WEEKLY_DIGEST] = weekly_digest
