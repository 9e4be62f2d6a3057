"""/settings: the user's language (and, shown here, the timezone)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from crm_core.models import User
from crm_core.services import users as users_service
from handlers.callbacks import MenuAction, MenuCB, SettingsAction, SettingsCB
from handlers.keyboards import settings_menu
from handlers.render import esc
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="settings")

LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}


def _settings_text(tr: Translator, user: User) -> str:
    return tr("settings.title", language=LANGUAGE_NAMES[user.language], timezone=esc(user.timezone))


@router.message(Command("settings"), F.chat.type == "private")
async def settings_command(message: Message, user: User, tr: Translator) -> None:
    await message.answer(_settings_text(tr, user), reply_markup=settings_menu(tr, user))


@router.callback_query(MenuCB.filter(F.action == MenuAction.SETTINGS))
async def settings_button(callback: CallbackQuery, user: User, tr: Translator) -> None:
    await show(callback, _settings_text(tr, user), settings_menu(tr, user))


@router.callback_query(SettingsCB.filter(F.action == SettingsAction.LANGUAGE))
async def set_language(callback: CallbackQuery, callback_data: SettingsCB, user: User) -> None:
    users_service.set_language(user, callback_data.value)  # validates the (forgeable) value
    tr = Translator(user.language)
    await show(callback, _settings_text(tr, user), settings_menu(tr, user))
