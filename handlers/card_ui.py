"""Small pieces the card's own screens share (cards, card_fields, card_people, card_stages,
card_trash): written once here so those modules need not import one another for them."""

from __future__ import annotations

from collections.abc import Callable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton

from crm_core.models.items import AnyItem
from handlers.callbacks import MenuAction, MenuCB
from handlers.render import esc, truncate
from handlers.texts import Translator

NAME_LIMIT = 100


def titled(item: AnyItem) -> str:
    """The item's name as screen headers quote it: escaped and cut."""
    return esc(truncate(item.display_name, NAME_LIMIT))


def button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def menu_row(tr: Translator) -> list[InlineKeyboardButton]:
    """The "main menu" row ending screens that lead nowhere else."""
    return [button(tr("card.btn.menu"), MenuCB(action=MenuAction.MAIN))]


def in_pairs(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[k : k + 2] for k in range(0, len(buttons), 2)]


def page_nav(
    tr: Translator, page: int, has_next: bool, data: Callable[[int], CallbackData]
) -> list[list[InlineKeyboardButton]]:
    """A "prev / next" row for a paged screen (no row when there is one page); `data(page)` is
    the button data that shows that page."""
    nav = []
    if page > 0:
        nav.append(button(tr("card.btn.prev"), data(page - 1)))
    if has_next:
        nav.append(button(tr("card.btn.next"), data(page + 1)))
    return [nav] if nav else []


__all__ = ["NAME_LIMIT", "button", "in_pairs", "menu_row", "page_nav", "titled"]
