"""Each token's request rate, as Bitrix24 limits it: a leaky bucket that holds `burst` requests and
drains `rate` per second; a request that would overflow it is refused (503 QUERY_LIMIT_EXCEEDED).
`TokenLimiter` keeps the buckets in this process's memory; with several processes the composition
root sets a limiter held in Redis (bot/shared_limits.py) under LIMITER_KEY before setup."""

from __future__ import annotations

import time
from typing import Protocol

from aiohttp import web


class RequestLimiter(Protocol):
    async def allow(self, token_id: int) -> bool:
        """Count one request of the token; False when its bucket is full (nothing counted)."""
        ...


class TokenLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (level, at)

    async def allow(self, token_id: int) -> bool:
        return self.take(token_id)

    def take(self, token_id: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        level, at = self._buckets.get(token_id, (0.0, now))
        level = max(0.0, level - (now - at) * self.rate)
        if level + 1 > self.burst:
            self._buckets[token_id] = (level, now)
            return False
        self._buckets[token_id] = (level + 1, now)
        return True


LIMITER_KEY = web.AppKey("rest_limiter", RequestLimiter)
