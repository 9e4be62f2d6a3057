"""web forms: form keys a website posts leads to, and their submissions (with UTM tags)

Revision ID: 0010
Revises: 0006
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("responsible_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["responsible_id"], ["users.id"], name=op.f("fk_web_forms_responsible_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_web_forms_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_forms")),
        sa.UniqueConstraint("key", name=op.f("uq_web_forms_key")),
    )
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("utm", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["web_forms.id"],
            name=op.f("fk_form_submissions_form_id_web_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_form_submissions_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
    )
    op.create_index("ix_form_submissions_form_created", "form_submissions", ["form_id", "created_at"])
    op.create_index(op.f("ix_form_submissions_lead_id"), "form_submissions", ["lead_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_form_submissions_lead_id"), table_name="form_submissions")
    op.drop_index("ix_form_submissions_form_created", table_name="form_submissions")
    op.drop_table("form_submissions")
    op.drop_table("web_forms")
