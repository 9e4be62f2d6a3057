"""Web forms: a key a website posts leads to, and the submissions it received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.clock import utcnow
from crm_core.models.base import Base


class WebForm(Base):
    """A form key: `POST /forms/<key>` creates a lead given to `responsible_id`. Revoked keys stay
    (their submissions keep pointing at them) but answer 404."""

    __tablename__ = "web_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # None: leads go by the client channel's routing rule (crm_core.services.routing).
    responsible_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class FormSubmission(Base):
    """One accepted submission: which form made which lead, from where, with its UTM tags."""

    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_form_created", "form_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("web_forms.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    address: Mapped[str | None] = mapped_column(String(64))
    utm: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
