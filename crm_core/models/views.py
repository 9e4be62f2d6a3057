"""Saved list filters: a user's named filter (conditions + sort) per item type, one pinned default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, TimestampMixin
from crm_core.models.items import ItemType, item_type_column


class SavedFilter(Base, TimestampMixin):
    __tablename__ = "saved_filters"
    __table_args__ = (
        UniqueConstraint("user_id", "item_type", "name", name="uq_saved_filters_user_type_name"),
        # At most one pinned default per user and item type, enforced by the database too.
        Index(
            "ux_saved_filters_default",
            "user_id",
            "item_type",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    item_type: Mapped[ItemType] = mapped_column(item_type_column())
    name: Mapped[str] = mapped_column(String(100))
    # [{"field": ..., "op": ..., "value": ...}, ...] and [[field, "asc"|"desc"], ...]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    sort: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
