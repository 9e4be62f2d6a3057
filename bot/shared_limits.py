"""Telegram's send limits held across processes: a request middleware on every bot session that,
with REDIS_URL, reserves a slot in Redis before each message is sent.

Two token buckets per message, each taken by one Lua script on Redis's own clock (so processes on
different hosts agree): first the chat's (about 1/s in a private chat, 20/min in a group), then, when
the chat's turn has come, the bot-wide one (DELIVERY_RATE_PER_SECOND, Telegram allows about 30/s).
A caller that finds a bucket empty reserves the next slot anyway and sleeps until it, so callers are
served in turn. A 429 that still happens (another client of the same token, a stricter limit) holds the chat
for `retry_after` in Redis, for every process.

Without Redis (one process) the scheduler's own buckets and WaitOutFloodControl do this.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response

log = logging.getLogger(__name__)

# KEYS: the buckets, then the chat's hold key. ARGV: rate and burst of each bucket.
# Returns the seconds to wait (as a string: Lua numbers come back truncated to integers).
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
local n = #KEYS - 1
for i = 1, n do
  local rate = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then
    tokens = burst
    ts = now
  end
  tokens = math.min(burst, tokens + math.max(now - ts, 0) * rate) - 1
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
  redis.call('EXPIRE', KEYS[i], 300)
  if tokens < 0 and -tokens / rate > wait then
    wait = -tokens / rate
  end
end
local held = redis.call('PTTL', KEYS[n + 1])
if held > 0 and held / 1000 > wait then
  wait = held / 1000
end
return string.format('%.6f', wait)
"""

SENDING = ("Send", "Copy", "Forward")  # the methods Telegram's message limits count


@dataclass(frozen=True)
class SendLimits:
    global_rate: float = 28.0
    # No burst bot-wide: at 28/s any one second then holds at most 29 messages (Telegram: about 30).
    global_burst: float = 1.0
    private_rate: float = 1.0
    # One less than Telegram's burst of 3: Telegram counts from when a message arrives, we from when
    # it was reserved, and a first message that arrives late would otherwise leave no room for jitter.
    private_burst: float = 2.0
    group_rate: float = 17 / 60  # with the burst, at most 20 in any minute (Telegram's limit)
    group_burst: float = 3.0
    max_wait: float = 60.0  # never sleep longer than this for one message


class SharedSendLimiter(BaseRequestMiddleware):
    def __init__(self, redis: Any, bot_id: int, limits: SendLimits | None = None) -> None:
        self.redis = redis
        self.bot_id = bot_id
        self.limits = limits or SendLimits()
        self._script = redis.register_script(RESERVE)

    async def reserve_chat(self, chat_id: int | str) -> float:
        """Take the chat's slot (and honour a 429 hold): the seconds to wait before its turn."""
        lim = self.limits
        group = isinstance(chat_id, str) or int(chat_id) < 0
        rate, burst = (lim.group_rate, lim.group_burst) if group else (lim.private_rate, lim.private_burst)
        prefix = f"sendrate:{self.bot_id}"
        keys = [f"{prefix}:chat:{chat_id}", f"{prefix}:hold:{chat_id}"]
        wait = await self._script(keys=keys, args=[rate, burst])
        return min(float(wait), lim.max_wait)

    async def reserve_global(self, chat_id: int | str) -> float:
        """Take a bot-wide slot: the seconds to wait before sending."""
        lim = self.limits
        prefix = f"sendrate:{self.bot_id}"
        keys = [f"{prefix}:all", f"{prefix}:hold:{chat_id}"]
        wait = await self._script(keys=keys, args=[lim.global_rate, lim.global_burst])
        return min(float(wait), lim.max_wait)

    async def reserve(self, chat_id: int | str) -> float:
        """The chat's turn first (waited out here), then a bot-wide slot taken at that moment: the
        seconds still to wait. Taking both at once would spend a bot-wide slot now for a message
        that goes later, and messages held back by their chats would then go out together."""
        wait = await self.reserve_chat(chat_id)
        if wait > 0:
            await asyncio.sleep(wait)
        return await self.reserve_global(chat_id)

    async def hold(self, chat_id: int | str, seconds: float) -> None:
        key = f"sendrate:{self.bot_id}:hold:{chat_id}"
        await self.redis.set(key, "1", px=max(int(seconds * 1000), 1))

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        chat_id = getattr(method, "chat_id", None)
        if chat_id is None or not type(method).__name__.startswith(SENDING):
            return await make_request(bot, method)
        try:
            wait = await self.reserve(chat_id)
        except Exception:  # noqa: BLE001 - Redis down: send anyway, Telegram's 429 is the last word
            log.warning("shared send limiter unavailable; sending unpaced", exc_info=True)
            wait = 0.0
        if wait > 0:
            await asyncio.sleep(wait)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as exc:
            try:
                await self.hold(chat_id, float(exc.retry_after))
            except Exception:  # noqa: BLE001
                log.warning("could not record a 429 in Redis", exc_info=True)
            raise


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
