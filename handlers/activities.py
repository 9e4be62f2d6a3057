"""Activities ("дела") of an item: the list from the card's "Activity" button, planning one in a few
taps (type, description, deadline, reminders), completing ("Done", then "plan the next one?"),
snoozing and rescheduling. Every rule is crm_core's; ids in buttons are re-checked there.

Public for other features:
  start_planning(event, ctx, item_type, item_id)  the planning form for an item
  items_activities_screen(...)                    the item's activities list (text, markup)
  activity_summary(tr, activity, tz, now)         "📞 Call «subject» · tomorrow 10:00"
  reminders_text(tr, offsets)                     "15 min before, at the deadline"
  saved_screen(session, user, tr, activity, item)  a just planned activity, description optional

Quick choices ("📞 Call tomorrow 10:00") save at once with the default reminders: card -> Activity
-> quick choice is the whole of it; a description can be added afterwards.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import ValidationFailed
from crm_core.models import User
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.items import AnyItem, ItemType
from crm_core.services import activities as activities_service
from crm_core.services import reminders as reminders_service
from crm_core.services.counters import user_zone
from crm_core.services.when import quick_choice
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import back_to_card, item_label, load_visible, open_card
from handlers.datetime_input import Ctx, Event, ask_datetime, format_moment, register_target
from handlers.errors import describe
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="activities")

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
# The form's names of the types ("📞 Call"), distinct from the card's plain ones (texts.names).
TYPE_NAMES = {
    ActivityType.CALL: N_("act.type.call"),
    ActivityType.MEETING: N_("act.type.meeting"),
    ActivityType.TASK: N_("act.type.task"),
    ActivityType.EMAIL: N_("act.type.email"),
    ActivityType.MESSAGE: N_("act.type.message"),
    ActivityType.UNIVERSAL: N_("act.type.universal"),
}


class PlanActivity(StatesGroup):
    kind = State()
    description = State()
    # the deadline step is the shared date input (handlers.datetime_input, target "plan")
    reminders = State()


class DescribeActivity(StatesGroup):
    text = State()  # the description of an activity saved by a quick choice or a typed message


class ActCB(CallbackData, prefix="a"):
    """a: ls list, pl plan, ty type, sk skip description, rc/ro/rb reminders screen/toggle/back,
    rs save, cx cancel, op one activity, dn done, sz snooze, rd reschedule, no "don't plan next",
    q quick plan (v: QUICK_PLANS key), qd describe a saved activity, qx cancel describing."""

    a: str
    t: str = ""  # item type, where the action is about an item
    id: int = 0  # item id or activity id
    v: str = ""


def _cb(a: str, t: ItemType | str = "", id: int = 0, v: str = "") -> str:
    return ActCB(a=a, t=str(t), id=id, v=v).pack()


def _button(text: str, a: str, t: ItemType | str = "", id: int = 0, v: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=_cb(a, t, id, v))


def _item_type(raw: str) -> ItemType | None:
    try:
        return ItemType(raw)
    except ValueError:
        return None


def quick_rows(tr: Translator, item_type: ItemType, item_id: int) -> list[list[InlineKeyboardButton]]:
    """The one-tap plans of an item, two on the first row."""
    buttons = [_button(tr(QUICK_LABELS[key]), "q", item_type, item_id, key) for key in QUICK_PLANS]
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
    kind = tr(TYPE_NAMES[ActivityType(activity.type)])
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
                _button(tr("act.done_n", n=n), "dn", item.ITEM_TYPE, activity.id, "l"),
                _button(tr("act.move_n", n=n), "op", item.ITEM_TYPE, activity.id),
            ]
        )
    kb.extend(quick_rows(tr, item.ITEM_TYPE, item.id))
    kb.append([_button(tr("act.plan_new"), "pl", item.ITEM_TYPE, item.id)])
    kb.append([back_to_card(tr, item.ITEM_TYPE, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def _activity_screen(
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
        kb.append([_button(tr("quick.add_description"), "qd", t, activity.id)])
    if activity.is_open:
        kb.append([_button(tr("act.done"), "dn", t, activity.id, "a")])
        kb.append(
            [
                _button(tr("act.snooze.15m"), "sz", t, activity.id, "15m"),
                _button(tr("act.snooze.1h"), "sz", t, activity.id, "1h"),
                _button(tr("act.snooze.tm"), "sz", t, activity.id, "tm"),
            ]
        )
        kb.append([_button(tr("act.reschedule"), "rd", t, activity.id)])
    if saved:
        kb.append([back_to_card(tr, t, item.id)])
    else:
        kb.append([_button(tr("act.back"), "ls", t, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def saved_screen(
    session: AsyncSession, user: User, tr: Translator, activity: Activity, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    """A just planned activity: what, when, reminders; add a description or change the time."""
    return await _activity_screen(session, user, tr, activity, item, saved=True)


async def _load_activity(session: AsyncSession, user: User, activity_id: int) -> tuple[Activity, AnyItem]:
    """The activity and its item, if the user may see the item (NotFound otherwise)."""
    activity = await activities_service.get_activity(session, user, activity_id)
    item = await load_visible(session, user, activity.owner_type, activity.owner_id)
    return activity, item


# --- the card's "Activity" button and the list -------------------------------------------------


@router.callback_query(CardCB.filter(F.action == CardAction.ACTIVITY))
async def from_card(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    open_rows = await activities_service.list_open_activities(session, user, item.ITEM_TYPE, item.id, limit=1)
    if not open_rows:
        # Nothing to show yet: straight to planning, the fewest taps.
        ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
        await start_planning(callback, ctx, item.ITEM_TYPE, item.id)
        return
    await show(callback, *await items_activities_screen(session, user, tr, item))


@router.callback_query(ActCB.filter(F.a == "ls"))
async def list_button(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item_type = _item_type(callback_data.t)
    if item_type is None:
        return
    item = await load_visible(session, user, item_type, callback_data.id)
    await show(callback, *await items_activities_screen(session, user, tr, item))


@router.callback_query(ActCB.filter(F.a == "op"))
async def one_activity(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    activity, item = await _load_activity(session, user, callback_data.id)
    await show(callback, *await _activity_screen(session, user, tr, activity, item))


# --- planning ----------------------------------------------------------------------------------


async def start_planning(event: Event, ctx: Ctx, item_type: ItemType, item_id: int) -> None:
    """The planning form for an item the user may change: first, the type."""
    item = await load_visible(ctx.session, ctx.user, item_type, item_id, for_edit=True)
    await ctx.state.clear()
    await ctx.state.set_state(PlanActivity.kind)
    await ctx.state.set_data({"a_t": item.ITEM_TYPE.value, "a_id": item.id})
    t = item.ITEM_TYPE
    kb = [[_button(ctx.tr(TYPE_NAMES[k]), "ty", t, item.id, k.value) for k in TYPES[i : i + 2]]
          for i in range(0, len(TYPES), 2)]  # fmt: skip
    kb.extend(quick_rows(ctx.tr, t, item.id))  # after the types: "Call" still finds the type first
    kb.append([_button(ctx.tr("act.cancel"), "cx", t, item.id)])
    text = ctx.tr("act.new_title", item=item_label(ctx.tr, item)) + "\n\n" + ctx.tr("act.choose_type")
    await show(event, text, InlineKeyboardMarkup(inline_keyboard=kb))


async def _draft_title(ctx: Ctx, with_description: bool = True) -> str:
    """ "📞 Call · 🎯 L-12 Title" (+ the description) heading the form's later screens."""
    data = await ctx.state.get_data()
    item = await load_visible(ctx.session, ctx.user, data["a_t"], int(data["a_id"]))
    kind = ctx.tr(TYPE_NAMES[ActivityType(data.get("a_kind") or ActivityType.CALL)])
    title = f"<b>{kind}</b> · {item_label(ctx.tr, item)}"
    if with_description and data.get("a_desc"):
        title += "\n" + ctx.tr("act.description_line", text=esc(truncate(data["a_desc"], SHOWN_DESCRIPTION)))
    return title


