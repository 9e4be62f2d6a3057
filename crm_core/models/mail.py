"""Email: connected mailboxes, the letters sent and received through them, and their attachments."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base, TimestampMixin
from crm_core.models.items import ItemType, item_type_column, str_enum


class TlsMode(enum.StrEnum):
    SSL = "ssl"  # TLS from the first byte (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"  # plain, then STARTTLS (IMAP 143, submission 587)
    NONE = "none"  # no encryption (a server on the same host or in a test)


class LetterDirection(enum.StrEnum):
    IN = "in"
    OUT = "out"


class Mailbox(Base, TimestampMixin):
    """A connected box: the team's (owner_id NULL, connected by an admin) or one person's."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Who answers letters nobody else owns: new leads from unknown senders of a team box are theirs.
    responsible_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    address: Mapped[str] = mapped_column(String(255))
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int] = mapped_column(Integer)
    imap_tls: Mapped[TlsMode] = mapped_column(str_enum(TlsMode, "mail_tls", 8))
    smtp_host: Mapped[str] = mapped_column(String(255))
    smtp_port: Mapped[int] = mapped_column(Integer)
    smtp_tls: Mapped[TlsMode] = mapped_column(str_enum(TlsMode, "mail_tls", 8))
    login: Mapped[str] = mapped_column(String(255))
    password_encrypted: Mapped[str] = mapped_column(Text)
    # A letter from an unknown sender: a new lead (source EMAIL), or the unsorted list.
    unknown_to_lead: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)
    # Reading position: the folder's UIDVALIDITY and the last UID recorded.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    # The server was down: retried with backoff.
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_poll_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class Letter(Base):
    """A letter in or out. owner NULL on an incoming one: unsorted, waiting for an admin."""

    __tablename__ = "mail_letters"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "uidvalidity", "uid", name="uq_mail_letters_position"),
        Index("ix_mail_letters_owner", "owner_type", "owner_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    direction: Mapped[LetterDirection] = mapped_column(str_enum(LetterDirection, "mail_direction", 4))
    message_id: Mapped[str] = mapped_column(String(500), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[str | None] = mapped_column(Text)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int | None] = mapped_column(BigInteger)
    owner_type: Mapped[ItemType | None] = mapped_column(item_type_column())
    owner_id: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="SET NULL"))
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(255), default="")
    to_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # What was cut or could not be read: {"body_cut": true, "too_big": 123, "unparsable": true}.
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Kept only when the letter could not be parsed (shown as such).
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LetterAttachment(Base):
    __tablename__ = "mail_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("mail_letters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    mime: Mapped[str] = mapped_column(String(128), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # NULL when the file was over the size limit: listed, not kept.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
