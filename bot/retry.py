"""Answers to people wait out Telegram's flood control instead of failing.

When a handler's reply hits a 429, Telegram says how long to wait; the reply is sent after that
pause (a few seconds at most), so a burst of answers in one chat arrives late but complete. The
scheduler's deliveries use their own bot session without this, since they pace each chat
themselves and must not block a worker on one chat.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)


class WaitOutFloodControl(BaseRequestMiddleware):
    def __init__(self, *, max_wait: float = 10.0, attempts: int = 3) -> None:
        self.max_wait = max_wait
        self.attempts = attempts

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Response[Any]:
        attempt = 0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                if (
                    isinstance(method, GetUpdates)
                    or attempt >= self.attempts
                    or exc.retry_after > self.max_wait
                ):
                    raise
                log.info("flood control on %s: waiting %s s", type(method).__name__, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
