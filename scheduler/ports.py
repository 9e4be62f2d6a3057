"""The scheduler's view of Telegram: a small port that bot/ implements."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
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
        self,
        chat_id: int,
        html: str,
        *,
        buttons: list[list[dict[str, Any]]] | None = None,
        thread_id: int | None = None,
    ) -> DeliveryResult:
        """Send one HTML message; `buttons` rows of {"text", "callback_data"|"url"}; `thread_id`
        a forum topic (passed only when there is one)."""
        ...

    async def set_topic_state(self, chat_id: int, thread_id: int, *, closed: bool) -> DeliveryResult:
        """Close or reopen a forum topic; a topic already in that state is SENT (done)."""
        ...


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One rendered message: HTML text and inline buttons ({"text", "callback_data"|"url"})."""

    html: str
    buttons: list[list[dict[str, Any]]] | None = None
    photo: bytes | None = None  # a picture (PNG) sent with `html` as its caption


class PhotoSender(Protocol):
    """A MessageSender that also sends pictures (the weekly digest's funnel)."""

    async def send_photo(
        self,
        chat_id: int,
        photo: bytes,
        caption_html: str,
        *,
        buttons: list[list[dict[str, Any]]] | None = None,
        thread_id: int | None = None,
    ) -> DeliveryResult: ...


class NotificationRenderer(Protocol):
    """Turns reminders and outbox notifications into messages in the recipient's language and
    timezone. Implemented by the presentation layer (handlers/), wired in by bot/; it may read
    the database through the session it is given and must not write."""

    async def reminder(
        self,
        session: Any,
        reminder: Any,
        activity: Any,
        user: Any,
        *,
        now: datetime,
        overdue_too: bool = False,
    ) -> OutgoingMessage | None:
        """A reminder (kind reminder or overdue) of `activity` for `user`; None = nothing to send
        (e.g. the item went to the trash)."""
        ...

    async def stale_summary(
        self, session: Any, user: Any, items: list[tuple[Any, Any]], *, now: datetime
    ) -> OutgoingMessage:
        """One message for many (reminder, activity) pairs that came due long ago."""
        ...

    async def notification(
        self, session: Any, notification: Any, user: Any, *, now: datetime
    ) -> list[OutgoingMessage]:
        """An outbox notification (events, digest); several messages when it is long; [] = skip."""
        ...


class ItemChats(Protocol):
    """Group chats bound to an item (deal rooms). A reminder also goes there."""

    async def chats_for_item(self, session: Any, owner_type: str, owner_id: int) -> list[int]: ...


class NoItemChats:
    """Until group chats exist, no item has one."""

    async def chats_for_item(self, session: Any, owner_type: str, owner_id: int) -> list[int]:
        return []
