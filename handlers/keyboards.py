"""Inline keyboards shared by the routers."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from crm_core.models import Role, User
from handlers.callbacks import InviteCB, MenuAction, MenuCB
from handlers.texts import N_, Translator
from handlers.texts.names import ROLE_NAMES

MENU_NAMES = {
    MenuAction.NEW: N_("menu.new"),
    MenuAction.TODAY: N_("menu.today"),
    MenuAction.LEADS: N_("menu.leads"),
    MenuAction.DEALS: N_("menu.deals"),
    MenuAction.CONTACTS: N_("menu.contacts"),
    MenuAction.COMPANIES: N_("menu.companies"),
    MenuAction.KANBAN: N_("menu.kanban"),
    MenuAction.FIND: N_("menu.find"),
    MenuAction.ACTIVITIES: N_("menu.activities"),
    MenuAction.CALENDAR: N_("menu.calendar"),
    MenuAction.SETTINGS: N_("menu.settings"),
    MenuAction.HELP: N_("menu.help"),
    MenuAction.ADMIN: N_("menu.admin"),
    MenuAction.INVITE: N_("menu.invite"),
}

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
                InlineKeyboardButton(text=tr(MENU_NAMES[action]), callback_data=MenuCB(action=action).pack())
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
        kb.button(text=tr(ROLE_NAMES[role]).capitalize(), callback_data=InviteCB(role=role))
    kb.button(text=tr("menu.back"), callback_data=MenuCB(action=MenuAction.MAIN))
    kb.adjust(1)
    return kb.as_markup()
