"""A command always leaves an open form: the one place that keeps "/cancel" or "/start" from
becoming a lead's title, a comment or any other form value.

It is a message middleware on the dispatcher (not a router) because aiogram reads the FSM state
once per update: only here can clearing it also take the form's handlers out of the running, so
that the command is then handled as if no form were open."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Dispatcher
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from handlers.texts import DEFAULT_LANGUAGE, Translator

# "/name" or "/name@bot" at the very start, as Telegram marks a bot command.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]+)(?:@\w+)?(?:\s|$)")


def command_of(message: Message) -> str | None:
    match = _COMMAND.match(message.text or "")
    return match.group(1).lower() if match else None


class CommandsLeaveForms(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[Message, dict[str, Any]], Awaitable[Any]],
        event: Message,
        data: dict[str, Any],
    ) -> Any:
        command = command_of(event)
        state: FSMContext | None = data.get("state")
        if command is None or state is None or await state.get_state() is None:
            return await handler(event, data)
        await state.clear()
        data["raw_state"] = None  # what StateFilter reads: the form's handlers no longer match
        if command == "cancel":
            tr: Translator = data.get("tr") or Translator(DEFAULT_LANGUAGE)
            await event.answer(tr("cancelled"))
            return None
        return await handler(event, data)  # /menu, /start, /new...: do what it says


def register(dp: Dispatcher) -> None:
    dp.message.outer_middleware(CommandsLeaveForms())
