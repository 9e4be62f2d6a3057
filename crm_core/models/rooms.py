"""Deal rooms: a Telegram group, or a topic of the team's forum, bound to one lead or deal.

One item has at most one room (unique owner); a plain group is bound to at most one item (checked
by the service: topics of one forum share its chat id). A binding token is what a startgroup deep
link carries: single-use, expiring, never the bare item id.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base
from crm_core.models.items import ItemType, item_type_column, str_enum

# What may have a room: binding refuses anything else, so no other item is looked up for one.
ROOM_ITEMS = (ItemType.LEAD, ItemType.DEAL)


class RoomKind(enum.StrEnum):
    GROUP = "group"  # a group or supergroup of its own
    TOPIC = "topic"  # a topic of the team's forum


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", name="uq_rooms_owner"),
        Index("ix_rooms_chat", "chat_id", "thread_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int]
    kind: Mapped[RoomKind] = mapped_column(str_enum(RoomKind, "room_kind", 16))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)  # the topic, in a forum
    title: Mapped[str] = mapped_column(String(128), default="")
    bound_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    language: Mapped[str] = mapped_column(String(8), default="en")  # what the room is spoken to in
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    reminders: Mapped[bool] = mapped_column(default=False)  # opted in to the item's reminders
    log_messages: Mapped[bool] = mapped_column(default=False)  # plain messages go to the timeline
    closed: Mapped[bool] = mapped_column(default=False)  # a topic closed with a won/lost item
    feed_batch: Mapped[int] = mapped_column(Integer, default=0)  # the event summary being filled
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoomToken(Base):
    """What a startgroup link carries: who may bind which item, once, until it expires."""

    __tablename__ = "room_tokens"

    token: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TeamForum(Base):
    """The forum supergroup an admin registered with /setforum: rooms there are its topics."""

    __tablename__ = "team_forums"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    title: Mapped[str] = mapped_column(String(128), default="")
    registered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
