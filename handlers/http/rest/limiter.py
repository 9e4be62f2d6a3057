"""Each token's request rate, as Bitrix24 limits it: a leaky bucket that holds `burst` requests and
drains `rate` per second; a request that would overflow it is refused (503 QUERY_LIMIT_EXCEEDED).
Kept in the process's memory: with several processes each holds its own bucket (see the README)."""

from __future__ import annotations

import time

from aiohttp import web


class TokenLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}  # token id -> (level, at)

    def allow(self, token_id: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        level, at = self._buckets.get(token_id, (0.0, now))
        level = max(0.0, level - (now - at) * self.rate)
        if level + 1 > self.burst:
            self._buckets[token_id] = (level, now)
            return False
        self._buckets[token_id] = (level + 1, now)
        return True


LIMITER_KEY = web.AppKey("rest_limiter", TokenLimiter)
