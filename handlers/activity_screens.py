"""What the activity screens share: the callback data and its actions, the planning form's states,
the one-tap plans, and the rendering of an item's activities and of one activity."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import ValidationFailed
from crm_core.models import User
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.items import AnyItem, ItemType
from crm_core.services import activities as activities_service
from crm_core.services import reminders as reminders_service
from crm_core.services.counters import user_zone
from handlers.callbacks import Unpacked
from handlers.card_render import back_to_card, item_label, load_visible
from handlers.datetime_input import format_moment
from handlers.errors import describe
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import ACTIVITY_KIND_NAMES

TYPES = tuple(ActivityType)  # call first: the default
LIST_SHOWN = 10
DESCRIPTION_LIMIT = 2000
SHOWN_DESCRIPTION = 600

# One-tap plans: kind and a when.quick_choice key; the labels are literal message ids.
QUICK_PLANS: dict[str, tuple[ActivityType, str]] = {
    "c1": (ActivityType.CALL, "tm10"),
    "m1": (ActivityType.MEETING, "tm10"),
    "c2": (ActivityType.CALL, "1h"),
}
QUICK_LABELS = {
    "c1": N_("quick.call_tomorrow"),
    "m1": N_("quick.meeting_tomorrow"),
    "c2": N_("quick.call_hour"),
}


class PlanActivity(StatesGroup):
    kind = State()
    description = State()
    # the deadline step is the shared date input (handlers.datetime_input, target "plan")
    reminders = State()


class DescribeActivity(StatesGroup):
    text = State()  # the description of an activity saved by a quick choice or a typed message


class ActAction(StrEnum):
    LIST = "ls"  # an item's open activities
    OPEN = "op"  # one activity
    PLAN = "pl"  # start the planning form
    TYPE = "ty"  # the form: a type chosen (v)
    SKIP_DESCRIPTION = "sk"
    REMINDERS = "rc"  # the form: change the reminders
    REMINDER_TOGGLE = "ro"  # v: minutes before
    REMINDERS_BACK = "rb"
    SAVE = "rs"
    CANCEL = "cx"
    QUICK = "q"  # a one-tap plan (v: a QUICK_PLANS key)
    DESCRIBE = "qd"  # a description for a saved activity
    DESCRIBE_CANCEL = "qx"
    DONE = "dn"
    NO_NEXT = "no"  # "don't plan the next one"
    SNOOZE = "sz"  # v: a snooze preset
    RESCHEDULE = "rd"


class ActCB(Unpacked, CallbackData, prefix="a"):
    action: ActAction
    t: str = ""  # item type, where the action is about an item
    id: int = 0  # item id or activity id
    v: str = ""


def act_cb(action: ActAction, t: ItemType | str = "", id: int = 0, v: str = "") -> str:
    return ActCB(action=action, t=str(t), id=id, v=v).pack()


def act_button(
    text: str, action: ActAction, t: ItemType | str = "", id: int = 0, v: str = ""
) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=act_cb(action, t, id, v))


def item_type_of(raw: str) -> ItemType | None:
    try:
        return ItemType(raw)
    except ValueError:
        return None


def quick_rows(tr: Translator, item_type: ItemType, item_id: int) -> list[list[InlineKeyboardButton]]:
    """The one-tap plans of an item, two on the first row."""
    buttons = [
        act_button(tr(QUICK_LABELS[key]), ActAction.QUICK, item_type, item_id, key) for key in QUICK_PLANS
    ]
    return [buttons[:2], buttons[2:]]


def check_subject_text(tr: Translator, subject: str) -> str | None:
    """None if crm_core takes the subject, else the message refusing it (never cut silently)."""
    try:
        activities_service.check_subject(subject)
    except ValidationFailed as exc:
        return describe(tr, exc)
    return None


# --- rendering -----------------------------------------------------------------------------------


def reminders_text(tr: Translator, offsets: list[int]) -> str:
    if not offsets:
        return tr("act.rem.none")
    return ", ".join(offset_label(tr, o) for o in sorted(offsets, reverse=True))


def offset_label(tr: Translator, minutes: int) -> str:
    if minutes == 0:
        return tr("act.rem.at")
    if minutes == 1440:
        return tr("act.rem.1d")
    if minutes % 1440 == 0:
        return tr("act.rem.day", n=minutes // 1440)
    if minutes % 60 == 0:
        return tr("act.rem.hour", n=minutes // 60)
    return tr("act.rem.min", n=minutes)


def activity_summary(tr: Translator, activity: Activity, tz: ZoneInfo, now: datetime) -> str:
    """One line: type, subject, deadline, overdue mark (escaped HTML)."""
    kind = tr(ACTIVITY_KIND_NAMES[ActivityType(activity.type)])
    subject = f" «{esc(truncate(activity.subject, 80))}»" if activity.subject else ""
    overdue = f" {tr('act.overdue')}" if activity.is_open and activity.deadline <= now else ""
    return f"{kind}{subject} · {format_moment(tr, activity.deadline, tz, now)}{overdue}"


async def items_activities_screen(
    session: AsyncSession, user: User, tr: Translator, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    tz = user_zone(user)
    now = utcnow()
    rows = await activities_service.list_open_activities(
        session, user, item.ITEM_TYPE, item.id, limit=LIST_SHOWN + 1
    )
    shown = rows[:LIST_SHOWN]
    lines = [tr("act.list_title", item=item_label(tr, item)), ""]
    if not shown:
        lines.append(tr("act.list_empty"))
    for n, activity in enumerate(shown, 1):
        lines.append(f"{n}. {activity_summary(tr, activity, tz, now)}")
    if len(rows) > LIST_SHOWN:
        lines.append(tr("act.list_more", count=len(rows) - LIST_SHOWN))
    kb: list[list[InlineKeyboardButton]] = []
    for n, activity in enumerate(shown, 1):
        kb.append(
            [
                act_button(tr("act.done_n", n=n), ActAction.DONE, item.ITEM_TYPE, activity.id, "l"),
                act_button(tr("act.move_n", n=n), ActAction.OPEN, item.ITEM_TYPE, activity.id),
            ]
        )
    kb.extend(quick_rows(tr, item.ITEM_TYPE, item.id))
    kb.append([act_button(tr("act.plan_new"), ActAction.PLAN, item.ITEM_TYPE, item.id)])
    kb.append([back_to_card(tr, item.ITEM_TYPE, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def activity_screen(
    session: AsyncSession,
    user: User,
    tr: Translator,
    activity: Activity,
    item: AnyItem,
    *,
    saved: bool = False,
) -> tuple[str, InlineKeyboardMarkup]:
    """One activity; `saved`: it was just planned in one step (a title saying so, "add description",
    and back to the card rather than to the list)."""
    tz = user_zone(user)
    now = utcnow()
    lines = [f"<b>{activity_summary(tr, activity, tz, now)}</b>", item_label(tr, item), ""]
    if saved:
        lines.insert(0, tr("quick.saved"))
    if activity.completed and activity.completed_at is not None:
        lines.append(tr("act.completed_line", when=format_moment(tr, activity.completed_at, tz, now)))
    else:
        offsets = await reminders_service.resolve_offsets(session, activity)
        lines.append(tr("act.reminders_line", reminders=reminders_text(tr, offsets)))
    if activity.description:
        lines.append(tr("act.description_line", text=esc(truncate(activity.description, SHOWN_DESCRIPTION))))
    t = item.ITEM_TYPE
    kb: list[list[InlineKeyboardButton]] = []
    if activity.is_open and not activity.description:
        kb.append([act_button(tr("quick.add_description"), ActAction.DESCRIBE, t, activity.id)])
    if activity.is_open:
        kb.append([act_button(tr("act.done"), ActAction.DONE, t, activity.id, "a")])
        kb.append(
            [
                act_button(tr("act.snooze.15m"), ActAction.SNOOZE, t, activity.id, "15m"),
                act_button(tr("act.snooze.1h"), ActAction.SNOOZE, t, activity.id, "1h"),
                act_button(tr("act.snooze.tm"), ActAction.SNOOZE, t, activity.id, "tm"),
            ]
        )
        kb.append([act_button(tr("act.reschedule"), ActAction.RESCHEDULE, t, activity.id)])
    if saved:
        kb.append([back_to_card(tr, t, item.id)])
    else:
        kb.append([act_button(tr("act.back"), ActAction.LIST, t, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def saved_screen(
    session: AsyncSession, user: User, tr: Translator, activity: Activity, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    """A just planned activity: what, when, reminders; add a description or change the time."""
    return await activity_screen(session, user, tr, activity, item, saved=True)


async def load_activity(session: AsyncSession, user: User, activity_id: int) -> tuple[Activity, AnyItem]:
    """The activity and its item, if the user may see the item (NotFound otherwise)."""
    activity = await activities_service.get_activity(session, user, activity_id)
    item = await load_visible(session, user, activity.owner_type, activity.owner_id)
    return activity, item


def subject_of(description: str) -> str:
    """A description's first line is the activity's subject."""
    return description.split("\n", 1)[0].strip() if description else ""


def description_refusal(tr: Translator, text: str, *, with_subject: bool = True) -> str | None:
    """Why a typed description is refused (too long; or its first line, the subject, is), or None."""
    if len(text) > DESCRIPTION_LIMIT:
        return tr("quick.description_too_long", max=DESCRIPTION_LIMIT)
    return check_subject_text(tr, subject_of(text)) if with_subject else None
