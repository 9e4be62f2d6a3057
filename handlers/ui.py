"""Showing screens: edit the current message in place when a button was pressed, else send.

What the bot last drew in each message is remembered server-side (ScreenMemory), so that a
repeated screen (a double tap, two people pressing on one card) costs no request: the callback's
copy of the message is stale by the time the second press is handled, and Telegram counts the
"message is not modified" errors an edit would earn against the bot.

A screen shown while an update's unit of work is open is sent once it has committed
(handlers.held_replies).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from functools import partial
from typing import Any

import orjson
from aiogram import BaseMiddleware, Dispatcher
from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.storage.base import BaseStorage
from aiogram.methods import EditMessageText, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, InaccessibleMessage, InlineKeyboardMarkup, Message, TelegramObject

from handlers.held_replies import make_or_hold
from handlers.keyboard_data import keyboard_data

log = logging.getLogger(__name__)

SCREEN_TTL = 2 * 24 * 60 * 60  # seconds; Telegram lets a bot edit its messages for 48 hours
LOCAL_SCREENS = 10_000  # messages remembered per process without Redis


class ScreenMemory:
    """In-process memory, bounded (the oldest screens are forgotten first)."""

    def __init__(self, limit: int = LOCAL_SCREENS) -> None:
        self.limit = limit
        self._drawn: OrderedDict[str, str] = OrderedDict()

    async def swap(self, key: str, digest: str) -> str | None:
        """Note `digest` as drawn; return what was noted before. Atomic: no await in between."""
        previous = self._drawn.pop(key, None)
        self._drawn[key] = digest
        while len(self._drawn) > self.limit:
            self._drawn.popitem(last=False)
        return previous

    async def forget(self, key: str) -> None:
        self._drawn.pop(key, None)


class RedisScreenMemory(ScreenMemory):
    """Shared by every process of the bot: one atomic SET ... GET per screen."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    async def swap(self, key: str, digest: str) -> str | None:
        previous = await self.redis.set(f"screen:{key}", digest, ex=SCREEN_TTL, get=True)
        return previous.decode() if isinstance(previous, bytes) else previous

    async def forget(self, key: str) -> None:
        await self.redis.delete(f"screen:{key}")


def screen_memory_for(storage: BaseStorage) -> ScreenMemory:
    redis = getattr(storage, "redis", None)  # aiogram's RedisStorage
    return RedisScreenMemory(redis) if redis is not None else ScreenMemory()


_memory: ContextVar[ScreenMemory | None] = ContextVar("screen_memory", default=None)


class ScreenMemoryMiddleware(BaseMiddleware):
    """Outer update middleware: the dispatcher's memory for `show` during this update."""

    def __init__(self, memory: ScreenMemory) -> None:
        self.memory = memory

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        token = _memory.set(self.memory)
        try:
            return await handler(event, data)
        finally:
            _memory.reset(token)


def register(dp: Dispatcher) -> None:
    dp.update.outer_middleware(ScreenMemoryMiddleware(screen_memory_for(dp.storage)))


def _digest(text: str, markup: InlineKeyboardMarkup | None) -> str:
    # orjson: the standard library's encoder was ~0.5% of a busy bot's CPU. A digest stored by
    # another encoding before an upgrade costs one redundant edit at most.
    payload = orjson.dumps([text, _markup_data(markup)], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(payload).hexdigest()


def _key(message: Message) -> str:
    return f"{message.bot.id if message.bot else 0}:{message.chat.id}:{message.message_id}"


async def _swap(message: Message, digest: str) -> str | None:
    memory = _memory.get()
    if memory is None:
        return None
    try:
        return await memory.swap(_key(message), digest)
    except Exception:  # a memory outage costs at most a redundant edit, never the screen
        log.warning("screen memory unavailable", exc_info=True)
        return None


async def _forget(message: Message) -> None:
    memory = _memory.get()
    if memory is not None:
        try:
            await memory.forget(_key(message))
        except Exception:
            log.warning("screen memory unavailable", exc_info=True)


def _markup_data(markup: InlineKeyboardMarkup | None) -> object:
    return keyboard_data(markup) if markup else None


def _unchanged(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """The screen already shows exactly this (the option already chosen was pressed again)."""
    try:
        return message.html_text == text and _markup_data(message.reply_markup) == _markup_data(markup)
    except (TypeError, ValueError):  # entities the decoder cannot rebuild: let Telegram decide
        return False


async def show(event: CallbackQuery | Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the pressed message into this screen, or send it; held until the update commits."""
    digest = _digest(text, markup)
    if isinstance(event, Message):
        send = event.answer(text, reply_markup=markup)
        await make_or_hold(partial(_send, send, digest), send)
        return
    message = event.message
    if message is None or isinstance(message, InaccessibleMessage):
        send = SendMessage(chat_id=event.from_user.id, text=text, reply_markup=markup).as_(event.bot)  # type: ignore[arg-type]
        await make_or_hold(partial(_send, send, digest), send)
        return
    edit = message.edit_text(text, reply_markup=markup)
    send = message.answer(text, reply_markup=markup)  # when it cannot be edited
    await make_or_hold(partial(_edit, message, edit, send, text, markup, digest), send, edit)


async def reply(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """A new message in the chat of `message`; held until the update commits."""
    send = message.answer(text, reply_markup=markup)
    await make_or_hold(partial(_made, send), send)


async def _made(method: TelegramMethod[Any]) -> None:
    await method


async def _send(send: SendMessage, digest: str) -> None:
    await _swap(await send, digest)


async def _edit(
    message: Message,
    edit: EditMessageText,
    send: SendMessage,
    text: str,
    markup: InlineKeyboardMarkup | None,
    digest: str,
) -> None:
    previous = await _swap(message, digest)
    if previous == digest or (previous is None and _unchanged(message, text, markup)):
        return  # editing would only earn a 400 "message is not modified"
    try:
        await edit
    except TelegramBadRequest as exc:
        # Same content in another spelling is not an error either; other failures (a message too
        # old to edit) fall back to a new message so that the user always sees the screen.
        if "message is not modified" in exc.message:
            return
        await _forget(message)  # it does not show this screen after all
        await _swap(await send, digest)
    except BaseException:
        await _forget(message)
        raise


async def reply_screen(message: Message, screen: tuple[str, InlineKeyboardMarkup], note: str = "") -> None:
    """One message (a note on what was just done, then the screen): chats are rate-limited."""
    text = f"{note}\n\n{screen[0]}" if note else screen[0]
    await reply(message, text, screen[1])
