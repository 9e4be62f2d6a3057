"""views: saved filters; indexes for kanban, list filters/sorts and search

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 08:51:30.894319

The indexes are written as SQL per dialect: PostgreSQL gets DESC NULLS LAST keys (the order the
kanban column uses) and text_pattern_ops for prefix LIKE on lower(title); SQLite's DESC already
puts NULLs last. They are declared here only (the item models belong to crm_core.models.items).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, PostgreSQL key list, SQLite key list)
INDEXES: list[tuple[str, str, str, str]] = []
for _t in ("deals", "leads"):
    INDEXES += [
        # A kanban column page: focused first (newest focus), then latest activity, then id.
        (
            f"ix_{_t}_stage_order",
            _t,
            "stage_id, focused_at DESC NULLS LAST, last_activity_at DESC NULLS LAST, id DESC",
            "stage_id, focused_at, last_activity_at, id",
        ),
        # Kanban counts and sums in one GROUP BY, covered by the index (admin / own items).
        (
            f"ix_{_t}_kanban",
            _t,
            "pipeline_id, deleted_at, stage_id, currency, amount",
            "pipeline_id, deleted_at, stage_id, currency, amount",
        ),
        (
            f"ix_{_t}_resp_kanban",
            _t,
            "responsible_id, pipeline_id, deleted_at, stage_id, currency, amount",
            "responsible_id, pipeline_id, deleted_at, stage_id, currency, amount",
        ),
        # List sorts / range filters (id is the keyset tiebreaker).
        (f"ix_{_t}_amount", _t, "amount, id", "amount, id"),
        (f"ix_{_t}_updated_at", _t, "updated_at, id", "updated_at, id"),
        (f"ix_{_t}_resp_created", _t, "responsible_id, created_at, id", "responsible_id, created_at, id"),
        (f"ix_{_t}_title", _t, "title, id", "title, id"),
        (f"ix_{_t}_lower_title", _t, "lower(title) text_pattern_ops", "lower(title)"),
    ]
INDEXES += [
    ("ix_contacts_lower_name", "contacts", "lower(name) text_pattern_ops", "lower(name)"),
    ("ix_contacts_lower_last_name", "contacts", "lower(last_name) text_pattern_ops", "lower(last_name)"),
    ("ix_contacts_updated_at", "contacts", "updated_at, id", "updated_at, id"),
    (
        "ix_contacts_resp_created",
        "contacts",
        "responsible_id, created_at, id",
        "responsible_id, created_at, id",
    ),
    ("ix_companies_lower_title", "companies", "lower(title) text_pattern_ops", "lower(title)"),
    ("ix_companies_updated_at", "companies", "updated_at, id", "updated_at, id"),
    (
        "ix_companies_resp_created",
        "companies",
        "responsible_id, created_at, id",
        "responsible_id, created_at, id",
    ),
    # Digits-only partial phone search and the phone/email list filters by owner.
    (
        "ix_communications_owner_kind",
        "communications",
        "owner_type, owner_id, kind, normalized",
        "owner_type, owner_id, kind, normalized",
    ),
]


def upgrade() -> None:
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "item_type",
            sa.Enum("lead", "deal", "contact", "company", name="item_type", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("sort", sa.JSON(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_saved_filters_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_filters")),
        sa.UniqueConstraint("user_id", "item_type", "name", name="uq_saved_filters_user_type_name"),
    )
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.create_index(
            "ux_saved_filters_default",
            ["user_id", "item_type"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    pg = op.get_bind().dialect.name == "postgresql"
    for name, table, pg_keys, sqlite_keys in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {table} ({pg_keys if pg else sqlite_keys})")


def downgrade() -> None:
    for name, _table, _pg, _sqlite in reversed(INDEXES):
        op.execute(f"DROP INDEX {name}")
    with op.batch_alter_table("saved_filters", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_saved_filters_default",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    op.drop_table("saved_filters")
