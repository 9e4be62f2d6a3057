"""Planning an activity by one message: "call tomorrow 10:00 discuss the estimate" sent while a card
is open (handlers.open_card) or as a reply to a card plans it on that item, with the default
reminders. crm_core reads the text (services.activity_text); what is unclear gets one question
(which kind, which of two times, or when) instead of a wrong activity.

Only a text starting with a kind word is taken from an open card, so leads typed as free text and
everything else keep their way; a reply to a card may also name just a moment (then: which kind?).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Filter, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.models.activities import ActivityType
from crm_core.models.items import AnyItem, ItemType
from crm_core.services import activities as activities_service
from crm_core.services.activity_text import ParsedActivity, Unclear, kind_at_start, parse_activity_text
from crm_core.services.counters import user_zone
from handlers.activity_screens import check_subject_text, saved_screen
from handlers.callbacks import CardCB, Unpacked
from handlers.card_render import item_label, load_visible, open_card
from handlers.datetime_input import Ctx, Event, ask_datetime, format_moment, register_target
from handlers.open_card import open_card_of
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.texts.names import ACTIVITY_KIND_NAMES
from handlers.ui import show

router = Router(name="quick")

PENDING_KEY = "qk_pending"  # the activity waiting for the answer to the question, in FSM data
ASKED_KINDS = (ActivityType.CALL, ActivityType.MEETING, ActivityType.TASK, ActivityType.EMAIL)


class QuickAction(StrEnum):
    KIND = "k"  # v: the activity type
    TIME = "t"  # v: the index of one of the times named
    OTHER_TIME = "o"
    CANCEL = "x"


class QuickCB(Unpacked, CallbackData, prefix="qk"):
    action: QuickAction
    v: str = ""


def _button(text: str, action: QuickAction, v: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=QuickCB(action=action, v=v).pack())


def card_of_reply(message: Message, bot_id: int) -> tuple[ItemType, int] | None:
    """The item a replied-to message of this bot shows, read from its card buttons. Only the bot
    writes its messages' buttons; access is still checked by whoever acts on the item."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.id != bot_id:
        return None
    markup = reply.reply_markup
    if not isinstance(markup, InlineKeyboardMarkup):
        return None
    items: set[tuple[ItemType, int]] = set()
    for row in markup.inline_keyboard:
        for button in row:
            data = button.callback_data or ""
            if not data.startswith(CardCB.__prefix__ + CardCB.__separator__):
                continue
            try:
                cb = CardCB.unpack(data)
            except (TypeError, ValueError):
                continue
            items.add((ItemType(cb.type), cb.id))
    return items.pop() if len(items) == 1 else None


class ActivityText(Filter):
    """A text that plans an activity: passes the item and crm_core's reading of the text."""

    async def __call__(  # type: ignore[override]
        self, message: Message, bot: Bot, state: FSMContext, user: User | None = None
    ) -> bool | dict[str, Any]:
        text = message.text or ""
        if user is None or not text.strip():
            return False
        target = card_of_reply(message, bot.id)
        by_reply = target is not None
        if target is None:
            if message.chat.type != "private" or kind_at_start(text) is None:
                return False  # not ours: capture, refs and the fallback keep their texts
            target = await open_card_of(state)
            if target is None:
                return False
        parsed = parse_activity_text(text, utcnow(), user_zone(user))
        if parsed is None or (parsed.kind is None and (not by_reply or parsed.unclear != Unclear.NO_KIND)):
            return False  # without a kind word only "a moment, no kind" is asked about, on a reply
        return {"target": target, "parsed": parsed}


# --- the pending activity (kept while the one question is asked) -------------------------------


async def _keep(state: FSMContext, item: AnyItem, parsed: ParsedActivity) -> None:
    await state.update_data(
        {
            PENDING_KEY: {
                "t": item.ITEM_TYPE.value,
                "id": item.id,
                "kind": parsed.kind.value if parsed.kind else None,
                "deadline": parsed.deadline.isoformat() if parsed.deadline else None,
                "subject": parsed.subject,
                "choices": [c.isoformat() for c in parsed.choices],
            }
        }
    )


