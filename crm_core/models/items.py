"""CRM items (leads, deals, contacts, companies), their pipelines/stages and shared child tables.

Items live in separate tables (like Bitrix24); anything attached to "an item" (observers, phones and
emails, timeline, activities...) uses a polymorphic reference: `owner_type` (ItemType) + `owner_id`.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, synonym

from crm_core.clock import utcnow
from crm_core.models.base import Base


class ItemType(enum.StrEnum):
    LEAD = "lead"
    DEAL = "deal"
    CONTACT = "contact"
    COMPANY = "company"

    @property
    def prefix(self) -> str:
        return _PREFIXES[self]

    @property
    def has_stages(self) -> bool:
        return self in (ItemType.LEAD, ItemType.DEAL)


_PREFIXES = {ItemType.LEAD: "L", ItemType.DEAL: "D", ItemType.CONTACT: "C", ItemType.COMPANY: "CO"}


class StageSemantics(enum.StrEnum):
    PROCESS = "process"
    SUCCESS = "success"
    FAILURE = "failure"


class CommKind(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    TELEGRAM = "telegram"  # a Telegram user id (a client who wrote to the bot or a business chat)


class CommValueType(enum.StrEnum):
    WORK = "work"
    MOBILE = "mobile"
    HOME = "home"
    OTHER = "other"


def str_enum(enum_cls: type[enum.Enum], name: str, length: int = 16) -> Enum:
    """Enum stored as a plain string (no native type, no CHECK): new members need no migration."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [m.value for m in e],
    )


def item_type_column() -> Enum:
    return str_enum(ItemType, "item_type")


# --- pipelines and stages ---------------------------------------------------------------------


class Pipeline(Base):
    """A lead pipeline (exactly one) or a deal pipeline ("воронка", category).

    Its name is data in no language: a seeded pipeline has a `code` the bot names from its
    catalogs; one an admin made or renamed has the literal `name`, shown as typed in every language.
    """

    __tablename__ = "pipelines"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[ItemType] = mapped_column(item_type_column(), index=True)
    code: Mapped[str | None] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(String(200))
    sort: Mapped[int] = mapped_column(default=100)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Stage(Base):
    """A stage of a pipeline. `code` is its stable id within the pipeline (NEW, WON, C12 for one an
    admin added). A stage of the default set has no `name`: the bot names it from its catalogs by
    (`entity_type`, `code`); one an admin added or renamed has the literal `name`, shown as typed in
    every language. `entity_type` is its pipeline's (it never changes), kept here so a stage can be
    named without loading its pipeline (a lead's NEW is "Новый", a deal's "Новая")."""

    __tablename__ = "stages"
    __table_args__ = (Index("ix_stages_pipeline_sort", "pipeline_id", "sort"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    entity_type: Mapped[ItemType] = mapped_column(item_type_column())
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str | None] = mapped_column(String(200))
    sort: Mapped[int] = mapped_column(default=100)
    color: Mapped[str] = mapped_column(String(16), default="#39A8EF")
    semantics: Mapped[StageSemantics] = mapped_column(
        str_enum(StageSemantics, "stage_semantics"), default=StageSemantics.PROCESS
    )


# --- items ------------------------------------------------------------------------------------


class ItemMixin:
    """Columns every item has. `version` is SQLAlchemy's version counter (optimistic concurrency)."""

    ITEM_TYPE: ItemType  # set on each class

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str | None] = mapped_column(String(50))
    comment: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(index=True)

    @declared_attr
    def responsible_id(cls) -> Mapped[int]:
        # Indexed by the ix_*_resp_* indexes it leads (migrations 0004, 0017).
        return mapped_column(ForeignKey("users.id"))

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @declared_attr
    def updated_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @declared_attr
    def deleted_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}

    @property
    def item_type(self) -> ItemType:
        return self.ITEM_TYPE

    @property
    def ref(self) -> str:
        return f"{self.ITEM_TYPE.prefix}-{self.id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class StagedMixin:
    """Leads and deals: on a stage of a pipeline; closed/won follow the stage's semantics."""

    @declared_attr
    def pipeline_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("pipelines.id"))

    @declared_attr
    def stage_id(cls) -> Mapped[int]:
        # Indexed by ix_*_stage_order, which it leads (migration 0004).
        return mapped_column(ForeignKey("stages.id"))

    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed: Mapped[bool] = mapped_column(default=False)
    won: Mapped[bool] = mapped_column(default=False)
    closed_at: Mapped[datetime | None]
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3), default="RUB")
    # Kanban ordering: focused (a reminder fired) first, then the most recent activity.
    last_activity_at: Mapped[datetime | None]
    focused_at: Mapped[datetime | None]

    # leads <-> contacts/companies reference each other: the lead side is added after the tables.
    @declared_attr
    def contact_id(cls) -> Mapped[int | None]:
        fk = ForeignKey("contacts.id", ondelete="SET NULL", use_alter=cls.__name__ == "Lead")
        return mapped_column(fk, index=True)

    @declared_attr
    def company_id(cls) -> Mapped[int | None]:
        fk = ForeignKey("companies.id", ondelete="SET NULL", use_alter=cls.__name__ == "Lead")
        return mapped_column(fk, index=True)


