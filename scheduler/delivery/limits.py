"""Delivery settings and Telegram's rate limits as token buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass
class DeliveryConfig:
    lease_seconds: float = 60.0
    poll_seconds: float = 5.0
    # Reminders that came due longer ago than this are summarised in one message per person.
    stale_after: timedelta = timedelta(hours=3)
    global_rate: float = 28.0  # messages per second, all chats together
    global_burst: float = 10.0
    private_rate: float = 1.0
    private_burst: float = 2.0
    group_rate: float = 20 / 60
    group_burst: float = 3.0
    concurrency: int = 32  # HTTP requests in flight at once
    claim_batch: int = 200
    max_held: int = 1000  # claimed rows held in memory at most (also bounded by the lease)
    max_temporary_failures: int = 4  # then the row goes back to the database with a backoff
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @property
    def send_timeout(self) -> float:
        return max(1.0, min(30.0, self.lease_seconds * 0.5))

    @property
    def capacity(self) -> int:
        # Never hold more than can be sent in half a lease.
        return max(10, min(self.max_held, int(self.global_rate * self.lease_seconds * 0.5)))


@dataclass
class Bucket:
    capacity: float
    rate: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, now: float) -> float:
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> None:
        self.refill(now)
        self.tokens -= 1
