"""What waits to be sent: a job (one row's messages, or a summary of several rows) on its chat's
lane; each lane sends one message at a time within its chat's bucket."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from scheduler.delivery.limits import Bucket, Window
from scheduler.ports import OutgoingMessage


@dataclass
class Job:
    chat_id: int
    messages: list[OutgoingMessage]
    reminder_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    lease_until: datetime | None = None
    part: int = 0
    failures: int = 0
    label: str = ""
    thread_id: int | None = None  # the forum topic within the chat
    topic_closed: bool | None = None  # not a message: close (True) or reopen (False) the topic

    @property
    def copy(self) -> bool:
        """A best-effort copy (e.g. to an item's group chat): no rows of its own."""
        return not self.reminder_ids and not self.notification_ids


@dataclass
class Lane:
    chat_id: int
    bucket: Bucket | Window  # a group's is a sliding window
    queue: deque[Job] = field(default_factory=deque)
    not_before: float = 0.0  # monotonic; Telegram's retry_after or our backoff
    recorded_until: datetime | None = None  # the shared retry_after this process itself recorded
    busy: bool = False
    scheduled: tuple[float, int] | None = None

    def ready_at(self, now: float) -> float:
        return max(now + self.bucket.wait(now), self.not_before)
