"""Delivery state per Telegram chat, shared by every bot process through the database.

A chat that blocked the bot (403) is marked undeliverable so no process keeps trying; a chat that
answered 429 gets `not_before` so another process does not send to it earlier either; a group
upgraded to a supergroup remembers where it went.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base


class ChatDelivery(Base):
    __tablename__ = "chat_delivery"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    undeliverable: Mapped[bool] = mapped_column(default=False)
    undeliverable_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(String(200))
    # Telegram's retry_after for this chat: nobody sends to it before this instant.
    not_before: Mapped[datetime | None]
    migrated_to: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
