"""Showing screens: edit the current message in place when a button was pressed, else send."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message


def _markup_data(markup: InlineKeyboardMarkup | None) -> object:
    return markup.model_dump(exclude_none=True, exclude_defaults=True) if markup else None


def _unchanged(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """The screen already shows exactly this (the option already chosen was pressed again)."""
    try:
        return message.html_text == text and _markup_data(message.reply_markup) == _markup_data(markup)
    except (TypeError, ValueError):  # entities the decoder cannot rebuild: let Telegram decide
        return False


async def show(event: CallbackQuery | Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
        return
    message = event.message
    if message is None or isinstance(message, InaccessibleMessage):
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
        return
    if _unchanged(message, text, markup):
        return  # editing would only earn a 400 "message is not modified"
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # Same content in another spelling is not an error either; other failures (a message too
        # old to edit) fall back to a new message so that the user always sees the screen.
        if "message is not modified" in exc.message:
            return
        await message.answer(text, reply_markup=markup)


async def reply_screen(message: Message, screen: tuple[str, InlineKeyboardMarkup], note: str = "") -> None:
    """One message (a note on what was just done, then the screen): chats are rate-limited."""
    text = f"{note}\n\n{screen[0]}" if note else screen[0]
    await message.answer(text, reply_markup=screen[1])
