"""Replies held until the update's unit of work has committed.

A screen a handler shows (handlers.ui.show, reply) while its update's unit of work is open is not
sent there and then but kept here, and sent once the unit of work has committed (bot.middlewares):
- the call to Telegram, 50-300 ms away in production, does not hold the database meanwhile: on
  SQLite the process's one write turn (a call inside it bounded a process to a few updates a
  second), on PostgreSQL a connection and the locks of the rows it changed;
- a reply never shows a change that was then rolled back; an update run again after a failed
  commit replies once.

Any other call the update makes to Telegram before the commit sends what is held first (a bot
session middleware), so the update's calls reach Telegram in the order the handler made them.

What is held is also written, as the Bot API calls it makes, to the update's row of the update
inbox in the same transaction (`stored`): when the process dies between the commit and the send,
the update's rerun from the inbox at the next start, which processed_updates stops from running
the handler twice, sends it from there (`send_stored`). Webhook mode has no inbox: there such a
reply is lost, the change it reported is not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from aiogram import Bot
from aiogram.client.default import Default
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import InlineKeyboardMarkup

from handlers.keyboard_data import keyboard_data

Call = Callable[[], Awaitable[Any]]


class HeldReplies:
    """One update's held replies: each a call to make after the commit, with the Bot API calls it
    stands for (a message to send; for an edit of the pressed message, the edit and the message to
    send when the edit cannot be made)."""

    def __init__(self) -> None:
        self._held: deque[tuple[Call, SendMessage, EditMessageText | None]] = deque()
        self._sending = False
        self.holding = True

    def hold(self, call: Call, send: SendMessage, edit: EditMessageText | None = None) -> bool:
        if not self.holding:
            return False
        self._held.append((call, send, edit))
        return True

    @property
    def pending(self) -> bool:
        return bool(self._held) and not self._sending

    def stored(self) -> str | None:
        """What is held, as JSON for the update's record; None when nothing is."""
        if not self._held:
            return None
        items = []
        for _call, send, edit in self._held:
            markup = _markup(send)
            item = {"send": _fields(send, markup)}
            if edit is not None:
                item["edit"] = _fields(edit, _markup(edit))
            items.append(item)
        return orjson.dumps(items).decode()

    async def send(self) -> None:
        """Make the held calls in order; one that raises ends it (the rest are not made)."""
        if self._sending:
            return  # a held call's own requests pass through
        self._sending = True
        try:
            while self._held:
                call, _send, _edit = self._held.popleft()
                await call()
        finally:
            self._held.clear()
            self._sending = False


def _markup(method: SendMessage | EditMessageText) -> Any:
    markup = method.reply_markup
    if isinstance(markup, InlineKeyboardMarkup):
        return keyboard_data(markup)  # dumped already for the screen's digest
    return None if markup is None else markup.model_dump(exclude_none=True, warnings=False)


def _fields(method: SendMessage | EditMessageText, markup: Any) -> dict[str, Any]:
    """A method's fields as JSON holds them, its keyboard given already dumped; the bot's defaults
    (the parse mode...) stay its own."""
    dumped = method.model_dump(exclude_none=True, exclude={"reply_markup"}, warnings=False)
    fields = {key: value for key, value in dumped.items() if not isinstance(value, Default)}
    if markup is not None:
        fields["reply_markup"] = markup
    return fields


_held: ContextVar[HeldReplies | None] = ContextVar("held_replies", default=None)


@contextmanager
def replies_held() -> Iterator[HeldReplies]:
    """Around an update's unit of work (bot.middlewares): replies made inside are held. What is
    still held when the block raises is dropped with the rolled-back changes."""
    held = HeldReplies()
    token = _held.set(held)
    try:
        yield held
    finally:
        held.holding = False
        _held.reset(token)


def held_replies() -> HeldReplies | None:
    """The current update's held replies, if any."""
    return _held.get()


async def make_or_hold(call: Call, send: SendMessage, edit: EditMessageText | None = None) -> None:
    held = _held.get()
    if held is None or not held.hold(call, send, edit):
        await call()


async def send_stored(bot: Bot, stored: str) -> None:
    """Send what an update's record holds (its process died before sending it). An edit that had
    arrived after all is refused as not modified: that is done; one that cannot be made (the
    message is gone) becomes a new message, as the first run would have sent."""
    for item in orjson.loads(stored):
        edit = item.get("edit")
        if edit is not None:
            try:
                await bot(EditMessageText.model_validate(edit))
                continue
            except TelegramBadRequest as exc:
                if "message is not modified" in exc.message:
                    continue
        await bot(SendMessage.model_validate(item["send"]))
