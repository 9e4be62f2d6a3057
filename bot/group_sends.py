"""The bot's own messages in groups (replies, cards edited in place, new forum topics), noted in
the delivery engine's per-group windows: deliveries to a deal room then wait behind them, so the
two together stay within Telegram's 20 messages a minute per group. One process; with Redis the
shared limiter (bot/shared_limits.py) paces every send instead."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

from scheduler.delivery.limits import GroupWindows

# What Telegram counts towards a group's limit (edits included, conservatively as a whole message).
COUNTED = ("Send", "Copy", "Forward", "Edit", "CreateForumTopic")


class GroupSendLog(BaseRequestMiddleware):
    def __init__(self, windows: GroupWindows, clock: Callable[[], float] = time.monotonic) -> None:
        self.windows = windows
        self.clock = clock

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        chat_id = getattr(method, "chat_id", None)
        if isinstance(chat_id, int) and chat_id < 0 and type(method).__name__.startswith(COUNTED):
            self.windows.record(chat_id, self.clock())
        return await make_request(bot, method)
