"""Typed callback data. Prefixes are short: Telegram allows 64 bytes of callback data."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData


class MenuAction(StrEnum):
    MAIN = "main"
    HELP = "help"
    SETTINGS = "settings"
    INVITE = "invite"


class MenuCB(CallbackData, prefix="m"):
    action: MenuAction


class InviteCB(CallbackData, prefix="inv"):
    role: str


class SettingsAction(StrEnum):
    LANGUAGE = "lang"


class SettingsCB(CallbackData, prefix="set"):
    action: SettingsAction
    value: str = ""