async def _form_item(state: FSMContext) -> tuple[ItemType, int] | None:
    data = await state.get_data()
    item_type = _item_type(str(data.get("a_t") or ""))
    if item_type is None or not data.get("a_id"):
        return None
    return item_type, int(data["a_id"])


@router.callback_query(ActCB.filter(F.a == "pl"))
async def plan_button(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = _item_type(callback_data.t)
    if item_type is None:
        return
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    await start_planning(callback, ctx, item_type, callback_data.id)


@router.callback_query(ActCB.filter(F.a == "ty"), PlanActivity.kind)
async def chose_type(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        kind = ActivityType(callback_data.v)
    except ValueError:
        callback_answer.text = tr("error.stale_button")
        return
    await state.update_data(a_kind=kind.value)
    await state.set_state(PlanActivity.description)
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    form = await _form_item(state)
    assert form is not None
    kb = [[_button(tr("act.skip"), "sk", *form), _button(tr("act.cancel"), "cx", *form)]]
    text = await _draft_title(ctx) + "\n\n" + tr("act.ask_description")
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.callback_query(ActCB.filter(F.a == "sk"), PlanActivity.description)
async def skip_description(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    await ask_datetime(callback, ctx, "plan", await _draft_title(ctx))


@router.message(PlanActivity.description, F.text, ~F.text.startswith("/"))
async def typed_description(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    text = (message.text or "").strip()
    refusal = _description_refusal(tr, text)
    if refusal:
        await message.answer(refusal)  # the form stays at this step: send it shorter
        return
    await state.update_data(a_desc=text)
    ctx = Ctx(session, user, tr, state, bot)
    await ask_datetime(message, ctx, "plan", await _draft_title(ctx))


def _subject_of(description: str) -> str:
    """A description's first line is the activity's subject."""
    return description.split("\n", 1)[0].strip() if description else ""


def _description_refusal(tr: Translator, text: str, *, with_subject: bool = True) -> str | None:
    """Why a typed description is refused (too long; or its first line, the subject, is), or None."""
    if len(text) > DESCRIPTION_LIMIT:
        return tr("quick.description_too_long", max=DESCRIPTION_LIMIT)
    return check_subject_text(tr, _subject_of(text)) if with_subject else None


async def _plan_picked(event: Event, ctx: Ctx, deadline: datetime) -> None:
    """The deadline is chosen: resolve the default reminders and show the summary with Save."""
    form = await _form_item(ctx.state)
    if form is None:
        await ctx.state.clear()
        ctx.toast(ctx.tr("error.stale_button"))
        return
    # The defaults that would apply (the user's, the pipeline's, or [0, 15]), as crm_core resolves them.
    probe = Activity(owner_type=form[0], owner_id=form[1], responsible_id=ctx.user.id, reminder_offsets=None)
    defaults = await reminders_service.resolve_offsets(ctx.session, probe)
    await ctx.state.update_data(
        a_deadline=deadline.isoformat(), a_default=defaults, a_offsets=defaults, a_changed=False
    )
    await ctx.state.set_state(PlanActivity.reminders)
    await show(event, *await _summary_screen(ctx))


async def _summary_screen(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    data = await ctx.state.get_data()
    form = await _form_item(ctx.state)
    assert form is not None
    deadline = datetime.fromisoformat(data["a_deadline"])
    tz = user_zone(ctx.user)
    lines = [
        await _draft_title(ctx),
        ctx.tr("act.deadline_line", when=format_moment(ctx.tr, deadline, tz)),
        ctx.tr("act.reminders_line", reminders=reminders_text(ctx.tr, list(data.get("a_offsets") or []))),
        "",
        ctx.tr("act.summary_hint"),
    ]
    kb = [
        [_button(ctx.tr("act.save"), "rs", *form)],
        [_button(ctx.tr("act.change_reminders"), "rc", *form)],
        [_button(ctx.tr("act.cancel"), "cx", *form)],
    ]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=kb)


async def _reminders_screen(ctx: Ctx) -> tuple[str, InlineKeyboardMarkup]:
    data = await ctx.state.get_data()
    form = await _form_item(ctx.state)
    assert form is not None
    chosen = set(data.get("a_offsets") or [])
    choices = sorted(set(reminders_service.REMINDER_CHOICES) | chosen)
    kb: list[list[InlineKeyboardButton]] = []
    row: list[InlineKeyboardButton] = []
    for minutes in choices:
        mark = "✅" if minutes in chosen else "▫️"
        row.append(_button(f"{mark} {offset_label(ctx.tr, minutes)}", "ro", *form, v=str(minutes)))
        if len(row) == 2:
            kb.append(row)
            row = []
    if row:
        kb.append(row)
    kb.append([_button(ctx.tr("act.save"), "rs", *form)])
    kb.append([_button(ctx.tr("act.back"), "rb", *form)])
    text = await _draft_title(ctx, with_description=False) + "\n\n" + ctx.tr("act.reminders_title")
    return text, InlineKeyboardMarkup(inline_keyboard=kb)


@router.callback_query(ActCB.filter(F.a.in_({"rc", "ro", "rb"})), PlanActivity.reminders)
async def reminders_step(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    if callback_data.a == "rb":
        await show(callback, *await _summary_screen(ctx))
        return
    if callback_data.a == "ro":
        data = await state.get_data()
        chosen = set(data.get("a_offsets") or [])
        try:
            minutes = int(callback_data.v)
        except ValueError:
            callback_answer.text = tr("error.stale_button")
            return
        chosen ^= {minutes}
        # crm_core validates (range, count); a forged value fails here, before anything is kept.
        clean = reminders_service.validate_offsets(sorted(chosen))
        await state.update_data(a_offsets=clean, a_changed=True)
    await show(callback, *await _reminders_screen(ctx))


@router.callback_query(ActCB.filter(F.a == "rs"), PlanActivity.reminders)
async def save(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    form = await _form_item(state)
    if form is None or not data.get("a_deadline"):
        await state.clear()
        callback_answer.text = tr("error.stale_button")
        return
    offsets = list(data.get("a_offsets") or [])
    # Untouched (or set back to the defaults): keep following the defaults, as crm_core does.
    keep_defaults = not data.get("a_changed") or sorted(offsets) == sorted(data.get("a_default") or [])
    description = str(data.get("a_desc") or "")
    subject = _subject_of(description)  # refused over the limit when it was typed
    await activities_service.create_activity(
        session,
        user,
        owner_type=form[0],
        owner_id=form[1],
        deadline=datetime.fromisoformat(data["a_deadline"]),
        type=str(data.get("a_kind") or ActivityType.CALL.value),
        subject=subject,
        description=description,
        reminder_offsets=None if keep_defaults else offsets,
    )
    await state.clear()
    callback_answer.text = tr("act.created")
    await open_card(callback, session, user, tr, *form)


@router.callback_query(ActCB.filter(F.a == "cx"))
async def cancel(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await state.clear()
    item_type = _item_type(callback_data.t)
    if item_type is None:
        await show(callback, tr("cancelled"))
        return
    await open_card(callback, session, user, tr, item_type, callback_data.id)


async def _plan_cancelled(event: Event, ctx: Ctx) -> None:
    form = await _form_item(ctx.state)
    await ctx.state.clear()
    if form is None:
        await show(event, ctx.tr("cancelled"))
        return
    await open_card(event, ctx.session, ctx.user, ctx.tr, *form)


register_target("plan", _plan_picked, _plan_cancelled)


# --- quick plans and a description afterwards ---------------------------------------------------


@router.callback_query(ActCB.filter(F.a == "q"))
async def quick_plan(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = _item_type(callback_data.t)
    plan = QUICK_PLANS.get(callback_data.v)
    if item_type is None or plan is None:
        callback_answer.text = tr("error.stale_button")
        return
    kind, choice = plan
    deadline = quick_choice(choice, utcnow(), user_zone(user))
    assert deadline is not None
    activity = await activities_service.create_activity(
        session, user, owner_type=item_type, owner_id=callback_data.id, deadline=deadline, type=kind
    )
    if (await state.get_state() or "").startswith(PlanActivity.__name__):
        await state.clear()  # pressed on the planning form: that form is done
    item = await load_visible(session, user, item_type, callback_data.id)
    callback_answer.text = tr("act.created")
    await show(callback, *await saved_screen(session, user, tr, activity, item))


@router.callback_query(ActCB.filter(F.a == "qd"))
async def describe_button(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    activity, item = await _load_activity(session, user, callback_data.id)
    await load_visible(session, user, item.ITEM_TYPE, item.id, for_edit=True)
    await state.clear()
    await state.set_state(DescribeActivity.text)
    await state.set_data({"qd_activity": activity.id})
    text = f"<b>{activity_summary(tr, activity, user_zone(user), utcnow())}</b>\n\n" + tr(
        "quick.ask_description"
    )
    kb = [[_button(tr("act.cancel"), "qx", item.ITEM_TYPE, activity.id)]]
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.message(DescribeActivity.text, F.text, ~F.text.startswith("/"))
async def typed_activity_description(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    text = (message.text or "").strip()
    activity_id = int((await state.get_data()).get("qd_activity") or 0)
    activity, item = await _load_activity(session, user, activity_id)
    # An activity without a subject takes the first line as one, as the planning form does.
    if activity.subject:
        refusal = (
            tr("quick.description_too_long", max=DESCRIPTION_LIMIT) if len(text) > DESCRIPTION_LIMIT else None
        )
    else:
        refusal = _description_refusal(tr, text)
    if refusal:
        await message.answer(refusal)
        return
    await state.clear()
    activity = await activities_service.update_activity(
        session,
        user,
        activity.id,
        description=text,
        subject=None if activity.subject else _subject_of(text),
    )
    await show(message, *await _activity_screen(session, user, tr, activity, item))


@router.callback_query(ActCB.filter(F.a == "qx"))
async def describe_cancelled(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    if await state.get_state() == DescribeActivity.text.state:
        await state.clear()
    activity, item = await _load_activity(session, user, callback_data.id)
    await show(callback, *await _activity_screen(session, user, tr, activity, item))


# --- done, plan next, snooze, reschedule ---------------------------------------------------------


@router.callback_query(ActCB.filter(F.a == "dn"))
async def done(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    activity = await activities_service.complete_activity(session, user, callback_data.id)
    item = await load_visible(session, user, activity.owner_type, activity.owner_id)
    callback_answer.text = tr("act.completed_toast")
    tz = user_zone(user)
    text = tr(
        "act.completed_ask",
        activity=activity_summary(tr, activity, tz, utcnow()),
        item=item_label(tr, item),
    )
    kb = [
        [_button(tr("act.next_yes"), "pl", item.ITEM_TYPE, item.id)],
        [_button(tr("act.next_no"), "no", item.ITEM_TYPE, item.id)],
    ]
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.callback_query(ActCB.filter(F.a == "no"))
async def no_next(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item_type = _item_type(callback_data.t)
    if item_type is None:
        return
    await open_card(callback, session, user, tr, item_type, callback_data.id)


@router.callback_query(ActCB.filter(F.a == "sz"))
async def snooze(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    now = utcnow()
    tz = user_zone(user)
    presets = {"15m": "15m", "1h": "1h", "tm": "tomorrow"}
    if callback_data.v in presets:
        activity = await activities_service.snooze_activity(
            session, user, callback_data.id, presets[callback_data.v], now=now
        )
    else:
        callback_answer.text = tr("error.stale_button")
        return
    activity, item = await _load_activity(session, user, activity.id)
    callback_answer.text = tr("act.moved", when=format_moment(tr, activity.deadline, tz, now))
    await show(callback, *await _activity_screen(session, user, tr, activity, item))


@router.callback_query(ActCB.filter(F.a == "rd"))
async def reschedule(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    activity, item = await _load_activity(session, user, callback_data.id)
    await state.clear()
    await state.set_data({"r_activity": activity.id})
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    title = tr("act.new_deadline", activity=activity_summary(tr, activity, user_zone(user), utcnow()))
    await ask_datetime(callback, ctx, "resched", title + "\n" + item_label(tr, item))


async def _resched_picked(event: Event, ctx: Ctx, deadline: datetime) -> None:
    data = await ctx.state.get_data()
    activity_id = int(data.get("r_activity") or 0)
    await ctx.state.clear()
    activity = await activities_service.reschedule_activity(ctx.session, ctx.user, activity_id, deadline)
    activity, item = await _load_activity(ctx.session, ctx.user, activity.id)
    tz = user_zone(ctx.user)
    ctx.toast(ctx.tr("act.moved", when=format_moment(ctx.tr, activity.deadline, tz)))
    await show(event, *await _activity_screen(ctx.session, ctx.user, ctx.tr, activity, item))


async def _resched_cancelled(event: Event, ctx: Ctx) -> None:
    activity_id = int((await ctx.state.get_data()).get("r_activity") or 0)
    await ctx.state.clear()
    activity, item = await _load_activity(ctx.session, ctx.user, activity_id)
    await show(event, *await _activity_screen(ctx.session, ctx.user, ctx.tr, activity, item))


register_target("resched", _resched_picked, _resched_cancelled)


@router.callback_query(ActCB.filter())
async def stale(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
    """A form button pressed after its form ended (or out of order)."""
    callback_answer.text = tr("error.stale_button")


__all__ = [
    "ActCB",
    "DescribeActivity",
    "PlanActivity",
    "activity_summary",
    "check_subject_text",
    "items_activities_screen",
    "offset_label",
    "reminders_text",
    "router",
    "saved_screen",
    "start_planning",
]
