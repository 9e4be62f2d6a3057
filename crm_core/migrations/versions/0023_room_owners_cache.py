"""cache versions: bumped also when a room is bound to an item or unbound

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-02 18:40:00

Every timeline event of a lead or deal asked the database whether the item has a room (its group
or forum topic), and nearly none has. crm_core.cache now keeps which items have one, under
`cache_versions.n` as it keeps stages; so n is bumped when a room is created or deleted, or moves to
another item. A room's other columns (its pinned card, its settings) change often and leave n alone.

Nothing here may be imported by the application (a migration is frozen).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE cache_versions SET n = n + 1"
SQLITE_EVENTS = {
    "insert": "INSERT",
    "delete": "DELETE",
    "owner": "UPDATE OF owner_type, owner_id",
}


def _is_pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def upgrade() -> None:
    conn = op.get_bind()
    if _is_pg(conn):
        # cache_versions_bump() is 0019's.
        conn.exec_driver_sql(
            "CREATE TRIGGER trg_rooms_cache AFTER INSERT OR DELETE OR UPDATE OF owner_type, owner_id "
            "OR TRUNCATE ON rooms FOR EACH STATEMENT EXECUTE FUNCTION cache_versions_bump()"
        )
        return
    for name, what in SQLITE_EVENTS.items():
        conn.exec_driver_sql(f"CREATE TRIGGER trg_rooms_cache_{name} AFTER {what} ON rooms BEGIN {BUMP}; END")


def downgrade() -> None:
    conn = op.get_bind()
    if _is_pg(conn):
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS trg_rooms_cache ON rooms")
        return
    for name in SQLITE_EVENTS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_rooms_cache_{name}")
