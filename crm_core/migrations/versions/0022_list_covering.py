"""list pages: indexes that also carry the columns a list filters on most

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-02 08:10:00

A list page sorted by amount (or a salesperson's by amount or by last change) reads its index in
the page's order and tests each entry against the filters. On PostgreSQL every entry tested costs
a visit to the table row (to read stage, creation date, trash mark), and at 1M deals those visits
miss the caches: a filtered page read thousands of table rows to keep fifty. These indexes carry
the columns (INCLUDE), so the page's ids are found from the index alone (crm_core.services.views
.paging reads the ids first, then the fifty rows). SQLite, which tests an index's columns before
it reads the row, gets the same columns as further keys of a salesperson's indexes (as 0020 did
for the amount index).

Also a salesperson's rows newest first with their names, for a "contains" search of a text in many
names, which reads the newest rows before it asks the trigram index.

Nothing here may be imported by the application (a migration is frozen).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGED = ("leads", "deals")
FILTERED = "stage_id, created_at, deleted_at"

# (name, table, PostgreSQL keys, SQLite keys, carried columns); the keys are those of 0017 (and
# 0004). SQLite has no INCLUDE: the carried columns follow the keys (as 0020 did for amount).
INDEXES: list[tuple[str, str, str, str, str]] = []
for _t in STAGED:
    INDEXES += [
        (f"ix_{_t}_amount_desc", _t, "amount DESC NULLS LAST, id DESC", "", FILTERED),
        (
            f"ix_{_t}_resp_amount",
            _t,
            "responsible_id, amount DESC NULLS LAST, id DESC",
            "responsible_id, amount, id",
            FILTERED,
        ),
        (
            f"ix_{_t}_resp_updated",
            _t,
            "responsible_id, updated_at, id",
            "responsible_id, updated_at, id",
            FILTERED,
        ),
    ]
for _t in ("contacts", "companies"):
    INDEXES.append(
        (
            f"ix_{_t}_resp_updated",
            _t,
            "responsible_id, updated_at, id",
            "responsible_id, updated_at, id",
            "created_at, deleted_at",
        )
    )


# A salesperson's newest rows, with the names a "contains" search tests (crm_core.services.search
# reads them newest first before it asks the trigram index): new in this revision.
SEARCHED = {
    "deals": "title",
    "companies": "title",
    "contacts": "name, last_name",
    "leads": "title, name, last_name, company_title",
}


def _searched(create: bool) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, names in SEARCHED.items():
        name = f"ix_{table}_resp_newest"
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        if create:
            conn.exec_driver_sql(
                f"CREATE INDEX {name} ON {table} (responsible_id, id) INCLUDE (deleted_at, {names})"
            )


def _rebuild(wide: bool) -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for name, table, pg_keys, sqlite_keys, carried in INDEXES:
        keys = pg_keys if pg else sqlite_keys
        if not keys:
            continue
        columns = f"({keys})"
        if wide:
            columns = f"({keys}) INCLUDE ({carried})" if pg else f"({keys}, {carried})"
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} {columns}")


def upgrade() -> None:
    _rebuild(True)
    _searched(True)


def downgrade() -> None:
    _searched(False)
    _rebuild(False)
