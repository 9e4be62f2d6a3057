"""The activities view (my leads and deals in progress grouped by their nearest open activity:
overdue, today, this week, next week, later, none) and a month calendar of my activities (a grid
with counts per day, previous/next month, a day's activities each opening its item's card)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import ValidationFailed
from crm_core.formatting import format_date, format_time, month_name, weekday_name
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.users import User
from crm_core.services import views as views_service
from crm_core.services.counters import GROUPS, activities_view, calendar_month, user_zone
from crm_core.services.views import Condition
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, Unpacked
from handlers.card_render import TYPE_ICONS
from handlers.datetime_input import format_moment
from handlers.month_grid import month_rows, shift_month
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import ACTIVITY_KIND_NAMES
from handlers.ui import show

router = Router(name="agenda")

PREVIEW = 3  # items shown per group on the overview
PAGE_SIZE = 10
TITLE_LIMIT = 40
DAY_LIMIT = 30  # activities listed for one day
GROUP_ICONS = {
    "overdue": "🔴",
    "today": "🟠",
    "this_week": "🟡",
    "next_week": "🟢",
    "later": "🔵",
    "none": "⚪️",
}


GROUP_TITLES = {
    "overdue": N_("av.group.overdue"),
    "today": N_("av.group.today"),
    "this_week": N_("av.group.this_week"),
    "next_week": N_("av.group.next_week"),
    "later": N_("av.group.later"),
    "none": N_("av.group.none"),
}


class AvAction(StrEnum):
    OVERVIEW = "overview"
    GROUP = "group"  # a group's page


class AvCB(Unpacked, CallbackData, prefix="av"):
    a: AvAction
    g: str = ""  # the group
    o: int = 0  # the page's offset


class CalAction(StrEnum):
    MONTH = "month"
    DAY = "day"
    NOOP = "noop"  # labels and blank cells


class CalCB(Unpacked, CallbackData, prefix="cal"):
    a: CalAction
    y: int = 0
    m: int = 0
    d: int = 0


def _menu_btn(tr: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=tr("views.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
    )


def _open_btn(text: str, item: AnyItem) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=CardCB(type=item.ITEM_TYPE, id=item.id, action=CardAction.OPEN).pack()
    )


async def visible_items(
    session: AsyncSession, user: User, wanted: dict[ItemType, set[int]]
) -> dict[tuple[ItemType, int], AnyItem]:
    """The wanted items the user may see (not trashed), loaded in one query per type through
    crm_core's list (its visibility rules apply)."""
    out: dict[tuple[ItemType, int], AnyItem] = {}
    for item_type, ids in wanted.items():
        id_list = sorted(ids)
        for start in range(0, len(id_list), views_service.MAX_LIMIT):
            chunk = id_list[start : start + views_service.MAX_LIMIT]
            page = await views_service.list_items(
                session, user, item_type, filters=[Condition("id", "in", chunk)], limit=len(chunk)
            )
            out.update({(item_type, i.id): i for i in page.items})
    return out


# --- activities view -----------------------------------------------------------------------------


def _entry_line(tr: Translator, n: int, item: AnyItem, nearest: datetime | None, user: User) -> str:
    title = esc(truncate(item.display_name, TITLE_LIMIT))
    when = f" — {format_moment(tr, nearest, user_zone(user))}" if nearest else ""
    return f"{n}. {TYPE_ICONS[item.ITEM_TYPE]} {item.ref} {title}{when}"


