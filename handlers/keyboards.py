"""Inline keyboards shared by the routers."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from crm_core.models import Role, User
from handlers.callbacks import InviteCB, MenuAction, MenuCB, SettingsAction, SettingsCB
from handlers.texts import LANGUAGES, Translator


def main_menu(tr: Translator, user: User) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=tr("menu.settings"), callback_data=MenuCB(action=MenuAction.SETTINGS))
    kb.button(text=tr("menu.help"), callback_data=MenuCB(action=MenuAction.HELP))
    if user.is_admin:
        kb.button(text=tr("menu.invite"), callback_data=MenuCB(action=MenuAction.INVITE))
    kb.adjust(2)
    return kb.as_markup()


def back_to_menu(tr: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.MAIN))
    return kb.as_markup()


def invite_roles(tr: Translator) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for role in (Role.SALESPERSON, Role.HEAD, Role.ADMIN):
        kb.button(text=tr(f"role.{role.value}").capitalize(), callback_data=InviteCB(role=role.value))
    kb.button(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()


def settings_menu(tr: Translator, user: User) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    # Offer the other language; the label is in that language so anyone can find it.
    for lang in LANGUAGES:
        if lang != user.language:
            kb.button(
                text=Translator(lang)("settings.language"),
                callback_data=SettingsCB(action=SettingsAction.LANGUAGE, value=lang),
            )
    kb.button(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()
