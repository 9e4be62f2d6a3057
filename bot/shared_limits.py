"""Telegram's send limits held across processes: a request middleware on every bot session that,
with REDIS_URL, admits each message through one schedule in Redis before it is sent.

Telegram counts messages when they arrive, and a message arrives some time after it was admitted
(an event loop busy elsewhere, the network): a limiter that only spaces its admissions lets
messages admitted at the end of one second arrive with those of the next. So each limit is a log in
Redis of the messages that may still be counted: a sorted set scored by when each message was last
known to be on its way, its admission time while it is in flight, then the moment its answer came
back (`done`). A message is admitted only when fewer than `limit` messages of that log ended after
`now - window`, and messages still in flight always count. Whatever the delays, any `window`
of arrivals then holds at most `limit` messages: every message of such a window was admitted before
the last one of it, and had not yet come back `window` before that one was admitted.

One Lua script, on Redis's own clock (processes on different hosts agree), checks the bot-wide log
(DELIVERY_RATE_PER_SECOND in any one second; Telegram allows about 30), the chat's log (3 in any
3 s in a private chat: 1/s with Telegram's burst of 3; 20 in any minute in a group) and the
chat's hold after a 429, and admits the message to both logs at once or to neither: a message held
back by its chat takes no bot-wide turn. A caller that is refused sleeps until the first moment the
answer could change and asks again; within a process one caller at a time waits for a bot-wide turn,
so callers are served in turn and Redis is asked about once per slot. A 429 that still happens
(another client of the same token, a stricter limit) holds the chat for `retry_after` in Redis, for
every process.

Without Redis (one process) the scheduler's own buckets and WaitOutFloodControl do this.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
from dataclasses import dataclass
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)

# KEYS: the bot-wide log, the chat's log, the chat's hold. ARGV: the message's member, then limit
# and window of each log, then how long a message may stay in flight before it no longer counts
# (a process that died mid-send). Returns "" when admitted, else "a<seconds>" (the bot-wide log is
# full) or "c<seconds>" (the chat's log, or its hold): the seconds until the answer may change (as a
# string: Lua numbers come back truncated to integers).
ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local flight = tonumber(ARGV[6])
local wait, which = 0, 'a'
local held = redis.call('PTTL', KEYS[3])
if held > 0 then
  wait, which = held / 1000, 'c'
end
for i = 1, 2 do
  local limit, window = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if redis.call('ZCARD', KEYS[i]) >= limit then
    local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    -- Still in flight: it cannot leave the log before `window` after it comes back.
    local w = math.min(tonumber(first[2]), now) + window - now
    if w >= wait then
      wait = w
      which = i == 1 and 'a' or 'c'
    end
  end
end
if wait > 0 then
  return which .. string.format('%.6f', wait)
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now + flight, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil((flight + tonumber(ARGV[2 * i + 1])) * 1000))
end
return ''
"""