async def overview_screen(
    session: AsyncSession, user: User, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    view = await activities_view(session, user, utcnow(), limit_per_group=PREVIEW)
    wanted: dict[ItemType, set[int]] = defaultdict(set)
    for entries in view.groups.values():
        for e in entries:
            wanted[e.owner_type].add(e.owner_id)
    items = await visible_items(session, user, wanted)
    lines = [tr("av.title")]
    rows: list[list[InlineKeyboardButton]] = []
    for group in GROUPS:
        count = view.counts[group]
        lines.append("")
        lines.append(f"{GROUP_ICONS[group]} <b>{tr(GROUP_TITLES[group])}</b>: {count}")
        n = 0
        for e in view.groups[group]:
            item = items.get((e.owner_type, e.owner_id))
            if item is not None:
                n += 1
                lines.append(_entry_line(tr, n, item, e.nearest_deadline, user))
        if count > n:
            lines.append(tr("av.more", count=count - n))
        if count:
            rows.append([
                InlineKeyboardButton(
                    text=f"{GROUP_ICONS[group]} {tr(GROUP_TITLES[group])} · {count}",
                    callback_data=AvCB(a=AvAction.GROUP, g=group).pack(),
                )
            ])  # fmt: skip
    if not any(view.counts.values()):
        lines.append("")
        lines.append(tr("av.empty"))
    calendar = MenuCB(action=MenuAction.CALENDAR).pack()
    rows.append([
        InlineKeyboardButton(text=tr("av.refresh"), callback_data=AvCB(a=AvAction.OVERVIEW).pack()),
        InlineKeyboardButton(text=tr("menu.calendar"), callback_data=calendar),
    ])  # fmt: skip
    rows.append([_menu_btn(tr)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def group_screen(
    session: AsyncSession, user: User, tr: Translator, group: str, offset: int
) -> tuple[str, InlineKeyboardMarkup]:
    if group not in GROUPS:
        raise ValidationFailed("unknown group", group=group)
    offset = max(0, offset)
    view = await activities_view(session, user, utcnow(), limit_per_group=offset + PAGE_SIZE)
    total = view.counts[group]
    if offset >= total and offset > 0:
        offset = max(0, (total - 1) // PAGE_SIZE * PAGE_SIZE)
    entries = view.groups[group][offset : offset + PAGE_SIZE]
    wanted: dict[ItemType, set[int]] = defaultdict(set)
    for e in entries:
        wanted[e.owner_type].add(e.owner_id)
    items = await visible_items(session, user, wanted)
    lines = [f"{GROUP_ICONS[group]} <b>{tr(GROUP_TITLES[group])}</b>: {total}", ""]
    rows: list[list[InlineKeyboardButton]] = []
    for n, e in enumerate(entries, offset + 1):
        item = items.get((e.owner_type, e.owner_id))
        if item is None:
            continue
        lines.append(_entry_line(tr, n, item, e.nearest_deadline, user))
        rows.append([_open_btn(f"{n}. {item.ref} {truncate(item.display_name, 30)}", item)])
    if not entries:
        lines.append(tr("av.group_empty"))
    if total > PAGE_SIZE:
        lines.append("")
        lines.append(tr("views.page", page=offset // PAGE_SIZE + 1, pages=-(-total // PAGE_SIZE)))
        nav = []
        if offset > 0:
            nav.append(
                InlineKeyboardButton(
                    text=tr("views.prev"),
                    callback_data=AvCB(a=AvAction.GROUP, g=group, o=offset - PAGE_SIZE).pack(),
                )
            )
        if offset + PAGE_SIZE < total:
            nav.append(
                InlineKeyboardButton(
                    text=tr("views.next"),
                    callback_data=AvCB(a=AvAction.GROUP, g=group, o=offset + PAGE_SIZE).pack(),
                )
            )
        rows.append(nav)
    rows.append([InlineKeyboardButton(text=tr("views.back"), callback_data=AvCB(a=AvAction.OVERVIEW).pack())])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(MenuCB.filter(F.action == MenuAction.ACTIVITIES))
async def activities_menu(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, *await overview_screen(session, user, tr))


@router.callback_query(AvCB.filter(F.a == AvAction.OVERVIEW))
async def overview_button(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, *await overview_screen(session, user, tr))


@router.callback_query(AvCB.filter(F.a == AvAction.GROUP))
async def group_button(
    callback: CallbackQuery, callback_data: AvCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await group_screen(session, user, tr, callback_data.g, callback_data.o))


# --- calendar ------------------------------------------------------------------------------------


def _cal(text: str, **data: int | str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=CalCB(**data).pack())  # type: ignore[arg-type]


def _check_month(year: int, month: int) -> None:
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        raise ValidationFailed("bad month", year=year, month=month)


async def _month_activities(
    session: AsyncSession, user: User, year: int, month: int
) -> tuple[dict[date, list[Activity]], dict[tuple[ItemType, int], AnyItem]]:
    """The month's activities on items the user may still see (a trashed item's are left out)."""
    days = await calendar_month(session, user, year, month)
    wanted: dict[ItemType, set[int]] = defaultdict(set)
    for acts in days.values():
        for a in acts:
            wanted[ItemType(a.owner_type)].add(a.owner_id)
    items = await visible_items(session, user, wanted)
    kept = {}
    for day, acts in days.items():
        shown = [a for a in acts if (ItemType(a.owner_type), a.owner_id) in items]
        if shown:
            kept[day] = shown
    return kept, items


async def month_screen(
    session: AsyncSession, user: User, tr: Translator, year: int | None = None, month: int | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    today = utcnow().astimezone(user_zone(user)).date()
    year, month = year or today.year, month or today.month
    _check_month(year, month)
    days, _items = await _month_activities(session, user, year, month)
    total = sum(len(v) for v in days.values())
    open_count = sum(1 for v in days.values() for a in v if not a.completed)
    title = tr("cal.title", month=month_name(month, tr.language), year=year)
    lines = [title, tr("cal.summary", total=total, open=open_count), "", tr("cal.hint")]

    def day_button(day: date) -> InlineKeyboardButton:
        count = len(days.get(day, []))
        label = str(day.day) + (f"·{count}" if count else "")
        if day == today:
            label = f"[{label}]"
        return (
            _cal(label, a=CalAction.DAY, y=year, m=month, d=day.day)
            if count
            else _cal(label, a=CalAction.NOOP)
        )

    rows = month_rows(
        year, month, tr.language, day_button=day_button, blank=lambda label: _cal(label, a=CalAction.NOOP)
    )
    py, pm = shift_month(year, month, -1)
    ny, nm = shift_month(year, month, 1)
    rows.append([
        _cal(tr("cal.prev"), a=CalAction.MONTH, y=py, m=pm),
        _cal(tr("cal.today"), a=CalAction.MONTH, y=today.year, m=today.month),
        _cal(tr("cal.next"), a=CalAction.MONTH, y=ny, m=nm),
    ])  # fmt: skip
    rows.append([_menu_btn(tr)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def day_screen(
    session: AsyncSession, user: User, tr: Translator, year: int, month: int, day_no: int
) -> tuple[str, InlineKeyboardMarkup]:
    _check_month(year, month)
    try:
        day = date(year, month, day_no)
    except ValueError as exc:
        raise ValidationFailed("bad day", day=day_no) from exc
    days, items = await _month_activities(session, user, year, month)
    acts = days.get(day, [])
    tz = user_zone(user)
    weekday = weekday_name(day.weekday(), tr.language)
    lines = [tr("cal.day_title", weekday=weekday, day=format_date(day, tr.language)), ""]
    rows: list[list[InlineKeyboardButton]] = []
    seen: set[tuple[ItemType, int]] = set()
    if not acts:
        lines.append(tr("cal.day_empty"))
    for n, a in enumerate(acts[:DAY_LIMIT], 1):
        item = items[(ItemType(a.owner_type), a.owner_id)]
        kind = tr(ACTIVITY_KIND_NAMES[ActivityType(a.type)])
        subject = f" «{esc(truncate(a.subject, 60))}»" if a.subject else ""
        done = " ✔️" if a.completed else ""
        when = format_time(a.deadline.astimezone(tz), tr.language)
        lines.append(f"{n}. {when} {kind}{subject}{done}\n     {TYPE_ICONS[item.ITEM_TYPE]} {item.ref} "
                     f"{esc(truncate(item.display_name, TITLE_LIMIT))}")  # fmt: skip
        key = (item.ITEM_TYPE, item.id)
        if key not in seen:
            seen.add(key)
            rows.append(
                [
                    _open_btn(
                        f"{TYPE_ICONS[item.ITEM_TYPE]} {item.ref} {truncate(item.display_name, 30)}", item
                    )
                ]
            )
    if len(acts) > DAY_LIMIT:
        lines.append(tr("av.more", count=len(acts) - DAY_LIMIT))
    rows.append([_cal(tr("cal.back_month"), a=CalAction.MONTH, y=year, m=month)])
    text = "\n".join(lines)
    while visible_length(text) > MESSAGE_LIMIT and len(lines) > 3:
        lines.pop(-1)
        text = "\n".join(lines)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(MenuCB.filter(F.action == MenuAction.CALENDAR))
async def calendar_menu(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, *await month_screen(session, user, tr))


@router.callback_query(CalCB.filter(F.a == CalAction.MONTH))
async def month_button(
    callback: CallbackQuery, callback_data: CalCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await month_screen(session, user, tr, callback_data.y, callback_data.m))


@router.callback_query(CalCB.filter(F.a == CalAction.DAY))
async def day_button(
    callback: CallbackQuery, callback_data: CalCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    cd = callback_data
    await show(callback, *await day_screen(session, user, tr, cd.y, cd.m, cd.d))


@router.callback_query(CalCB.filter(F.a == CalAction.NOOP))
async def calendar_noop(callback: CallbackQuery) -> None:
    """Weekday labels and empty days."""


__all__ = [
    "AvCB",
    "CalCB",
    "day_screen",
    "group_screen",
    "month_screen",
    "overview_screen",
    "router",
    "visible_items",
]
