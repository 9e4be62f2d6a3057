"""Delivery settings and Telegram's rate limits: private chats as token buckets, groups as a sliding
window (Telegram's 20 a minute holds for any minute: a bucket's burst plus its refill would let 23
through), and the bot-wide one as a log of the messages that may still be counted."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta


@dataclass
class DeliveryConfig:
    lease_seconds: float = 60.0
    poll_seconds: float = 5.0
    # Reminders that came due longer ago than this are summarised in one message per person.
    stale_after: timedelta = timedelta(hours=3)
    global_rate: float = 29.0  # messages in any one second, all chats together (whole ones count)
    private_rate: float = 1.0
    private_burst: float = 2.0
    group_rate: float = 20 / 60  # messages a group may get in any group_period: rate * period
    group_period: float = 61.0  # a second over Telegram's minute: arrival jitter
    concurrency: int = 32  # HTTP requests in flight at once
    claim_batch: int = 200
    max_held: int = 1000  # claimed rows held in memory at most (also bounded by the lease)
    max_temporary_failures: int = 4  # then the row goes back to the database with a backoff
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    holds_refresh: float = 1.0  # seconds a read of the chats other processes hold stays current

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


@dataclass
class Window:
    """At most `limit` sends in any `period` seconds (same interface as Bucket)."""

    limit: int
    period: float
    sent: deque[float] = field(default_factory=deque)

    @property
    def rate(self) -> float:
        return self.limit / self.period

    def wait(self, now: float) -> float:
        while self.sent and self.sent[0] <= now - self.period:
            self.sent.popleft()
        if len(self.sent) < self.limit:
            return 0.0
        return self.sent[len(self.sent) - self.limit] + self.period - now

    def take(self, now: float) -> None:
        self.wait(now)
        self.sent.append(now)

    def idle(self, now: float) -> bool:
        """Nothing sent within the period: forgetting the window loses nothing."""
        self.wait(now)
        return not self.sent


class GroupWindows:
    """Each group's window, shared by the engine's lane and whatever else sends to the group (the
    bot's replies there note theirs through `record`): Telegram's 20 a minute counts them all."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self._windows: dict[int, Window] = {}

    def window(self, chat_id: int) -> Window:
        window = self._windows.get(chat_id)
        if window is None:
            if len(self._windows) >= 10_000:  # forget the idle ones now and then
                now = max((w.sent[-1] for w in self._windows.values() if w.sent), default=0.0)
                self._windows = {c: w for c, w in self._windows.items() if not w.idle(now)}
            window = self._windows[chat_id] = Window(self.limit, self.period)
        return window

    def record(self, chat_id: int, now: float) -> None:
        self.window(chat_id).take(now)


@dataclass
class SendLog:
    """At most `limit` messages in any `window` seconds as Telegram counts them, on arrival. A
    message arrives somewhere between being sent and its answer coming back, so it counts from
    when it is taken until `window` after its answer (`done`); while in flight it always counts.
    Pacing by send times alone would let a message delayed on its way (a busy event loop)
    arrive together with the next second's. bot.shared_limits holds the same rule in Redis."""

    limit: int
    window: float = 1.0
    flying: int = 0
    ended: deque[float] = field(default_factory=deque)  # answer times, oldest first
    next_at: float = float("-inf")  # spaced evenly: a whole window's messages at once would
    # arrive in a clump, and the last of the clump would come back (and leave the log) late

    @property
    def spacing(self) -> float:
        return self.window / self.limit

    def wait(self, now: float) -> float:
        while self.ended and self.ended[0] <= now - self.window:
            self.ended.popleft()
        spaced = max(0.0, self.next_at - now)
        if self.flying + len(self.ended) < self.limit:
            return spaced
        # The first answer to leave the log; one still in flight leaves a window after it is back.
        return max(spaced, self.ended[0] + self.window - now if self.ended else self.window)

    def take(self, now: float) -> None:
        self.flying += 1
        # One late message may be followed by the next at once, no more catching up than that.
        behind = self.next_at if self.next_at > float("-inf") else now
        self.next_at = max(behind, now - self.spacing) + self.spacing

    def done(self, now: float) -> None:
        self.flying -= 1
        self.ended.append(now)

    def release(self) -> None:
        """Taken but not sent after all."""
        self.flying -= 1