async def _pending(state: FSMContext) -> dict[str, Any] | None:
    value = (await state.get_data()).get(PENDING_KEY)
    return value if isinstance(value, dict) and value.get("t") and value.get("id") else None


async def _forget(state: FSMContext) -> None:
    """Drop the pending activity and the date input's leftovers; other data (the open card) stays."""
    data = await state.get_data()
    for key in (PENDING_KEY, "dt_target", "dt_title", "dt_day"):
        data.pop(key, None)
    await state.set_state(None)
    await state.set_data(data)


def _draft_line(tr: Translator, item: AnyItem, kind: str | None, subject: str, when: str | None) -> str:
    """ "📞 Call «subject» · tomorrow 10:00" over the item's label (escaped HTML)."""
    parts = []
    if kind:
        parts.append(tr(ACTIVITY_KIND_NAMES[ActivityType(kind)]))
    if subject:
        parts.append(f"«{esc(truncate(subject, 80))}»")
    line = " ".join(parts)
    if when:
        line = f"{line} · {when}" if line else when
    return f"<b>{line}</b>\n{item_label(tr, item)}" if line else item_label(tr, item)


async def _save(
    event: Event,
    session: AsyncSession,
    user: User,
    tr: Translator,
    pending: dict[str, Any],
    deadline: datetime,
) -> None:
    activity = await activities_service.create_activity(
        session,
        user,
        owner_type=pending["t"],
        owner_id=int(pending["id"]),
        deadline=deadline,
        type=str(pending.get("kind") or ActivityType.CALL.value),
        subject=str(pending.get("subject") or ""),
    )
    item = await load_visible(session, user, pending["t"], int(pending["id"]))
    await show(event, *await saved_screen(session, user, tr, activity, item))


# --- the message -------------------------------------------------------------------------------


@router.message(StateFilter(None), F.text, ~F.text.startswith("/"), ActivityText())
async def typed_activity(
    message: Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    bot: Bot,
    target: tuple[ItemType, int],
    parsed: ParsedActivity,
) -> None:
    item = await load_visible(session, user, target[0], target[1], for_edit=True)
    tz = user_zone(user)
    now = utcnow()
    if parsed.unclear == Unclear.TOO_LONG:
        await message.answer(check_subject_text(tr, parsed.subject) or tr("error.generic"))
        return
    if parsed.complete:
        assert parsed.deadline is not None
        pending = {"t": item.ITEM_TYPE.value, "id": item.id, "kind": parsed.kind, "subject": parsed.subject}
        await _save(message, session, user, tr, pending, parsed.deadline)
        return
    await _keep(state, item, parsed)
    kind = parsed.kind.value if parsed.kind else None
    if parsed.unclear == Unclear.NO_KIND:
        assert parsed.deadline is not None
        head = _draft_line(tr, item, None, parsed.subject, format_moment(tr, parsed.deadline, tz, now))
        kb = [
            [_button(tr(ACTIVITY_KIND_NAMES[k]), QuickAction.KIND, k.value) for k in ASKED_KINDS[i : i + 2]]
            for i in (0, 2)
        ]
        kb.append([_button(tr("act.cancel"), QuickAction.CANCEL)])
        await message.answer(
            head + "\n\n" + tr("quick.ask_kind"), reply_markup=InlineKeyboardMarkup(inline_keyboard=kb)
        )
        return
    if parsed.unclear == Unclear.TWO_TIMES:
        head = _draft_line(tr, item, kind, parsed.subject, None)
        kb = [
            [_button(format_moment(tr, moment, tz, now), QuickAction.TIME, str(n))]
            for n, moment in enumerate(parsed.choices)
            if moment > now
        ]
        kb.append(
            [
                _button(tr("quick.other_time"), QuickAction.OTHER_TIME),
                _button(tr("act.cancel"), QuickAction.CANCEL),
            ]
        )
        await message.answer(
            head + "\n\n" + tr("quick.ask_which_time"), reply_markup=InlineKeyboardMarkup(inline_keyboard=kb)
        )
        return
    # No time, or one already past: "When?" with the date input.
    head = _draft_line(tr, item, kind, parsed.subject, None)
    if parsed.unclear == Unclear.PAST and parsed.deadline is not None:
        head += "\n\n" + tr("quick.past", when=format_moment(tr, parsed.deadline, tz, now))
    await ask_datetime(
        message, Ctx(session, user, tr, state, bot), "quick", head + "\n\n" + tr("quick.ask_when")
    )


