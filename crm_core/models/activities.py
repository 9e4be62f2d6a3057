"""Activities ("дела"), their reminders, per-pipeline reminder defaults, and tasks.

Items are referenced polymorphically by (owner_type, owner_id): owner_type holds an ItemType value
("lead", "deal", "contact", "company"); there is no FK because the owner lives in one of four tables.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base, TimestampMixin
from crm_core.models.items import ItemType, item_type_column


def str_enum(cls: type[enum.Enum], name: str, length: int = 24) -> Enum:
    # Stored as plain strings (no native PG enum) so adding a value needs no type migration.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


class ActivityType(enum.StrEnum):
    CALL = "call"
    MEETING = "meeting"
    TASK = "task"
    EMAIL = "email"
    MESSAGE = "message"
    UNIVERSAL = "universal"


class ActivityDirection(enum.StrEnum):
    INCOMING = "incoming"  # created by an incoming message/email
    PLANNED = "planned"


class Activity(Base, TimestampMixin):
    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int] = mapped_column(Integer)
    type: Mapped[ActivityType] = mapped_column(
        str_enum(ActivityType, "activity_type"), default=ActivityType.CALL
    )
    subject: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # Always set: an incoming activity is due when it arrives (as Bitrix24 does).
    deadline: Mapped[datetime]
    responsible_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    direction: Mapped[ActivityDirection] = mapped_column(
        str_enum(ActivityDirection, "activity_direction", 16), default=ActivityDirection.PLANNED
    )
    completed: Mapped[bool] = mapped_column(default=False)
    completed_at: Mapped[datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Explicit per-activity reminder offsets (minutes before the deadline); None = use defaults.
    reminder_offsets: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))

    __table_args__ = (
        # "What needs to be done" of an item and the counters' join (open activities of an owner).
        Index("ix_activities_owner_open_deadline", "owner_type", "owner_id", "completed", "deadline"),
        # A user's own activities (calendar, "my activities").
        Index("ix_activities_responsible_open_deadline", "responsible_id", "completed", "deadline"),
    )

    @property
    def is_open(self) -> bool:
        return not self.completed


class ReminderKind(enum.StrEnum):
    REMINDER = "reminder"  # offset_minutes before the deadline
    OVERDUE = "overdue"  # once, when the deadline passes while the activity is still open


class ReminderState(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    CANCELLED = "cancelled"


class ActivityReminder(Base):
    __tablename__ = "activity_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[ReminderKind] = mapped_column(
        str_enum(ReminderKind, "reminder_kind", 16), default=ReminderKind.REMINDER
    )
    offset_minutes: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    state: Mapped[ReminderState] = mapped_column(
        str_enum(ReminderState, "reminder_state", 16), default=ReminderState.PENDING
    )
    claimed_until: Mapped[datetime | None]  # lease: after it, another worker may re-claim
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    # Claimed well after due_at (the scheduler was down): the sender may say so.
    late: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_activity_reminders_state_due_at", "state", "due_at"),)


class PipelineReminderDefault(Base):
    """Default reminder offsets of activities on items of one pipeline."""

    __tablename__ = "pipeline_reminder_defaults"

    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    offsets: Mapped[list[int]] = mapped_column(JSON)


class TaskStatus(enum.StrEnum):
    NEW = "new"  # created, not viewed by the responsible yet
    VIEWED = "viewed"
    IN_PROGRESS = "in_progress"
    WAITING = "waiting"  # paused
    AWAITING_CONTROL = "awaiting_control"
    DEADLINE_CHANGED = "deadline_changed"
    HAS_RESULT = "has_result"
    OVERDUE = "overdue"
    COMPLETED = "completed"


class Task(Base, TimestampMixin):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="")
    responsible_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deadline: Mapped[datetime | None]
    status: Mapped[TaskStatus] = mapped_column(str_enum(TaskStatus, "task_status"), default=TaskStatus.NEW)
    status_changed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_tasks_owner", "owner_type", "owner_id", "status"),
        Index("ix_tasks_responsible_status_deadline", "responsible_id", "status", "deadline"),
        # The scheduler's overdue sweep: open tasks by deadline.
        Index("ix_tasks_status_deadline", "status", "deadline"),
    )
