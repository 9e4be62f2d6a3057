"""cache versions: a counter bumped by triggers on every change of the cached tables

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 18:00:00

crm_core.cache keeps users, departments, pipelines, stages and required fields in the process and
trusts them only under the `cache_versions.n` they were read with. Triggers bump n in the same
transaction as every insert, update and delete of those tables, whatever wrote it (ORM, bulk SQL,
REST, an import, another process). PostgreSQL bumps once per statement (TRUNCATE included),
SQLite once per row (it has no statement triggers).

n starts at a random value so that a database recreated under a running process does not repeat
the numbers it has seen. A later migration that rebuilds one of these tables on SQLite (batch
mode) must re-create its triggers (crm_core's cache tests check every table bumps n at head).

Nothing here may be imported by the application (a migration is frozen).
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CACHED = ("users", "departments", "pipelines", "stages", "required_fields")
BUMP = "UPDATE cache_versions SET n = n + 1"

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION cache_versions_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {BUMP};
    RETURN NULL;
END $$
"""


def _is_pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "cache_versions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_versions")),
    )
    conn.execute(sa.text("INSERT INTO cache_versions (id, n) VALUES (1, :n)"), {"n": secrets.randbits(48)})
    if _is_pg(conn):
        conn.exec_driver_sql(PG_FUNCTION)
        for t in CACHED:
            conn.exec_driver_sql(
                f"CREATE TRIGGER trg_{t}_cache AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} "
                "FOR EACH STATEMENT EXECUTE FUNCTION cache_versions_bump()"
            )
        return
    for t in CACHED:
        for what in ("insert", "update", "delete"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER trg_{t}_cache_{what} AFTER {what.upper()} ON {t} BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    conn = op.get_bind()
    if _is_pg(conn):
        for t in CACHED:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{t}_cache ON {t}")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS cache_versions_bump()")
    else:
        for t in CACHED:
            for what in ("insert", "update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{t}_cache_{what}")
    op.drop_table("cache_versions")
