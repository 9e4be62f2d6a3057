"""Buttons on pushed reminders: Done, snooze (+15 min, +1 h, tomorrow 10:00); "Open" is the shared
card entry point. Pressing one acts through crm_core with the acting user (the activity id in
the button is re-checked) and edits the reminder in place.

Also keeps the per-chat delivery state in step with the user: blocking the bot marks the chat
undeliverable (the scheduler stops trying), unblocking clears it."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import activities as activity_service
from crm_core.services import delivery as delivery_service
from handlers.callbacks import RemAction, RemCB
from handlers.notify_render import local_time, reminder_buttons, reminder_text
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="reminders")


def _markup(rows: list[list[dict[str, str]]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(**b) for b in row] for row in rows])


@router.callback_query(RemCB.filter())
async def reminder_button(
    callback: CallbackQuery,
    callback_data: RemCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    now = utcnow()
    # Raises NotFound/AccessDenied for an activity the user may not see (forged data).
    activity = await activity_service.get_activity(session, user, callback_data.activity)
    action = callback_data.action
    if activity.completed:
        callback_answer.text = tr("rem.answer.already_done")
        status = tr("rem.status.done")
    elif action is RemAction.DONE:
        activity = await activity_service.complete_activity(session, user, activity.id, now=now)
        callback_answer.text = tr("rem.answer.done")
        status = tr("rem.status.done")
    else:
        preset = {RemAction.SNOOZE_15: "15m", RemAction.SNOOZE_1H: "1h", RemAction.TOMORROW: "tomorrow"}[
            action
        ]
        activity = await activity_service.snooze_activity(session, user, activity.id, preset, now=now)
        when = local_time(tr, user, activity.deadline, now)
        callback_answer.text = tr("rem.answer.snoozed", deadline=when)
        status = tr("rem.status.snoozed", deadline=when)
    item = await activity_service.load_item(session, ItemType(activity.owner_type), activity.owner_id)
    text = reminder_text(tr, user, activity, item, now, status=status)
    await show(callback, text, _markup(reminder_buttons(tr, activity, done=activity.completed)))


@router.my_chat_member(F.chat.type == "private")
async def private_chat_membership(
    event: ChatMemberUpdated, session: AsyncSession, user: User | None = None
) -> None:
    """The user blocked (or unblocked) the bot."""
    if user is None:
        return
    status = event.new_chat_member.status
    if status in ("kicked", "left"):
        await delivery_service.mark_undeliverable(session, event.chat.id, "blocked by the user", utcnow())
    elif status == "member":
        await delivery_service.mark_deliverable(session, event.chat.id, utcnow())
