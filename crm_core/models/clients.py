"""Client conversations: the bot as an open line (clients who write to the bot) and Telegram
Business (a salesperson's own chats, through a business connection).

A conversation (`ClientChat`) is one chat on one channel: "bot" for the bot's own private chats,
"biz:<connection id>" for a chat of a connected business account. Every logged message has a
unique key (channel, chat id, message id), so a redelivered update is logged once.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base
from crm_core.models.items import ItemType, item_type_column, str_enum

BOT_CHANNEL = "bot"


class RoutingRule(enum.StrEnum):
    FIXED = "fixed"  # every new client goes to one person
    ROUND_ROBIN = "round_robin"  # in turn among the salespeople on duty


class ClientChannel(Base):
    """The open line's settings: one row (id 1), changed by admins in /admin."""

    __tablename__ = "client_channel"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(default=False)
    greeting_en: Mapped[str] = mapped_column(Text, default="")
    greeting_ru: Mapped[str] = mapped_column(Text, default="")
    rule: Mapped[RoutingRule] = mapped_column(
        str_enum(RoutingRule, "routing_rule"), default=RoutingRule.ROUND_ROBIN
    )
    fixed_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A new conversation nobody took within this many minutes passes to the next person on duty.
    queue_minutes: Mapped[int] = mapped_column(Integer, default=10)
    # Round-robin cursor: the last person a new client was given to.
    last_routed_user_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ClientDuty(Base):
    """A salesperson on duty: new clients are shared among them in turn."""

    __tablename__ = "client_duty"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)


class ClientChat(Base):
    __tablename__ = "client_chats"
    __table_args__ = (
        UniqueConstraint("channel", "chat_id", name="uq_client_chats_channel_chat"),
        Index("ix_client_chats_owner", "owner_type", "owner_id"),
        Index("ix_client_chats_queue", "accepted", "routed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    business_connection_id: Mapped[str | None] = mapped_column(String(100))
    full_name: Mapped[str] = mapped_column(String(300), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    # The item the conversation is logged on (a lead or a deal), and its client contact if any.
    owner_type: Mapped[ItemType | None] = mapped_column(item_type_column(), nullable=True)
    owner_id: Mapped[int | None] = mapped_column(Integer)
    contact_id: Mapped[int | None] = mapped_column(Integer)
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    activity_id: Mapped[int | None] = mapped_column(Integer)  # the open incoming activity
    accepted: Mapped[bool] = mapped_column(default=True)  # taken by the responsible (queue)
    routed_at: Mapped[datetime | None]
    tried_user_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    last_incoming_at: Mapped[datetime | None]
    unreachable: Mapped[bool] = mapped_column(default=False)
    do_not_log: Mapped[bool] = mapped_column(default=False)
    greeted: Mapped[bool] = mapped_column(default=False)
    # Flood control: messages in the current window, and whether the client was told to slow down.
    window_start: Mapped[datetime | None]
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    slowed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageDirection(enum.StrEnum):
    IN = "in"  # from the client
    OUT = "out"  # to the client (a reply through the bot, or the salesperson's own message)


class ClientMessage(Base):
    """One Telegram message of a conversation, logged once (the unique key)."""

    __tablename__ = "client_messages"
    __table_args__ = (UniqueConstraint("channel", "chat_id", "message_id", name="uq_client_messages_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_chat_id: Mapped[int] = mapped_column(ForeignKey("client_chats.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(100))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    direction: Mapped[MessageDirection] = mapped_column(str_enum(MessageDirection, "message_direction", 8))
    kind: Mapped[str] = mapped_column(String(16), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    file_id: Mapped[str | None] = mapped_column(String(255))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class BusinessConnection(Base):
    """A Telegram Business account connected to the bot (Business -> Chatbots)."""

    __tablename__ = "business_connections"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    telegram_user_id: Mapped[int] = mapped_column(BigInteger)
    user_chat_id: Mapped[int] = mapped_column(BigInteger)
    can_reply: Mapped[bool] = mapped_column(default=False)
    rights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
