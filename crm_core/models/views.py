"""Saved list filters: a user's named filter (conditions + sort) per item type, one pinned default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint, text
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


class _Totals:
    """Per pipeline, stage, responsible and currency: how many, how many have an amount, and the
    amounts' sum in cents."""

    pipeline_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    stage_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    responsible_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    items: Mapped[int] = mapped_column(default=0)
    amounted: Mapped[int] = mapped_column(default=0)
    amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)


class StageTotal(_Totals, Base):
    """Live (not trashed) leads/deals per pipeline, stage, responsible and currency: how many, how
    many have an amount, and the amounts' sum in cents. Kept by database triggers (migration 0017)
    in the same transaction as every change of a lead or deal; the kanban reads it."""

    __tablename__ = "stage_totals"
    __table_args__ = (Index("ix_stage_totals_responsible", "responsible_id", "pipeline_id"),)


class ObserverTotal(_Totals, Base):
    """Live (not trashed) leads/deals each user observes, per pipeline, stage, responsible and
    currency: how many, how many have an amount, the amounts' sum in cents. Kept by database
    triggers (migration 0020) on the items and on item_observers; a salesperson's kanban reads the
    rows whose responsible is not theirs (stage_totals has those)."""

    __tablename__ = "observer_totals"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