# --- the answer to the question ----------------------------------------------------------------


@router.callback_query(QuickCB.filter(F.action == QuickAction.KIND))
async def chose_kind(
    callback: CallbackQuery,
    callback_data: QuickCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    pending = await _pending(state)
    try:
        kind = ActivityType(callback_data.v)
    except ValueError:
        kind = None
    if pending is None or not pending.get("deadline") or kind not in ASKED_KINDS:
        callback_answer.text = tr("error.stale_button")
        return
    pending["kind"] = kind
    await _forget(state)
    callback_answer.text = tr("act.created")
    await _save(callback, session, user, tr, pending, datetime.fromisoformat(pending["deadline"]))


@router.callback_query(QuickCB.filter(F.action == QuickAction.TIME))
async def chose_time(
    callback: CallbackQuery,
    callback_data: QuickCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    pending = await _pending(state)
    choices = list((pending or {}).get("choices") or [])
    index = int(callback_data.v) if callback_data.v.isdigit() else -1
    if pending is None or not 0 <= index < len(choices):
        callback_answer.text = tr("error.stale_button")
        return
    deadline = datetime.fromisoformat(choices[index])
    if deadline <= utcnow():
        callback_answer.text = tr("dt.past", when=format_moment(tr, deadline, user_zone(user)))
        callback_answer.show_alert = True
        return
    await _forget(state)
    callback_answer.text = tr("act.created")
    await _save(callback, session, user, tr, pending, deadline)


@router.callback_query(QuickCB.filter(F.action == QuickAction.OTHER_TIME))
async def other_time(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    bot: Bot,
    callback_answer: CallbackAnswer,
) -> None:
    pending = await _pending(state)
    if pending is None:
        callback_answer.text = tr("error.stale_button")
        return
    item = await load_visible(session, user, pending["t"], int(pending["id"]))
    head = _draft_line(tr, item, pending.get("kind"), str(pending.get("subject") or ""), None)
    ctx = Ctx(session, user, tr, state, bot, callback_answer)
    await ask_datetime(callback, ctx, "quick", head + "\n\n" + tr("quick.ask_when"))


@router.callback_query(QuickCB.filter(F.action == QuickAction.CANCEL))
async def cancel(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    pending = await _pending(state)
    await _forget(state)
    if pending is None:
        await show(callback, tr("cancelled"))
        return
    await open_card(callback, session, user, tr, ItemType(pending["t"]), int(pending["id"]))


async def _picked(event: Event, ctx: Ctx, deadline: datetime) -> None:
    pending = await _pending(ctx.state)
    await _forget(ctx.state)
    if pending is None:
        ctx.toast(ctx.tr("error.stale_button"))
        return
    ctx.toast(ctx.tr("act.created"))
    await _save(event, ctx.session, ctx.user, ctx.tr, pending, deadline)


async def _cancelled(event: Event, ctx: Ctx) -> None:
    pending = await _pending(ctx.state)
    await _forget(ctx.state)
    if pending is None:
        await show(event, ctx.tr("cancelled"))
        return
    await open_card(event, ctx.session, ctx.user, ctx.tr, ItemType(pending["t"]), int(pending["id"]))


register_target("quick", _picked, _cancelled)


__all__ = ["ActivityText", "QuickAction", "QuickCB", "card_of_reply", "router"]