# KEYS: the logs the message was admitted to. ARGV[1]: its member. It came back now: from now on it
# counts only for `window` more seconds.
DONE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
end
return 1
"""

SENDING = ("Send", "Copy", "Forward")  # the methods Telegram's message limits count


@dataclass(frozen=True)
class SendLimits:
    global_limit: int = 29  # messages in any `global_window` seconds, all chats, all processes
    global_window: float = 1.0
    private_limit: int = 3  # 1/s with Telegram's burst of 3
    private_window: float = 3.0
    group_limit: int = 20
    group_window: float = 60.0
    max_flight: float = 40.0  # a message not back by then (its process died) stops counting
    max_wait: float = 60.0  # a longer wait is reported as a 429 instead of sleeping it out

    @classmethod
    def per_second(cls, rate: float) -> SendLimits:
        """DELIVERY_RATE_PER_SECOND: whole messages in any one second."""
        return cls(global_limit=max(1, math.floor(rate)))


class SharedSendLimiter(BaseRequestMiddleware):
    def __init__(self, redis: Any, bot_id: int, limits: SendLimits | None = None) -> None:
        self.redis = redis
        self.bot_id = bot_id
        self.limits = limits or SendLimits()
        self._admit = redis.register_script(ADMIT)
        self._done = redis.register_script(DONE)
        self._members = (f"{os.getpid()}:{os.urandom(4).hex()}:{n}" for n in itertools.count())
        self._turn = asyncio.Lock()  # one caller of this process waits for a bot-wide turn at a time

    def _keys(self, chat_id: int | str) -> list[str]:
        prefix = f"sendrate:{self.bot_id}"
        return [f"{prefix}:all", f"{prefix}:chat:{chat_id}", f"{prefix}:hold:{chat_id}"]

    async def try_admit(self, chat_id: int | str, member: str) -> tuple[float, bool]:
        """One attempt: (0, _) when admitted, else the seconds to wait and whether the chat (not
        the bot-wide log) is what holds the message back."""
        lim = self.limits
        group = isinstance(chat_id, str) or int(chat_id) < 0
        limit, window = (
            (lim.group_limit, lim.group_window) if group else (lim.private_limit, lim.private_window)
        )
        args = [member, lim.global_limit, lim.global_window, limit, window, lim.max_flight]
        answer = await self._admit(keys=self._keys(chat_id), args=args)
        answer = answer.decode() if isinstance(answer, bytes) else answer
        if not answer:
            return 0.0, False
        return float(answer[1:]), answer[0] == "c"

    async def admit(self, chat_id: int | str) -> str:
        """Wait for this message's turn; returns its member, for `done`. Raises TimeoutError when
        the turn is further away than `max_wait`."""
        member = next(self._members)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.limits.max_wait
        while True:
            async with self._turn:
                while True:
                    wait, by_chat = await self.try_admit(chat_id, member)
                    if wait <= 0:
                        return member
                    if by_chat or loop.time() + wait > give_up:
                        break
                    await asyncio.sleep(wait)  # the next bot-wide turn; this process's others queue
            if loop.time() + wait > give_up:
                raise TimeoutError(wait)
            await asyncio.sleep(wait)  # the chat's turn: other chats go meanwhile

    async def done(self, chat_id: int | str, member: str) -> None:
        await self._done(keys=self._keys(chat_id)[:2], args=[member])

    async def hold(self, chat_id: int | str, seconds: float) -> None:
        key = f"sendrate:{self.bot_id}:hold:{chat_id}"
        await self.redis.set(key, "1", px=max(int(seconds * 1000), 1))

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        chat_id = getattr(method, "chat_id", None)
        if chat_id is None or not type(method).__name__.startswith(SENDING):
            return await make_request(bot, method)
        member = None
        try:
            member = await self.admit(chat_id)
        except TimeoutError as exc:
            # As Telegram would answer: the caller's own flood control decides what to do.
            raise TelegramRetryAfter(method, "shared send limit", math.ceil(exc.args[0])) from None
        except Exception:  # noqa: BLE001 - Redis down: send anyway, Telegram's 429 is the last word
            log.warning("shared send limiter unavailable; sending unpaced", exc_info=True)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            try:
                await self.hold(chat_id, float(exc.retry_after))
            except Exception:  # noqa: BLE001
                log.warning("could not record a 429 in Redis", exc_info=True)
            raise
        finally:
            if member is not None:
                try:
                    await self.done(chat_id, member)
                except Exception:  # noqa: BLE001 - it stops counting after max_flight anyway
                    log.warning("could not record a sent message in Redis", exc_info=True)


# KEYS[1]: the address's log of submissions. ARGV: the limit, a unique member for this one.
# Returns the seconds to wait as a string, "" when this submission is counted and may go ahead.
SUBMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return string.format('%.3f', math.max(tonumber(oldest[2]) + 60000 - now, 1) / 1000)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], 61000)
return ''
"""


LEAK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or tostring(now))
level = math.max(0, level - (now - at) * rate)
local allowed = 0
if level + 1 <= burst then
  level = level + 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return allowed
"""


class SharedTokenLimiter:
    """handlers.http.rest.limiter.RequestLimiter held in Redis: each REST token's leaky bucket
    (Bitrix24's: `burst` requests, draining `rate` per second) shared by every process, on
    Redis's clock."""

    def __init__(self, redis: Any, rate: float, burst: int, *, prefix: str = "restrate") -> None:
        self.redis = redis
        self.rate = rate
        self.burst = burst
        self.prefix = prefix
        self._script = redis.register_script(LEAK)

    async def allow(self, token_id: int) -> bool:
        allowed = await self._script(keys=[f"{self.prefix}:{token_id}"], args=[self.rate, self.burst])
        return bool(int(allowed))


class SharedAddressLimiter:
    """crm_core.services.forms.SubmissionLimiter held in Redis: web form submissions per address
    per minute counted across every process (a sliding log on Redis's clock)."""

    def __init__(self, redis: Any, per_minute: int, *, prefix: str = "formrate") -> None:
        self.redis = redis
        self.per_minute = per_minute
        self.prefix = prefix
        self._script = redis.register_script(SUBMIT)

    async def acquire(self, address: str) -> float | None:
        import uuid

        wait = await self._script(keys=[f"{self.prefix}:{address}"], args=[self.per_minute, uuid.uuid4().hex])
        wait = wait.decode() if isinstance(wait, bytes) else wait
        return float(wait) if wait else None