class Lead(ItemMixin, StagedMixin, Base):
    __tablename__ = "leads"
    __table_args__ = (Index("ix_leads_board", "pipeline_id", "stage_id", "deleted_at"),)
    ITEM_TYPE = ItemType.LEAD

    title: Mapped[str] = mapped_column(String(255), default="")
    name: Mapped[str | None] = mapped_column(String(100))
    second_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company_title: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[str | None] = mapped_column(String(255))
    is_return_customer: Mapped[bool] = mapped_column(default=False)
    # Bitrix24 calls the lead's expected amount "opportunity".
    opportunity = synonym("amount")

    @property
    def display_name(self) -> str:
        return self.title or " ".join(p for p in (self.name, self.last_name) if p) or self.ref


class Deal(ItemMixin, StagedMixin, Base):
    __tablename__ = "deals"
    __table_args__ = (Index("ix_deals_board", "pipeline_id", "stage_id", "deleted_at"),)
    ITEM_TYPE = ItemType.DEAL

    title: Mapped[str] = mapped_column(String(255), default="")
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    begin_date: Mapped[date | None] = mapped_column(Date)
    close_date: Mapped[date | None] = mapped_column(Date, index=True)

    @property
    def display_name(self) -> str:
        return self.title or self.ref


contact_companies = Table(
    "contact_companies",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Contact(ItemMixin, Base):
    __tablename__ = "contacts"
    ITEM_TYPE = ItemType.CONTACT

    name: Mapped[str | None] = mapped_column(String(100), index=True)
    second_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100), index=True)
    position: Mapped[str | None] = mapped_column(String(255))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)

    @property
    def title(self) -> str:
        return " ".join(p for p in (self.name, self.second_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        return self.title or self.ref


class Company(ItemMixin, Base):
    __tablename__ = "companies"
    ITEM_TYPE = ItemType.COMPANY

    title: Mapped[str] = mapped_column(String(255), default="", index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)

    @property
    def display_name(self) -> str:
        return self.title or self.ref


ITEM_MODELS: dict[ItemType, type[Lead] | type[Deal] | type[Contact] | type[Company]] = {
    ItemType.LEAD: Lead,
    ItemType.DEAL: Deal,
    ItemType.CONTACT: Contact,
    ItemType.COMPANY: Company,
}

AnyItem = Lead | Deal | Contact | Company


# --- shared child tables (polymorphic owner) --------------------------------------------------


class Communication(Base):
    """A phone or an email of an item: the value as typed and its normalised form for search."""

    __tablename__ = "communications"
    __table_args__ = (Index("ix_communications_lookup", "kind", "normalized"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int]
    kind: Mapped[CommKind] = mapped_column(str_enum(CommKind, "comm_kind", 8))
    value: Mapped[str] = mapped_column(String(255))
    normalized: Mapped[str] = mapped_column(String(255))
    value_type: Mapped[CommValueType] = mapped_column(
        str_enum(CommValueType, "comm_value_type", 8), default=CommValueType.WORK
    )
    sort: Mapped[int] = mapped_column(default=0)


class ItemObserver(Base):
    __tablename__ = "item_observers"
    __table_args__ = (Index("ix_item_observers_user", "user_id", "owner_type", "owner_id"),)

    owner_type: Mapped[ItemType] = mapped_column(item_type_column(), primary_key=True)
    owner_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Copies of the item's list columns, written only by the database's triggers (migration 0024),
    # so that a user's observed items are read in a list's order from an index.
    item_responsible_id: Mapped[int | None] = mapped_column()
    item_deleted_at: Mapped[datetime | None] = mapped_column()
    item_created_at: Mapped[datetime | None] = mapped_column()
    item_updated_at: Mapped[datetime | None] = mapped_column()
    item_stage_id: Mapped[int | None] = mapped_column()
    item_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    item_focused_at: Mapped[datetime | None] = mapped_column()
    item_last_activity_at: Mapped[datetime | None] = mapped_column()


class StageHistory(Base):
    """Each stay of a lead/deal on a stage: entered, left (null while it is there), who moved it."""

    __tablename__ = "stage_history"
    __table_args__ = (
        Index("ix_stage_history_owner", "owner_type", "owner_id", "entered_at"),
        Index("ix_stage_history_stage", "stage_id", "entered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[ItemType] = mapped_column(item_type_column())
    owner_id: Mapped[int]
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RequiredField(Base):
    """A field that must be filled for an item type (deal fields may be per pipeline)."""

    __tablename__ = "required_fields"
    __table_args__ = (UniqueConstraint("item_type", "pipeline_id", "field", name="uq_required_fields_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_type: Mapped[ItemType] = mapped_column(item_type_column())
    # Null: for every pipeline of that type.
    pipeline_id: Mapped[int | None] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(64))


__all__ = [
    "AnyItem",
    "CommKind",
    "CommValueType",
    "Communication",
    "Company",
    "Contact",
    "Deal",
    "ITEM_MODELS",
    "ItemMixin",
    "ItemObserver",
    "ItemType",
    "Lead",
    "Pipeline",
    "RequiredField",
    "Stage",
    "StageHistory",
    "StageSemantics",
    "contact_companies",
]
