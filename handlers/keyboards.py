"""Inline keyboards shared by the routers."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from crm_core.models import Role, User
from handlers.callbacks import InviteCB, MenuAction, MenuCB
from handlers.texts import Translator

MENU_ROWS: tuple[tuple[MenuAction, ...], ...] = (
    (MenuAction.NEW, MenuAction.TODAY),
    (MenuAction.LEADS, MenuAction.DEALS),
    (MenuAction.CONTACTS, MenuAction.COMPANIES),
    (MenuAction.KANBAN, MenuAction.FIND),
    (MenuAction.ACTIVITIES, MenuAction.CALENDAR),
    (MenuAction.SETTINGS, MenuAction.HELP),
)


def main_menu(tr: Translator, user: User) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    rows = list(MENU_ROWS)
    if user.is_admin:
        rows.append((MenuAction.ADMIN, MenuAction.INVITE))
    for row in rows:
        kb.row(
            *(
                InlineKeyboardButton(
                    text=tr(f"menu.{action.value}"), callback_data=MenuCB(action=action).pack()
                )
                for action in row
            )
        )
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
