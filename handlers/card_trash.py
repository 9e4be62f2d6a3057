"""The trash: delete an item (after a confirmation), list one's deleted items, restore them.
Someone else's deleted item looks like no item at all."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, NotFound
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import trash as trash_service
from handlers.callbacks import Unpacked
from handlers.card_render import back_to_card, card_screen, format_dt, item_label, load_visible
from handlers.card_ui import button, menu_row, page_nav, titled
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="card_trash")

TRASH_PAGE = 8


class TrashAction(StrEnum):
    ASK = "ask"  # confirm the deletion
    DELETE = "del"
    LIST = "ls"  # the trash, page p
    RESTORE = "res"


class TrashCB(Unpacked, CallbackData, prefix="tr"):
    a: TrashAction
    t: str = ""  # an ItemType value; checked by _trash_type (a forged one is a missing item)
    id: int = 0
    p: int = 0


def _trash_type(raw: str) -> ItemType:
    try:
        return ItemType(raw)
    except ValueError as exc:
        raise NotFound(item_type=raw) from exc


def delete_rows(tr: Translator, item_type: ItemType, item_id: int) -> list[list[InlineKeyboardButton]]:
    """The card's "more" screen rows leading here: delete this item, open the trash."""
    return [
        [button(tr("card.more.delete"), TrashCB(a=TrashAction.ASK, t=item_type.value, id=item_id))],
        [button(tr("card.more.trash"), TrashCB(a=TrashAction.LIST))],
    ]


@router.callback_query(TrashCB.filter(F.a == TrashAction.ASK))
async def confirm_delete(
    callback: CallbackQuery, callback_data: TrashCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, _trash_type(callback_data.t), callback_data.id, for_edit=True)
    t, i = item.ITEM_TYPE, item.id
    rows = [
        [button(tr("card.trash.yes"), TrashCB(a=TrashAction.DELETE, t=t.value, id=i))],
        [back_to_card(tr, t, i)],
    ]
    text = tr("card.trash.confirm", ref=item.ref, name=titled(item))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(TrashCB.filter(F.a == TrashAction.DELETE))
async def delete_item(
    callback: CallbackQuery,
    callback_data: TrashCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, _trash_type(callback_data.t), callback_data.id, for_edit=True)
    await trash_service.delete_item(session, user, item)
    t, i = item.ITEM_TYPE, item.id
    callback_answer.text = tr("card.trash.deleted_short")
    rows = [
        [button(tr("card.trash.restore"), TrashCB(a=TrashAction.RESTORE, t=t.value, id=i))],
        [button(tr("card.more.trash"), TrashCB(a=TrashAction.LIST))],
        menu_row(tr),
    ]
    text = tr("card.trash.deleted", ref=item.ref, name=titled(item))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


async def trash_screen(
    session: AsyncSession, user: User, tr: Translator, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    page = max(0, page)
    entries = await trash_service.list_trash(session, user, limit=TRASH_PAGE + 1, offset=page * TRASH_PAGE)
    has_next = len(entries) > TRASH_PAGE
    entries = entries[:TRASH_PAGE]
    rows = []
    if not entries:
        text = tr("card.trash.empty")
    else:
        lines = [tr("card.trash.title")]
        for entry in entries:
            item = entry.item
            deleted = format_dt(item.deleted_at, user) if item.deleted_at else ""
            lines.append(f"{item_label(tr, item)} — {deleted}")
            data = TrashCB(a=TrashAction.RESTORE, t=entry.item_type.value, id=item.id, p=page)
            rows.append([button(tr("card.trash.restore_item", ref=item.ref), data)])
        text = "\n".join(lines)
    rows += page_nav(tr, page, has_next, lambda p: TrashCB(a=TrashAction.LIST, p=p))
    rows.append(menu_row(tr))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("trash"), F.chat.type == "private")
async def trash_command(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(message, *await trash_screen(session, user, tr, 0))


@router.callback_query(TrashCB.filter(F.a == TrashAction.LIST))
async def trash_list(
    callback: CallbackQuery, callback_data: TrashCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await trash_screen(session, user, tr, callback_data.p))


@router.callback_query(TrashCB.filter(F.a == TrashAction.RESTORE))
async def restore(
    callback: CallbackQuery,
    callback_data: TrashCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = _trash_type(callback_data.t)
    try:
        item = await trash_service.restore_item(session, user, item_type, callback_data.id)
    except AccessDenied as exc:  # someone else's trash looks like nothing at all
        raise NotFound(item_type=item_type.value, item_id=callback_data.id) from exc
    callback_answer.text = tr("card.trash.restored", ref=item.ref)
    await show(callback, *await card_screen(session, user, tr, item.ITEM_TYPE, item.id))


__all__ = ["TrashAction", "TrashCB", "delete_rows", "trash_screen", "router"]
