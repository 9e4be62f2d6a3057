"""/settings: language, timezone, default reminder offsets, the daily digest, muted notifications.

Every value is validated by crm_core (users.set_timezone, users.set_reminder_offsets, ...): button
data can be forged, typed text is anything.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow, zone_of
from crm_core.errors import ValidationFailed
from crm_core.formatting import format_time
from crm_core.models import User
from crm_core.models.notifications import NotificationCategory
from crm_core.services import notifications as notifications_service
from crm_core.services import users as users_service
from handlers.callbacks import MenuAction, MenuCB, SettingsAction, SettingsCB, Unpacked
from handlers.mail_boxes import BoxAction, BoxCB
from handlers.render import esc, truncate
from handlers.texts import LANGUAGES, N_, Translator
from handlers.ui import reply_screen, show

router = Router(name="settings")


# Notification category -> its name's message id.
CATEGORY_NAMES = {
    NotificationCategory.RESPONSIBLE_ASSIGNED: N_("settings.cat.responsible_assigned"),
    NotificationCategory.OBSERVER_ADDED: N_("settings.cat.observer_added"),
    NotificationCategory.MENTIONED: N_("settings.cat.mentioned"),
    NotificationCategory.TASK_ASSIGNED: N_("settings.cat.task_assigned"),
    NotificationCategory.TASK_STATUS_CHANGED: N_("settings.cat.task_status_changed"),
    NotificationCategory.LEAD_ASSIGNED: N_("settings.cat.lead_assigned"),
    NotificationCategory.REMINDER: N_("settings.cat.reminder"),
    NotificationCategory.OVERDUE: N_("settings.cat.overdue"),
    NotificationCategory.DIGEST: N_("settings.cat.digest"),
    NotificationCategory.COMMENT_ADDED: N_("settings.cat.comment_added"),
    NotificationCategory.ACTIVITY_ASSIGNED: N_("settings.cat.activity_assigned"),
    NotificationCategory.OTHER: N_("settings.cat.other"),
}
COMMON_TIMEZONES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
    "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
    "Asia/Magadan", "Asia/Kamchatka", "Europe/Minsk", "Asia/Almaty", "Asia/Tashkent", "Europe/Kyiv",
    "UTC", "Europe/London", "Europe/Berlin", "America/New_York",
)  # fmt: skip
REMINDER_CHOICES = (0, 5, 15, 30, 60, 120, 1440)
DIGEST_CHOICES = tuple(time(h, m) for h in range(7, 12) for m in (0, 30) if (h, m) <= (11, 0))
# A person may mute what is addressed to them; a deal room's feed is not (it has no name here).
MUTABLE_CATEGORIES = tuple(c.value for c in NotificationCategory if c in CATEGORY_NAMES)
TZ_INPUT_LIMIT = 64
DRAFT_KEY = "set_rem"  # the reminder toggles being edited, kept in the FSM data until Save


class SettingsForm(StatesGroup):
    timezone = State()
    digest_time = State()


class SetAction(StrEnum):
    HOME = "home"
    TIMEZONE = "tz"
    TIMEZONE_SET = "tzs"  # v: the zone name
    TIMEZONE_TYPE = "tzt"
    REMINDERS = "rem"
    REMINDER_TOGGLE = "rmt"  # v: minutes before
    REMINDERS_SAVE = "rms"
    DIGEST = "dg"
    DIGEST_SET = "dgs"  # v: HHMM
    DIGEST_TYPE = "dgt"
    DIGEST_WORKDAYS = "dgw"
    WEEKLY = "dgk"  # heads and admins: the weekly digest on/off
    WEEKLY_FUNNEL = "dgf"  # ... with the funnel picture or not
    MUTE = "mu"
    MUTE_TOGGLE = "mut"  # v: the notification category
    CANCEL = "cx"  # a typed input


# The language button keeps the shared SettingsCB (prefix "lang").
class SetCB(Unpacked, CallbackData, prefix="set"):
    action: SetAction
    v: str = ""


def _btn(text: str, action: SetAction, v: str = "") -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=SetCB(action=action, v=v).pack())


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


# --- rendering -----------------------------------------------------------------------------------


def utc_offset(zone: str, now: datetime | None = None) -> str:
    """ "UTC+3", "UTC+5:30", "UTC−5" or "UTC" for the zone at this moment."""
    offset = (now or utcnow()).astimezone(zone_of(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "−"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def zone_label(zone: str) -> str:
    offset = utc_offset(zone)
    return zone if offset == zone else f"{zone} ({offset})"


def offset_label(tr: Translator, minutes: int) -> str:
    if minutes == 0:
        return tr("settings.rem.at")
    if minutes % 1440 == 0:
        return tr("settings.rem.day", count=minutes // 1440)
    if minutes % 60 == 0:
        return tr("settings.rem.hour", count=minutes // 60)
    return tr("settings.rem.min", count=minutes)


def reminders_label(tr: Translator, offsets: list[int]) -> str:
    if not offsets:
        return tr("settings.none")
    return ", ".join(offset_label(tr, o) for o in sorted(offsets, reverse=True))


def category_name(tr: Translator, category: str) -> str:
    return tr(CATEGORY_NAMES[NotificationCategory(category)])


def digest_label(tr: Translator, user: User) -> str:
    days = tr("settings.digest.workdays" if user.digest_workdays_only else "settings.digest.every_day")
    return tr("settings.digest.value", time=format_time(user.digest_time, tr.language), days=days)


async def settings_screen(
    session: AsyncSession, user: User, tr: Translator
) -> tuple[str, InlineKeyboardMarkup]:
    muted = sorted(await notifications_service.muted_categories(session, user.id))
    text = tr(
        "settings.title",
        language=tr("language.name"),
        timezone=esc(zone_label(user.timezone)),
        reminders=reminders_label(tr, list(user.reminder_offsets or [])),
        digest=digest_label(tr, user),
        muted=", ".join(esc(category_name(tr, c)) for c in muted) or tr("settings.none"),
    )
    rows: list[list[InlineKeyboardButton]] = []
    # Offer the other language; the label is in that language so anyone can find it.
    for lang in LANGUAGES:
        if lang != user.language:
            rows.append(
                [
                    InlineKeyboardButton(
                        text=Translator(lang)("settings.language"),
                        callback_data=SettingsCB(action=SettingsAction.LANGUAGE, value=lang).pack(),
                    )
                ]
            )
    rows.append(
        [
            _btn(tr("settings.btn.timezone"), SetAction.TIMEZONE),
            _btn(tr("settings.btn.reminders"), SetAction.REMINDERS),
        ]
    )
    rows.append(
        [
            _btn(tr("settings.btn.digest"), SetAction.DIGEST),
            _btn(tr("settings.btn.notifications"), SetAction.MUTE),
        ]
    )
    rows.append(
        [InlineKeyboardButton(text=tr("mail.btn.own"), callback_data=BoxCB(action=BoxAction.OWN).pack())]
    )
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("settings.btn.back"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
            )
        ]
    )
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def timezone_screen(user: User, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        _btn(("✅ " if zone == user.timezone else "") + zone_label(zone), SetAction.TIMEZONE_SET, zone)
        for zone in COMMON_TIMEZONES
    ]
    rows = _rows(buttons, 2)
    rows.append([_btn(tr("settings.btn.type_tz"), SetAction.TIMEZONE_TYPE)])
    rows.append([_btn(tr("settings.btn.back"), SetAction.HOME)])
    return tr("settings.tz.title", timezone=esc(zone_label(user.timezone))), InlineKeyboardMarkup(
        inline_keyboard=rows
    )


def reminders_screen(tr: Translator, chosen: list[int]) -> tuple[str, InlineKeyboardMarkup]:
    # Offsets set elsewhere (a custom one) stay visible so that they can be switched off too.
    choices = sorted(set(REMINDER_CHOICES) | set(chosen))
    buttons = [
        _btn(("✅ " if m in chosen else "▫️ ") + offset_label(tr, m), SetAction.REMINDER_TOGGLE, str(m))
        for m in choices
    ]
    rows = _rows(buttons, 2)
    rows.append(
        [
            _btn(tr("settings.btn.save"), SetAction.REMINDERS_SAVE),
            _btn(tr("settings.btn.back"), SetAction.HOME),
        ]
    )
    return tr("settings.rem.title", reminders=reminders_label(tr, chosen)), InlineKeyboardMarkup(
        inline_keyboard=rows
    )


def digest_screen(user: User, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        _btn(
            ("✅ " if t == user.digest_time else "") + format_time(t, tr.language),
            SetAction.DIGEST_SET,
            f"{t:%H%M}",
        )
        for t in DIGEST_CHOICES
    ]
    rows = _rows(buttons, 3)
    rows.append([_btn(tr("settings.btn.type_time"), SetAction.DIGEST_TYPE)])
    key = (
        N_("settings.digest.btn.workdays_on")
        if user.digest_workdays_only
        else N_("settings.digest.btn.workdays_off")
    )
    rows.append([_btn(tr(key), SetAction.DIGEST_WORKDAYS)])
    if users_service.may_get_weekly_digest(user):
        weekly = N_("settings.weekly.btn.on") if user.weekly_digest else N_("settings.weekly.btn.off")
        rows.append([_btn(tr(weekly), SetAction.WEEKLY)])
        if user.weekly_digest:
            funnel = (
                N_("settings.weekly.btn.funnel_on")
                if user.weekly_funnel
                else N_("settings.weekly.btn.funnel_off")
            )
            rows.append([_btn(tr(funnel), SetAction.WEEKLY_FUNNEL)])
    rows.append([_btn(tr("settings.btn.back"), SetAction.HOME)])
    return tr("settings.digest.title", digest=digest_label(tr, user)), InlineKeyboardMarkup(
        inline_keyboard=rows
    )


async def mute_screen(session: AsyncSession, user: User, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    muted = await notifications_service.muted_categories(session, user.id)
    buttons = [
        _btn(("🔕 " if c in muted else "🔔 ") + category_name(tr, c), SetAction.MUTE_TOGGLE, c)
        for c in MUTABLE_CATEGORIES
    ]
    rows = _rows(buttons, 1)
    rows.append([_btn(tr("settings.btn.back"), SetAction.HOME)])
    return tr("settings.mute.title"), InlineKeyboardMarkup(inline_keyboard=rows)


def _cancel_markup(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_btn(tr("settings.btn.cancel"), SetAction.CANCEL)]])


def parse_hhmm(text: str) -> time | None:
    """ "08:45", "8:45", "8.45", "0845", "9" -> a time; anything else None."""
    m = re.fullmatch(r"\s*(\d{1,2})(?:\s*[:.\- ]\s*(\d{2})|(\d{2}))?\s*", text)
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


# --- entry points --------------------------------------------------------------------------------


@router.message(Command("settings"), F.chat.type == "private")
async def settings_command(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await _leave_form(state)
    await reply_screen(message, await settings_screen(session, user, tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.SETTINGS))
async def settings_button(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await _leave_form(state)
    await show(callback, *await settings_screen(session, user, tr))


@router.callback_query(SettingsCB.filter(F.action == SettingsAction.LANGUAGE))
async def set_language(
    callback: CallbackQuery, callback_data: SettingsCB, session: AsyncSession, user: User
) -> None:
    users_service.set_language(user, callback_data.value, LANGUAGES)  # validates the (forgeable) value
    tr = Translator(user.language)
    await show(callback, *await settings_screen(session, user, tr))


async def _leave_form(state: FSMContext) -> None:
    """Leave a settings input (the user navigated away); other features' forms are not touched."""
    if await state.get_state() in (SettingsForm.timezone.state, SettingsForm.digest_time.state):
        await state.set_state(None)  # keep other features' data


