"""Activities ("дела") of an item: the list from the card's "Activity" button, and planning one in a
few taps (type, description, deadline, reminders). Every rule is crm_core's; ids in buttons are
re-checked there. What happens to a saved activity (done, snooze, reschedule, a description added
afterwards) is handlers.activity_actions; what both draw is handlers.activity_screens.

Public for other features: start_planning(event, ctx, item_type, item_id), the planning form.
Quick choices ("📞 Call tomorrow 10:00") save at once with the default reminders: card -> Activity
-> quick choice is the whole of it.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models import User
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.items import ItemType
from crm_core.services import activities as activities_service
from crm_core.services import reminders as reminders_service
from crm_core.services.counters import user_zone
from handlers.activity_screens import (
    SHOWN_DESCRIPTION,
    TYPES,
    ActAction,
    ActCB,
    PlanActivity,
    act_button,
    activity_screen,
    description_refusal,
    item_type_of,
    items_activities_screen,
    load_activity,
    offset_label,
    quick_rows,
    reminders_text,
    subject_of,
)
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import item_label, load_visible, open_card
from handlers.datetime_input import Ctx, Event, ask_datetime, format_moment, register_target
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.texts.names import ACTIVITY_KIND_NAMES
from handlers.ui import show

router = Router(name="activities")


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


@router.callback_query(ActCB.filter(F.action == ActAction.LIST))
async def list_button(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item_type = item_type_of(callback_data.t)
    if item_type is None:
        return
    item = await load_visible(session, user, item_type, callback_data.id)
    await show(callback, *await items_activities_screen(session, user, tr, item))


@router.callback_query(ActCB.filter(F.action == ActAction.OPEN))
async def one_activity(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    activity, item = await load_activity(session, user, callback_data.id)
    await show(callback, *await activity_screen(session, user, tr, activity, item))


# --- planning ----------------------------------------------------------------------------------


async def start_planning(event: Event, ctx: Ctx, item_type: ItemType, item_id: int) -> None:
    """The planning form for an item the user may change: first, the type."""
    item = await load_visible(ctx.session, ctx.user, item_type, item_id, for_edit=True)
    await ctx.state.clear()
    await ctx.state.set_state(PlanActivity.kind)
    await ctx.state.set_data({"a_t": item.ITEM_TYPE.value, "a_id": item.id})
    t = item.ITEM_TYPE
    buttons = [act_button(ctx.tr(ACTIVITY_KIND_NAMES[k]), ActAction.TYPE, t, item.id, k.value) for k in TYPES]
    kb = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    kb.extend(quick_rows(ctx.tr, t, item.id))  # after the types: "Call" still finds the type first
    kb.append([act_button(ctx.tr("act.cancel"), ActAction.CANCEL, t, item.id)])
    text = ctx.tr("act.new_title", item=item_label(ctx.tr, item)) + "\n\n" + ctx.tr("act.choose_type")
    await show(event, text, InlineKeyboardMarkup(inline_keyboard=kb))


async def _draft_title(ctx: Ctx, with_description: bool = True) -> str:
    """ "📞 Call · 🎯 L-12 Title" (+ the description) heading the form's later screens."""
    data = await ctx.state.get_data()
    item = await load_visible(ctx.session, ctx.user, data["a_t"], int(data["a_id"]))
    kind = ctx.tr(ACTIVITY_KIND_NAMES[ActivityType(data.get("a_kind") or ActivityType.CALL)])
    title = f"<b>{kind}</b> · {item_label(ctx.tr, item)}"
    if with_description and data.get("a_desc"):
        title += "\n" + ctx.tr("act.description_line", text=esc(truncate(data["a_desc"], SHOWN_DESCRIPTION)))
    return title


async def _form_item(state: FSMContext) -> tuple[ItemType, int] | None:
    data = await state.get_data()
    item_type = item_type_of(str(data.get("a_t") or ""))
    if item_type is None or not data.get("a_id"):
        return None
    return item_type, int(data["a_id"])


@router.callback_query(ActCB.filter(F.action == ActAction.PLAN))
async def plan_button(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = item_type_of(callback_data.t)
    if item_type is None:
        return
    ctx = Ctx(session, user, tr, state, callback.bot, callback_answer)
    await start_planning(callback, ctx, item_type, callback_data.id)


@router.callback_query(ActCB.filter(F.action == ActAction.TYPE), PlanActivity.kind)
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
    kb = [
        [
            act_button(tr("act.skip"), ActAction.SKIP_DESCRIPTION, *form),
            act_button(tr("act.cancel"), ActAction.CANCEL, *form),
        ]
    ]
    text = await _draft_title(ctx) + "\n\n" + tr("act.ask_description")
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.callback_query(ActCB.filter(F.action == ActAction.SKIP_DESCRIPTION), PlanActivity.description)
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
    refusal = description_refusal(tr, text)
    if refusal:
        await message.answer(refusal)  # the form stays at this step: send it shorter
        return
    await state.update_data(a_desc=text)
    ctx = Ctx(session, user, tr, state, bot)
    await ask_datetime(message, ctx, "plan", await _draft_title(ctx))


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
        [act_button(ctx.tr("act.save"), ActAction.SAVE, *form)],
        [act_button(ctx.tr("act.change_reminders"), ActAction.REMINDERS, *form)],
        [act_button(ctx.tr("act.cancel"), ActAction.CANCEL, *form)],
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
        row.append(
            act_button(
                f"{mark} {offset_label(ctx.tr, minutes)}", ActAction.REMINDER_TOGGLE, *form, v=str(minutes)
            )
        )
        if len(row) == 2:
            kb.append(row)
            row = []
    if row:
        kb.append(row)
    kb.append([act_button(ctx.tr("act.save"), ActAction.SAVE, *form)])
    kb.append([act_button(ctx.tr("act.back"), ActAction.REMINDERS_BACK, *form)])
    text = await _draft_title(ctx, with_description=False) + "\n\n" + ctx.tr("act.reminders_title")
    return text, InlineKeyboardMarkup(inline_keyboard=kb)


@router.callback_query(
    ActCB.filter(F.action.in_({ActAction.REMINDERS, ActAction.REMINDER_TOGGLE, ActAction.REMINDERS_BACK})),
    PlanActivity.reminders,
)
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
    if callback_data.action == ActAction.REMINDERS_BACK:
        await show(callback, *await _summary_screen(ctx))
        return
    if callback_data.action == ActAction.REMINDER_TOGGLE:
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


@router.callback_query(ActCB.filter(F.action == ActAction.SAVE), PlanActivity.reminders)
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
    subject = subject_of(description)  # refused over the limit when it was typed
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


@router.callback_query(ActCB.filter(F.action == ActAction.CANCEL))
async def cancel(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await state.clear()
    item_type = item_type_of(callback_data.t)
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
