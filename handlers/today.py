"""/today and the menu's "Today": my overdue, today's and the next 7 days' open activities, with
"Done" per activity (the list refreshes in place) and a button opening each item's card."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.services import activities as activities_service
from crm_core.services.counters import local_midnight, user_zone
from crm_core.services.today_queries import AgendaEntry, my_open_activities
from crm_core.services.when import local_today
from handlers.activity_screens import ActAction, ActCB, activity_summary
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, Unpacked
from handlers.card_render import TYPE_ICONS, load_visible
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="today")

PAGE_SIZE = 8
HORIZON_DAYS = 7
TITLE_LIMIT = 60


class TodayAction(StrEnum):
    PAGE = "p"
    DONE = "dn"  # complete the activity


class TodayCB(Unpacked, CallbackData, prefix="td"):
    action: TodayAction
    p: int = 0  # the page
    id: int = 0  # the activity


GROUP_NAMES = {"overdue": N_("today.overdue"), "today": N_("today.today"), "upcoming": N_("today.upcoming")}


def _group(entry: AgendaEntry, now: datetime, tomorrow: datetime) -> str:
    deadline = entry.activity.deadline
    if deadline <= now:
        return "overdue"
    return "today" if deadline < tomorrow else "upcoming"


def _entry_line(tr: Translator, n: int, entry: AgendaEntry, tz: ZoneInfo, now: datetime) -> str:
    item = entry.item
    title = esc(truncate(item.display_name, TITLE_LIMIT))
    summary = activity_summary(tr, entry.activity, tz, now)
    return f"{n}. {summary}\n    {TYPE_ICONS[item.ITEM_TYPE]} {item.ref} {title}"


def _td(text: str, action: TodayAction, page: int = 0, activity_id: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=TodayCB(action=action, p=page, id=activity_id).pack()
    )


async def today_screen(
    session: AsyncSession, user: User, tr: Translator, page: int = 0, notice: str = "",
    extra: list[list[InlineKeyboardButton]] | None = None,
) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    """The page `page` of the user's agenda; `notice` (HTML) and `extra` buttons go on top."""
    tz = user_zone(user)
    now = utcnow()
    today = local_today(now, tz)
    tomorrow = local_midnight(today + timedelta(days=1), tz)
    horizon = local_midnight(today + timedelta(days=HORIZON_DAYS + 1), tz)
    entries = await my_open_activities(session, user, until=horizon)
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    chunk = entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    head = [notice, ""] if notice else []
    head.append(tr("today.title"))
    blocks: list[str] = []
    kb: list[list[InlineKeyboardButton]] = list(extra or [])
    if not entries:
        blocks.append(tr("today.empty"))
    last_group = None
    for n, entry in enumerate(chunk, page * PAGE_SIZE + 1):
        group = _group(entry, now, tomorrow)
        if group != last_group:
            blocks.append("\n" + tr(GROUP_NAMES[group]))
            last_group = group
        blocks.append(_entry_line(tr, n, entry, tz, now))
        item = entry.item
        kb.append(
            [
                _td(tr("today.done_n", n=n), TodayAction.DONE, page, entry.activity.id),
                InlineKeyboardButton(
                    text=f"{TYPE_ICONS[item.ITEM_TYPE]} {item.ref}",
                    callback_data=CardCB(type=item.ITEM_TYPE, id=item.id, action=CardAction.OPEN).pack(),
                ),
            ]
        )
    if pages > 1:
        blocks.append("\n" + tr("today.page", page=page + 1, pages=pages))
        nav = []
        if page > 0:
            nav.append(_td(tr("today.prev"), TodayAction.PAGE, page - 1))
        if page < pages - 1:
            nav.append(_td(tr("today.next"), TodayAction.PAGE, page + 1))
        kb.append(nav)
    kb.append(
        [
            _td(tr("today.refresh"), TodayAction.PAGE, page),
            InlineKeyboardButton(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.MAIN).pack()),
        ]
    )
    text = "\n".join(head + blocks)
    # A page holds few short lines; the safety net keeps it within Telegram's limit regardless.
    while visible_length(text) > MESSAGE_LIMIT and len(blocks) > 1:
        blocks.pop()
        text = "\n".join(head + blocks)
    return text, InlineKeyboardMarkup(inline_keyboard=kb)


@router.message(Command("today"), F.chat.type == "private")
async def today_command(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(message, *await today_screen(session, user, tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.TODAY))
async def today_button(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, *await today_screen(session, user, tr))


@router.callback_query(TodayCB.filter(F.action == TodayAction.PAGE))
async def page_button(
    callback: CallbackQuery, callback_data: TodayCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await today_screen(session, user, tr, callback_data.p))


@router.callback_query(TodayCB.filter(F.action == TodayAction.DONE))
async def done_button(
    callback: CallbackQuery,
    callback_data: TodayCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    # crm_core checks the user may change the activity's item: a forged id is refused there.
    activity = await activities_service.complete_activity(session, user, callback_data.id)
    item = await load_visible(session, user, activity.owner_type, activity.owner_id)
    tz = user_zone(user)
    notice = tr("today.completed", activity=f"{activity_summary(tr, activity, tz, utcnow())} · {item.ref}")
    plan_next = [[
        InlineKeyboardButton(
            text=tr("today.plan_next", ref=item.ref),
            callback_data=ActCB(action=ActAction.PLAN, t=item.ITEM_TYPE.value, id=item.id).pack(),
        )
    ]]  # fmt: skip
    callback_answer.text = tr("today.done_toast")
    await show(callback, *await today_screen(session, user, tr, callback_data.p, notice, plan_next))


__all__ = ["TodayAction", "TodayCB", "router", "today_screen"]
