"""Timeline: the history of an item (newest first), one row per event, polymorphic owner."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base
from crm_core.models.items import ItemType, item_type_column, str_enum


class EventType(enum.StrEnum):
    CREATED = "created"
    STAGE_CHANGED = "stage_changed"
    FIELD_CHANGED = "field_changed"
    RESPONSIBLE_CHANGED = "responsible_changed"
    OBSERVER_ADDED = "observer_added"
    OBSERVER_REMOVED = "observer_removed"
    LINK_ADDED = "link_added"
    LINK_REMOVED = "link_removed"
    CONVERTED = "converted"
    DELETED = "deleted"
    RESTORED = "restored"
    ACTIVITY_CREATED = "activity_created"
    ACTIVITY_CHANGED = "activity_changed"
    ACTIVITY_COMPLETED = "activity_completed"
    COMMENT_ADDED = "comment_added"
    COMMENT_EDITED = "comment_edited"
    COMMENT_DELETED = "comment_deleted"
    TASK_CREATED = "task_created"
    TASK_STATUS_CHANGED = "task_status_changed"
    TASK_DEADLINE_CHANGED = "task_deadline_changed"
    MESSAGE_IN = "message_in"
    MESSAGE_OUT = "message_out"
    FILE_ATTACHED = "file_attached"
    ROOM_BOUND = "room_bound"
    ROOM_UNBOUND = "room_unbound"


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_events_owner", "owner_type", "owner_id", "created_at"),
        Index("ix_timeline_events_pinned", "owner_type", "owner_id", "pinned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int]
    # Stored as a string without a CHECK: adding an event type needs no migration.
    event_type: Mapped[EventType] = mapped_column(str_enum(EventType, "timeline_event_type", 40))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pinned: Mapped[bool] = mapped_column(default=False)
    pinned_at: Mapped[datetime | None]
