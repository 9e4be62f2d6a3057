"""Notification outbox: rows written in the same transaction as the change that causes them,
delivered later by the scheduler (claim -> send -> mark), so a rollback never notifies anyone."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.activities import str_enum
from crm_core.models.base import Base


class NotificationCategory(enum.StrEnum):
    RESPONSIBLE_ASSIGNED = "responsible_assigned"
    OBSERVER_ADDED = "observer_added"
    MENTIONED = "mentioned"
    TASK_ASSIGNED = "task_assigned"
    TASK_STATUS_CHANGED = "task_status_changed"
    LEAD_ASSIGNED = "lead_assigned"
    REMINDER = "reminder"
    OVERDUE = "overdue"
    DIGEST = "digest"
    WEEKLY_DIGEST = "weekly_digest"  # heads and admins, on Mondays
    COMMENT_ADDED = "comment_added"
    ACTIVITY_ASSIGNED = "activity_assigned"
    ROOM_EVENT = "room_event"  # an item's events, to its room (the chat is in the payload)
    ROOM_INVITE = "room_invite"  # an invite link to an item's room
    ROOM_TOPIC = "room_topic"  # close or reopen an item's forum topic (no message)
    OTHER = "other"


class NotificationState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"  # gave up after too many attempts (or the user blocked the bot)
    CANCELLED = "cancelled"


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Free string (known values in NotificationCategory) so new categories need no migration.
    category: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Not before this instant (a retry after a failure backs off by moving it).
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[NotificationState] = mapped_column(
        str_enum(NotificationState, "notification_state", 16), default=NotificationState.PENDING
    )
    claimed_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)

    __table_args__ = (Index("ix_notifications_state_available_at", "state", "available_at"),)


class UserMutedCategory(Base):
    """A user chose not to receive notifications of a category."""

    __tablename__ = "user_muted_categories"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