@router.callback_query.middleware()
async def _buttons_end_typed_input(
    handler: Callable[[CallbackQuery, dict[str, Any]], Awaitable[Any]],
    event: CallbackQuery,
    data: dict[str, Any],
) -> Any:
    """Any settings button ends a pending typed input (the "Type..." buttons start a new one)."""
    state = data.get("state")
    if state is not None:
        await _leave_form(state)
    return await handler(event, data)


@router.callback_query(SetCB.filter(F.action.in_({SetAction.HOME, SetAction.CANCEL})))
async def home(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    await _leave_form(state)
    await state.update_data({DRAFT_KEY: None})
    await show(callback, *await settings_screen(session, user, tr))


# --- timezone ------------------------------------------------------------------------------------


@router.callback_query(SetCB.filter(F.action == SetAction.TIMEZONE))
async def timezone_open(callback: CallbackQuery, user: User, tr: Translator) -> None:
    await show(callback, *timezone_screen(user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.TIMEZONE_SET))
async def timezone_pick(
    callback: CallbackQuery,
    callback_data: SetCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    users_service.set_timezone(user, callback_data.v)  # validates the (forgeable) name
    callback_answer.text = tr("settings.tz.set", timezone=zone_label(user.timezone))
    await show(callback, *await settings_screen(session, user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.TIMEZONE_TYPE))
async def timezone_type(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.set_state(SettingsForm.timezone)
    await show(callback, tr("settings.tz.ask"), _cancel_markup(tr))


@router.message(SettingsForm.timezone, F.text, ~F.text.startswith("/"))
async def timezone_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    name = (message.text or "").strip()
    try:
        if len(name) > TZ_INPUT_LIMIT:
            raise ValidationFailed("unknown timezone", field="timezone")
        users_service.set_timezone(user, name)
    except ValidationFailed:
        await message.answer(
            tr("settings.tz.bad", value=esc(truncate(name, TZ_INPUT_LIMIT))), reply_markup=_cancel_markup(tr)
        )
        return
    await state.set_state(None)  # keep other features' data
    await reply_screen(
        message,
        await settings_screen(session, user, tr),
        tr("settings.tz.set", timezone=esc(zone_label(user.timezone))),
    )


# --- default reminder offsets --------------------------------------------------------------------


@router.callback_query(SetCB.filter(F.action == SetAction.REMINDERS))
async def reminders_open(callback: CallbackQuery, user: User, tr: Translator, state: FSMContext) -> None:
    chosen = sorted(user.reminder_offsets or [], reverse=True)
    await state.update_data({DRAFT_KEY: chosen})
    await show(callback, *reminders_screen(tr, chosen))


@router.callback_query(SetCB.filter(F.action == SetAction.REMINDER_TOGGLE))
async def reminders_toggle(
    callback: CallbackQuery, callback_data: SetCB, user: User, tr: Translator, state: FSMContext
) -> None:
    draft = (await state.get_data()).get(DRAFT_KEY)
    chosen = set(user.reminder_offsets or []) if draft is None else set(draft)
    try:
        minutes = int(callback_data.v)
    except ValueError:
        raise ValidationFailed("reminder offset must be whole minutes", field="reminder_offsets") from None
    if minutes not in REMINDER_CHOICES and minutes not in chosen:
        raise ValidationFailed("unknown reminder choice", field="reminder_offsets")
    chosen ^= {minutes}
    draft = sorted(chosen, reverse=True)
    await state.update_data({DRAFT_KEY: draft})
    await show(callback, *reminders_screen(tr, draft))


@router.callback_query(SetCB.filter(F.action == SetAction.REMINDERS_SAVE))
async def reminders_save(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    draft = (await state.get_data()).get(DRAFT_KEY)
    if draft is not None:
        await users_service.set_reminder_offsets(session, user, list(draft))
    await state.update_data({DRAFT_KEY: None})
    callback_answer.text = tr("settings.rem.saved")
    await show(callback, *await settings_screen(session, user, tr))


# --- daily digest --------------------------------------------------------------------------------


@router.callback_query(SetCB.filter(F.action == SetAction.DIGEST))
async def digest_open(callback: CallbackQuery, user: User, tr: Translator) -> None:
    await show(callback, *digest_screen(user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.DIGEST_SET))
async def digest_pick(
    callback: CallbackQuery, callback_data: SetCB, user: User, tr: Translator, callback_answer: CallbackAnswer
) -> None:
    value = parse_hhmm(callback_data.v)
    if value is None:
        raise ValidationFailed("not a time", field="digest_time")
    users_service.set_digest_time(user, value)
    callback_answer.text = tr("settings.digest.set", time=format_time(value, tr.language))
    await show(callback, *digest_screen(user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.DIGEST_WORKDAYS))
async def digest_workdays(callback: CallbackQuery, user: User, tr: Translator) -> None:
    users_service.set_digest_workdays_only(user, not user.digest_workdays_only)
    await show(callback, *digest_screen(user, tr))


@router.callback_query(SetCB.filter(F.action.in_({SetAction.WEEKLY, SetAction.WEEKLY_FUNNEL})))
async def weekly_toggle(callback: CallbackQuery, callback_data: SetCB, user: User, tr: Translator) -> None:
    if callback_data.action == SetAction.WEEKLY:
        users_service.set_weekly_digest(user, on=not user.weekly_digest)  # AccessDenied for a salesperson
    else:
        users_service.set_weekly_digest(user, funnel=not user.weekly_funnel)
    await show(callback, *digest_screen(user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.DIGEST_TYPE))
async def digest_type(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.set_state(SettingsForm.digest_time)
    await show(callback, tr("settings.digest.ask"), _cancel_markup(tr))


@router.message(SettingsForm.digest_time, F.text, ~F.text.startswith("/"))
async def digest_typed(message: Message, user: User, tr: Translator, state: FSMContext) -> None:
    text = message.text or ""
    value = parse_hhmm(text)
    if value is None:
        await message.answer(
            tr("settings.digest.bad", value=esc(truncate(text.strip(), 40))), reply_markup=_cancel_markup(tr)
        )
        return
    users_service.set_digest_time(user, value)
    await state.set_state(None)  # keep other features' data
    await reply_screen(message, digest_screen(user, tr))


# --- muted notification categories ---------------------------------------------------------------


@router.callback_query(SetCB.filter(F.action == SetAction.MUTE))
async def mute_open(callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(callback, *await mute_screen(session, user, tr))


@router.callback_query(SetCB.filter(F.action == SetAction.MUTE_TOGGLE))
async def mute_toggle(
    callback: CallbackQuery,
    callback_data: SetCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    category = callback_data.v
    if category not in MUTABLE_CATEGORIES:
        raise ValidationFailed("bad category", field="category")
    label = category_name(tr, category)
    if category in await notifications_service.muted_categories(session, user.id):
        await notifications_service.unmute_category(session, user, category)
        callback_answer.text = tr("settings.mute.unmuted", category=label)
    else:
        await notifications_service.mute_category(session, user, category)
        callback_answer.text = tr("settings.mute.muted", category=label)
    await show(callback, *await mute_screen(session, user, tr))


__all__ = ["COMMON_TIMEZONES", "SetAction", "SetCB", "router", "settings_screen", "utc_offset", "zone_label"]
