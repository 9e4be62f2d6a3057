"""search: a salesperson's newest leads in an index that every lead fits

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 14:00:00

0022's ix_leads_resp_newest carried a lead's title, names and company title. A btree entry may
take 2,704 bytes; those four at their longest in four-byte characters (emoji) take 2,840, and
PostgreSQL refused to save such a lead. The index now holds only the leads whose four names
together take at most 1,000 bytes (nearly all: that is 500 Cyrillic letters), so an entry fits
even with the lowered names beside the raw ones (as 0025 did for the other tables: lower() may
make a text half as long again). The other, "wide" leads are in an index of their own, by
salesperson and id, which crm_core.services.search reads beside the first. (A downgrade
rebuilds 0022's index, which such a lead, saved meanwhile, would not fit.)

PostgreSQL only. Nothing here may be imported by the application (a migration is frozen).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The very expressions crm_core.services.search writes (partial indexes match a query's
# condition by its form).
NAME_BYTES = (
    "octet_length(coalesce(title, '') || coalesce(name, '') || coalesce(last_name, '')"
    " || coalesce(company_title, ''))"
)
LOWERED = (
    "lower(title), lower(coalesce(name, '') || ' ' || coalesce(last_name, '')),"
    " lower(coalesce(company_title, ''))"
)
RAW = "title, name, last_name, company_title"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_leads_resp_newest")
    conn.exec_driver_sql(
        f"CREATE INDEX ix_leads_resp_newest ON leads (responsible_id, id, {LOWERED})"
        f" INCLUDE (deleted_at, {RAW}) WHERE {NAME_BYTES} <= 1000"
    )
    conn.exec_driver_sql(
        f"CREATE INDEX ix_leads_resp_wide ON leads (responsible_id, id) WHERE {NAME_BYTES} > 1000"
    )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_leads_resp_wide")
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_leads_resp_newest")
    conn.exec_driver_sql(
        f"CREATE INDEX ix_leads_resp_newest ON leads (responsible_id, id) INCLUDE (deleted_at, {RAW})"
    )
