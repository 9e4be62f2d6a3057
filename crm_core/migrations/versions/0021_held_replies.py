"""held replies: what an update's handler showed, kept in the update inbox until it is sent

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 01:40:00

A handler's screens are sent after its unit of work has committed, so that the call to Telegram
does not hold the database. The same transaction writes them to the update's row of the update
inbox: a process that dies between the commit and the send leaves the update in the inbox, and
its rerun at the next start, which processed_updates stops from running the handler again, sends
them from there. The row goes when the update has finished, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("update_inbox") as batch:
        batch.add_column(sa.Column("replies", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("update_inbox") as batch:
        batch.drop_column("replies")
