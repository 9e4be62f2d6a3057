"""Flood control modelled on Telegram's documented limits.

Telegram: ~1 message/s per private chat (short bursts tolerated), 20 messages/min per group,
~30 messages/s overall.  Exceeding any of them yields 429 with ``retry_after`` in whole seconds.
Private chats and the bot-wide limit are token buckets; a group is a sliding window (no more than
20 messages in any 60 s, edits counting lightly), so a sender that keeps a burst's tokens and the
refill of the minute cannot get 40 through, and the retry_after is when the oldest leaves it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Bucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait_time(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 if available now)."""
        self.refill(now)
        if self.tokens >= cost:
            return 0.0
        return (cost - self.tokens) / self.rate

    def take(self, now: float, cost: float) -> None:
        self.tokens -= cost


@dataclass
class Window:
    """At most `limit` (cost) in any `period` seconds."""

    limit: float
    period: float
    sent: deque[tuple[float, float]] = field(default_factory=deque)

    def wait_time(self, now: float, cost: float = 1.0) -> float:
        while self.sent and self.sent[0][0] <= now - self.period:
            self.sent.popleft()
        excess = sum(c for _t, c in self.sent) + cost - self.limit
        if excess <= 1e-9:
            return 0.0
        for at, c in self.sent:  # the oldest leave first
            excess -= c
            if excess <= 1e-9:
                return at + self.period - now
        return self.period

    def take(self, now: float, cost: float) -> None:
        self.sent.append((now, cost))


@dataclass
class RateLimitConfig:
    private_capacity: float = 3
    private_per_second: float = 1.0
    group_limit: float = 20  # messages in any group_period seconds
    group_period: float = 60.0
    global_capacity: float = 30
    global_per_second: float = 30.0
    group_edit_cost: float = 0.25  # edits in groups count "lightly"


@dataclass
class RateLimiter:
    clock: Callable[[], float]
    config: RateLimitConfig = field(default_factory=RateLimitConfig)
    enabled: bool = True
    _chats: dict[int, Bucket | Window] = field(default_factory=dict)
    _global: Bucket | None = None

    def _bucket(self, chat_id: int, is_group: bool, now: float) -> Bucket | Window:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            c = self.config
            bucket = self._chats[chat_id] = (
                Window(c.group_limit, c.group_period)
                if is_group
                else Bucket(c.private_capacity, c.private_per_second, c.private_capacity, now)
            )
        return bucket

    def acquire(self, chat_id: int, *, is_group: bool, cost: float = 1.0) -> int | None:
        """Consume tokens for one message; returns ``retry_after`` seconds if the call must be refused."""
        if not self.enabled:
            return None
        now = self.clock()
        if self._global is None:
            c = self.config
            self._global = Bucket(c.global_capacity, c.global_per_second, c.global_capacity, now)
        chat_bucket = self._bucket(chat_id, is_group, now)
        wait = max(chat_bucket.wait_time(now, cost), self._global.wait_time(now, cost))
        if wait > 0:
            return max(1, math.ceil(wait))
        chat_bucket.take(now, cost)
        self._global.take(now, cost)
        return None

    def reset(self) -> None:
        self._chats.clear()
        self._global = None
