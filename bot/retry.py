"""Answers to people survive Telegram's hiccups instead of failing the update (issue 15).

- Flood control (429): Telegram says how long to wait; the reply is sent after that pause, again
  and again through a storm, up to `max_total_wait` seconds in all, so a burst of answers in one
  chat arrives late but complete.
- A server error (5xx) or a request with no answer (timeout, connection dropped) is retried after
  a short pause, `transient_attempts` times at most. Telegram has no idempotency key: a send that
  timed out after it was delivered is then delivered twice (the fault suite counts such
  duplicates). An edit or a press answer repeated after it had arrived is refused by Telegram as a
  repeat ("message is not modified", "query is too old"): that means it was done, so it counts as
  done instead of failing the update (whose changes would be rolled back).

getUpdates is left to the poller, which has its own back-off. The scheduler's deliveries use their
own bot session without this: they pace each chat themselves and must not block a worker on one
chat.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)

# What Telegram says when a call is repeated after it took effect.
_ALREADY_DONE = ("message is not modified", "query is too old")


class WaitOutFloodControl(BaseRequestMiddleware):
    def __init__(
        self,
        *,
        max_wait: float = 10.0,
        max_total_wait: float = 30.0,
        transient_attempts: int = 2,
        transient_pause: float = 0.5,
    ) -> None:
        self.max_wait = max_wait
        self.max_total_wait = max_total_wait
        self.transient_attempts = transient_attempts
        self.transient_pause = transient_pause

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Response[Any]:
        if isinstance(method, GetUpdates):
            return await make_request(bot, method)
        waited = 0.0
        retries = 0  # after a 5xx or no answer
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self.max_wait or waited + exc.retry_after > self.max_total_wait:
                    raise
                log.info("flood control on %s: waiting %s s", type(method).__name__, exc.retry_after)
                waited += exc.retry_after
                await asyncio.sleep(exc.retry_after)
            except (TelegramServerError, TelegramNetworkError) as exc:
                retries += 1
                if retries > self.transient_attempts:
                    raise
                log.warning("%s failed (%s); retrying", type(method).__name__, exc)
                await asyncio.sleep(self.transient_pause * retries)
            except TelegramBadRequest as exc:
                if retries and any(text in exc.message for text in _ALREADY_DONE):
                    log.info("%s had arrived before its retry: %s", type(method).__name__, exc.message)
                    return True  # type: ignore[return-value]  # what an edit or an answer returns
                raise
