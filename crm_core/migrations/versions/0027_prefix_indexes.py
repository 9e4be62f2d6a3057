"""indexes: drop the ten that are a leading part of another index

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 06:00:00

Each index here reads nothing its wider neighbour cannot: a lookup or a foreign-key check on
`stage_id` uses ix_*_stage_order (stage_id, focused_at, last_activity_at, id), one on
`responsible_id` any of the ix_*_resp_* indexes, a communication's owner ix_communications_owner_kind,
a mailbox's letters uq_mail_letters_position. Yet every insert, stage move and reassignment wrote
each of them, on SQLite a b-tree page (and its WAL frame) apiece.

Nothing here may be imported by the application (a migration is frozen).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index, table, columns), as 0002 and 0013 created them.
DROPPED = (
    ("ix_leads_stage_id", "leads", ["stage_id"]),
    ("ix_leads_focus", "leads", ["stage_id", "focused_at", "last_activity_at"]),
    ("ix_leads_responsible_id", "leads", ["responsible_id"]),
    ("ix_deals_stage_id", "deals", ["stage_id"]),
    ("ix_deals_focus", "deals", ["stage_id", "focused_at", "last_activity_at"]),
    ("ix_deals_responsible_id", "deals", ["responsible_id"]),
    ("ix_companies_responsible_id", "companies", ["responsible_id"]),
    ("ix_contacts_responsible_id", "contacts", ["responsible_id"]),
    ("ix_communications_owner", "communications", ["owner_type", "owner_id"]),
    ("ix_mail_letters_mailbox_id", "mail_letters", ["mailbox_id"]),
)


def upgrade() -> None:
    for name, table, _columns in DROPPED:
        op.drop_index(name, table_name=table, if_exists=True)


def downgrade() -> None:
    for name, table, columns in DROPPED:
        op.create_index(name, table, columns, if_not_exists=True)
