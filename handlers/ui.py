"""Showing screens: edit the current message in place when a button was pressed, else send."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message


async def show(event: CallbackQuery | Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
        return
    message = event.message
    if message is None or isinstance(message, InaccessibleMessage):
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)  # type: ignore[union-attr]
        return
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # Pressing the same button twice is not an error; other failures (a message too old to
        # edit) fall back to a new message so that the user always sees the screen.
        if "message is not modified" in exc.message:
            return
        await message.answer(text, reply_markup=markup)
