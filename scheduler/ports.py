"""The scheduler's view of Telegram: a small port that bot/ implements."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"
    RETRY_AFTER = "retry_after"  # rate limited: try this chat again after `retry_after` seconds
    TEMPORARY = "temporary"  # network or 5xx: retry with backoff
    UNDELIVERABLE = "undeliverable"  # blocked, kicked, chat gone: stop trying
    MIGRATED = "migrated"  # group became a supergroup: resend to `migrate_to_chat_id`
    REJECTED = "rejected"  # the request itself is bad (400): retrying will not help


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status: DeliveryStatus
    message_id: int | None = None
    retry_after: float | None = None
    migrate_to_chat_id: int | None = None
    detail: str = ""


class MessageSender(Protocol):
    async def send(
        self, chat_id: int, html: str, *, buttons: list[list[dict[str, Any]]] | None = None
    ) -> DeliveryResult:
        """Send one HTML message; `buttons` rows of {"text", "callback_data"|"url"}."""
        ...
