"""After an activity is saved: one-tap plans and a description added afterwards; done (then
"plan the next one?"), snooze and reschedule."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.services import activities as activities_service
from crm_core.services.counters import user_zone
from crm_core.services.when import quick_choice
from handlers.activities import start_planning
from handlers.activity_screens import (
    DESCRIPTION_LIMIT,
    QUICK_PLANS,
    ActAction,
    ActCB,
    DescribeActivity,
    PlanActivity,
    act_button,
    activity_screen,
    activity_summary,
    check_subject_text,
    description_refusal,
    item_type_of,
    items_activities_screen,
    load_activity,
    offset_label,
    reminders_text,
    saved_screen,
    subject_of,
)
from handlers.card_render import item_label, load_visible, open_card
from handlers.datetime_input import Ctx, Event, ask_datetime, format_moment, register_target
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="activity_actions")


# --- quick plans and a description afterwards ---------------------------------------------------


@router.callback_query(ActCB.filter(F.action == ActAction.QUICK))
async def quick_plan(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = item_type_of(callback_data.t)
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


@router.callback_query(ActCB.filter(F.action == ActAction.DESCRIBE))
async def describe_button(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    activity, item = await load_activity(session, user, callback_data.id)
    await load_visible(session, user, item.ITEM_TYPE, item.id, for_edit=True)
    await state.clear()
    await state.set_state(DescribeActivity.text)
    await state.set_data({"qd_activity": activity.id})
    text = f"<b>{activity_summary(tr, activity, user_zone(user), utcnow())}</b>\n\n" + tr(
        "quick.ask_description"
    )
    kb = [[act_button(tr("act.cancel"), ActAction.DESCRIBE_CANCEL, item.ITEM_TYPE, activity.id)]]
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.message(DescribeActivity.text, F.text, ~F.text.startswith("/"))
async def typed_activity_description(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    text = (message.text or "").strip()
    activity_id = int((await state.get_data()).get("qd_activity") or 0)
    activity, item = await load_activity(session, user, activity_id)
    # An activity without a subject takes the first line as one, as the planning form does.
    if activity.subject:
        refusal = (
            tr("quick.description_too_long", max=DESCRIPTION_LIMIT) if len(text) > DESCRIPTION_LIMIT else None
        )
    else:
        refusal = description_refusal(tr, text)
    if refusal:
        await message.answer(refusal)
        return
    await state.clear()
    activity = await activities_service.update_activity(
        session,
        user,
        activity.id,
        description=text,
        subject=None if activity.subject else subject_of(text),
    )
    await show(message, *await activity_screen(session, user, tr, activity, item))


@router.callback_query(ActCB.filter(F.action == ActAction.DESCRIBE_CANCEL))
async def describe_cancelled(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    if await state.get_state() == DescribeActivity.text.state:
        await state.clear()
    activity, item = await load_activity(session, user, callback_data.id)
    await show(callback, *await activity_screen(session, user, tr, activity, item))


# --- done, plan next, snooze, reschedule ---------------------------------------------------------


@router.callback_query(ActCB.filter(F.action == ActAction.DONE))
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
        [act_button(tr("act.next_yes"), ActAction.PLAN, item.ITEM_TYPE, item.id)],
        [act_button(tr("act.next_no"), ActAction.NO_NEXT, item.ITEM_TYPE, item.id)],
    ]
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=kb))


@router.callback_query(ActCB.filter(F.action == ActAction.NO_NEXT))
async def no_next(
    callback: CallbackQuery, callback_data: ActCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item_type = item_type_of(callback_data.t)
    if item_type is None:
        return
    await open_card(callback, session, user, tr, item_type, callback_data.id)


@router.callback_query(ActCB.filter(F.action == ActAction.SNOOZE))
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
    activity, item = await load_activity(session, user, activity.id)
    callback_answer.text = tr("act.moved", when=format_moment(tr, activity.deadline, tz, now))
    await show(callback, *await activity_screen(session, user, tr, activity, item))


@router.callback_query(ActCB.filter(F.action == ActAction.RESCHEDULE))
async def reschedule(
    callback: CallbackQuery,
    callback_data: ActCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    activity, item = await load_activity(session, user, callback_data.id)
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
    activity, item = await load_activity(ctx.session, ctx.user, activity.id)
    tz = user_zone(ctx.user)
    ctx.toast(ctx.tr("act.moved", when=format_moment(ctx.tr, activity.deadline, tz)))
    await show(event, *await activity_screen(ctx.session, ctx.user, ctx.tr, activity, item))


async def _resched_cancelled(event: Event, ctx: Ctx) -> None:
    activity_id = int((await ctx.state.get_data()).get("r_activity") or 0)
    await ctx.state.clear()
    activity, item = await load_activity(ctx.session, ctx.user, activity_id)
    await show(event, *await activity_screen(ctx.session, ctx.user, ctx.tr, activity, item))


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
