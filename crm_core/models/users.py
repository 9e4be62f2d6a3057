"""People who use the CRM: users, departments, invites."""

from __future__ import annotations

import enum
from datetime import datetime, time

from sqlalchemy import JSON, BigInteger, Enum, ForeignKey, String, Text, Time, false, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.models.base import Base, TimestampMixin

DEFAULT_REMINDER_OFFSETS = [0, 15]


class Role(enum.StrEnum):
    ADMIN = "admin"
    HEAD = "head"  # head of department: sees the department's items
    SALESPERSON = "salesperson"


def role_column() -> Enum:
    return Enum(
        Role, name="user_role", native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
    )


class Department(Base, TimestampMixin):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class User(Base, TimestampMixin):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    full_name: Mapped[str] = mapped_column(String(300), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    # "ru" or "en"; taken from Telegram's language_code until the user picks one.
    language: Mapped[str] = mapped_column(String(8), default="en")
    language_chosen: Mapped[bool] = mapped_column(default=False)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    role: Mapped[Role] = mapped_column(role_column(), default=Role.SALESPERSON)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    is_active: Mapped[bool] = mapped_column(default=True)
    reminder_offsets: Mapped[list[int]] = mapped_column(JSON, default=lambda: list(DEFAULT_REMINDER_OFFSETS))
    digest_time: Mapped[time] = mapped_column(Time, default=time(9, 0))
    digest_workdays_only: Mapped[bool] = mapped_column(default=True)
    # Heads and admins: a weekly digest on Mondays at digest_time, with the funnel picture or not.
    weekly_digest: Mapped[bool] = mapped_column(default=False, server_default=false())
    weekly_funnel: Mapped[bool] = mapped_column(default=True, server_default=true())
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    department: Mapped[Department | None] = relationship(lazy="raise")

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def __repr__(self) -> str:
        return f"User(id={self.id}, tg={self.telegram_id}, role={self.role})"


class Invite(Base, TimestampMixin):
    """A single-use, expiring code that lets one person in with a role."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(role_column(), default=Role.SALESPERSON)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(default=False)


class ProcessedUpdate(Base):
    """Telegram update ids already handled, so a redelivered update is not processed twice."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime]


class UpdateInbox(Base):
    """Updates read by long polling, kept from the moment they are confirmed to Telegram until
    their handler has finished: a process stopped or killed meanwhile runs them at its next start."""

    __tablename__ = "update_inbox"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    body: Mapped[str] = mapped_column(Text)  # the update's JSON as Telegram sent it
    received_at: Mapped[datetime]
    # What its handler showed (JSON of Bot API calls), sent after the commit: a rerun of an update
    # whose process died before sending them sends them from here (handlers.held_replies).
    replies: Mapped[str | None] = mapped_column(Text)


class CacheVersion(Base):
    """One row: a counter that database triggers (migration 0019) bump on every change of a table
    crm_core.cache keeps rows of (users, departments, pipelines, stages, required fields)."""

    __tablename__ = "cache_versions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger)
