"""view speed: kanban totals kept by triggers; substring search indexes

Revision ID: 0017
Revises: 0013
Create Date: 2026-11-30 14:40:00

Kanban counts and sums come from `stage_totals`: one row per (pipeline, stage, responsible,
currency) of the live (not trashed) leads and deals, kept by triggers in the same transaction as
every insert, update and delete of a lead or deal, whatever wrote it (ORM, bulk UPDATE, import,
REST). Amounts are summed in integer cents, so the sums are exact on SQLite too.

"Contains" search: PostgreSQL gets pg_trgm GIN indexes on the very expressions the search and the
filters compare (lower(...) LIKE '%...%'), and on the communications' normalised value; SQLite gets
FTS5 tables with the trigram tokenizer, kept by triggers, holding the lowered text (rowid = the
row's id). They only narrow the candidates: the query re-checks the original condition.

Nothing here may be imported by the application (a migration is frozen); bench/fill.py calls
drop_triggers/create_triggers/backfill around its bulk load.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGED = ("leads", "deals")
TOTAL_COLUMNS = ("pipeline_id", "stage_id", "responsible_id", "currency", "amount", "deleted_at")
KEY = "pipeline_id, stage_id, responsible_id, currency"

# --- the lowered text each item's "contains" search compares (SQLite FTS content) ---------------
_NL = "char(10)"
FTS_TEXT = {
    "deals": "lower(coalesce({r}.title, ''))",
    "companies": "lower(coalesce({r}.title, ''))",
    "contacts": (
        "lower(coalesce({r}.name, '') || ' ' || coalesce({r}.last_name, ''))"
        f" || {_NL} || "
        "lower(coalesce({r}.last_name, '') || ' ' || coalesce({r}.name, ''))"
    ),
    "leads": (
        f"lower(coalesce({{r}}.title, '')) || {_NL} || "
        "lower(coalesce({r}.name, '') || ' ' || coalesce({r}.last_name, ''))"
        f" || {_NL} || lower(coalesce({{r}}.company_title, ''))"
    ),
    "communications": "lower({r}.normalized)",
}
FTS_COLUMNS = {
    "deals": ("title",),
    "companies": ("title",),
    "contacts": ("name", "last_name"),
    "leads": ("title", "name", "last_name", "company_title"),
    "communications": ("normalized",),
}

# --- the PostgreSQL trigram indexes: exactly the expressions crm_core.services.search compares ---
PG_TRGM = [
    ("ix_deals_title_trgm", "deals", "lower(title)"),
    ("ix_leads_title_trgm", "leads", "lower(title)"),
    ("ix_leads_person_trgm", "leads", "lower(coalesce(name, '') || ' ' || coalesce(last_name, ''))"),
    ("ix_leads_company_trgm", "leads", "lower(coalesce(company_title, ''))"),
    ("ix_companies_title_trgm", "companies", "lower(title)"),
    (
        "ix_contacts_first_last_trgm",
        "contacts",
        "lower(coalesce(name, '') || ' ' || coalesce(last_name, ''))",
    ),
    (
        "ix_contacts_last_first_trgm",
        "contacts",
        "lower(coalesce(last_name, '') || ' ' || coalesce(name, ''))",
    ),
    ("ix_communications_normalized_trgm", "communications", "normalized"),
    ("ix_communications_lower_normalized_trgm", "communications", "lower(normalized)"),
]


# A salesperson's (or head's) pages read their own rows in the page's order from these, instead
# of sorting everything they own: (name, table, PostgreSQL keys, SQLite keys).
OWNER_INDEXES: list[tuple[str, str, str, str]] = []
for _t in STAGED:
    OWNER_INDEXES += [
        (
            f"ix_{_t}_resp_stage_order",
            _t,
            "responsible_id, stage_id, focused_at DESC NULLS LAST, last_activity_at DESC NULLS LAST, id DESC",
            "responsible_id, stage_id, focused_at, last_activity_at, id",
        ),
        # PostgreSQL puts NULLs first in DESC order; the lists want them last (SQLite's own order).
        (
            f"ix_{_t}_resp_amount",
            _t,
            "responsible_id, amount DESC NULLS LAST, id DESC",
            "responsible_id, amount, id",
        ),
        (f"ix_{_t}_amount_desc", _t, "amount DESC NULLS LAST, id DESC", ""),
    ]
for _t in (*STAGED, "contacts", "companies"):
    OWNER_INDEXES.append(
        (f"ix_{_t}_resp_updated", _t, "responsible_id, updated_at, id", "responsible_id, updated_at, id")
    )


def _cents(row: str, pg: bool) -> str:
    if pg:
        return f"coalesce(round({row}.amount * 100)::bigint, 0)"
    return f"coalesce(CAST(round({row}.amount * 100) AS INTEGER), 0)"


def _sqlite_add(table: str) -> str:
    return (
        f"INSERT INTO stage_totals ({KEY}, items, amounted, amount_cents) "
        f"SELECT NEW.pipeline_id, NEW.stage_id, NEW.responsible_id, NEW.currency, 1, "
        f"NEW.amount IS NOT NULL, {_cents('NEW', False)} WHERE NEW.deleted_at IS NULL "
        f"ON CONFLICT ({KEY}) DO UPDATE SET items = items + 1, "
        "amounted = amounted + excluded.amounted, amount_cents = amount_cents + excluded.amount_cents;"
    )


def _sqlite_sub() -> str:
    return (
        "UPDATE stage_totals SET items = items - 1, amounted = amounted - (OLD.amount IS NOT NULL), "
        f"amount_cents = amount_cents - {_cents('OLD', False)} "
        "WHERE OLD.deleted_at IS NULL AND pipeline_id = OLD.pipeline_id AND stage_id = OLD.stage_id "
        "AND responsible_id = OLD.responsible_id AND currency = OLD.currency;"
    )


def _changed(columns: Sequence[str]) -> str:
    return " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)


def _sqlite_triggers() -> list[str]:
    out = []
    for t in STAGED:
        out += [
            f"CREATE TRIGGER trg_{t}_totals_ins AFTER INSERT ON {t} BEGIN {_sqlite_add(t)} END",
            f"CREATE TRIGGER trg_{t}_totals_del AFTER DELETE ON {t} BEGIN {_sqlite_sub()} END",
            f"CREATE TRIGGER trg_{t}_totals_upd AFTER UPDATE OF {', '.join(TOTAL_COLUMNS)} ON {t} "
            f"WHEN {_changed(TOTAL_COLUMNS)} BEGIN {_sqlite_sub()} {_sqlite_add(t)} END",
        ]
    for t, expr in FTS_TEXT.items():
        new, cols = expr.format(r="NEW"), FTS_COLUMNS[t]
        ins = f"INSERT INTO {t}_fts (rowid, body) VALUES (NEW.id, {new});"
        out += [
            f"CREATE TRIGGER trg_{t}_fts_ins AFTER INSERT ON {t} BEGIN {ins} END",
            f"CREATE TRIGGER trg_{t}_fts_del AFTER DELETE ON {t} BEGIN "
            f"DELETE FROM {t}_fts WHERE rowid = OLD.id; END",
            f"CREATE TRIGGER trg_{t}_fts_upd AFTER UPDATE OF {', '.join(cols)} ON {t} "
            f"WHEN {_changed(cols)} BEGIN DELETE FROM {t}_fts WHERE rowid = OLD.id; {ins} END",
        ]
    return out


_PG_ADD = (
    f"INSERT INTO stage_totals ({KEY}, items, amounted, amount_cents) "
    "VALUES (NEW.pipeline_id, NEW.stage_id, NEW.responsible_id, NEW.currency, 1, "
    f"(NEW.amount IS NOT NULL)::int, {_cents('NEW', True)}) "
    f"ON CONFLICT ({KEY}) DO UPDATE SET items = stage_totals.items + 1, "
    "amounted = stage_totals.amounted + excluded.amounted, "
    "amount_cents = stage_totals.amount_cents + excluded.amount_cents;"
)

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION stage_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sub boolean := TG_OP <> 'INSERT' AND OLD.deleted_at IS NULL;
    add boolean := TG_OP <> 'DELETE' AND NEW.deleted_at IS NULL;
BEGIN
    -- Two rows of one transaction are locked in key order, so that two opposite moves cannot
    -- deadlock on each other's rows.
    IF sub AND add AND (OLD.pipeline_id, OLD.stage_id, OLD.responsible_id, OLD.currency)
            > (NEW.pipeline_id, NEW.stage_id, NEW.responsible_id, NEW.currency) THEN
        {_PG_ADD}
        add := false;
    END IF;
    IF sub THEN
        UPDATE stage_totals SET items = items - 1, amounted = amounted - (OLD.amount IS NOT NULL)::int,
            amount_cents = amount_cents - {_cents("OLD", True)}
        WHERE pipeline_id = OLD.pipeline_id AND stage_id = OLD.stage_id
            AND responsible_id = OLD.responsible_id AND currency = OLD.currency;
    END IF;
    IF add THEN
        {_PG_ADD}
    END IF;
    RETURN NULL;
END $$
"""


def _pg_triggers() -> list[str]:
    out = []
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in TOTAL_COLUMNS)
    for t in STAGED:
        out += [
            f"CREATE TRIGGER trg_{t}_totals_ins_del AFTER INSERT OR DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION stage_totals_apply()",
            f"CREATE TRIGGER trg_{t}_totals_upd AFTER UPDATE OF {', '.join(TOTAL_COLUMNS)} ON {t} "
            f"FOR EACH ROW WHEN ({changed}) EXECUTE FUNCTION stage_totals_apply()",
        ]
    return out


def _is_pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def drop_triggers(conn: sa.Connection) -> None:
    """Drop the triggers (bench/fill.py: before a bulk load; backfill() after it)."""
    if _is_pg(conn):
        for t in STAGED:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{t}_totals_ins_del ON {t}")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS trg_{t}_totals_upd ON {t}")
        return
    names = [r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in names:
        if name.startswith("trg_") and ("_totals_" in name or "_fts_" in name):
            conn.exec_driver_sql(f"DROP TRIGGER {name}")


def create_triggers(conn: sa.Connection) -> None:
    for ddl in _pg_triggers() if _is_pg(conn) else _sqlite_triggers():
        conn.exec_driver_sql(ddl)


def backfill(conn: sa.Connection) -> None:
    """(Re)compute stage_totals and the SQLite FTS tables from the rows as they are."""
    pg = _is_pg(conn)
    conn.exec_driver_sql("DELETE FROM stage_totals")
    for t in STAGED:
        conn.exec_driver_sql(
            f"INSERT INTO stage_totals ({KEY}, items, amounted, amount_cents) "
            f"SELECT {KEY}, count(*), count(amount), sum({_cents(t, pg)}) FROM {t} "
            f"WHERE deleted_at IS NULL GROUP BY {KEY}"
        )
    if pg:
        return
    for t, expr in FTS_TEXT.items():
        conn.exec_driver_sql(f"DELETE FROM {t}_fts")
        conn.exec_driver_sql(f"INSERT INTO {t}_fts (rowid, body) SELECT id, {expr.format(r=t)} FROM {t}")


def upgrade() -> None:
    conn = op.get_bind()
    pg = _is_pg(conn)
    op.create_table(
        "stage_totals",
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("amounted", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "pipeline_id", "stage_id", "responsible_id", "currency", name=op.f("pk_stage_totals")
        ),
    )
    op.create_index("ix_stage_totals_responsible", "stage_totals", ["responsible_id", "pipeline_id"])
    for name, table, pg_keys, sqlite_keys in OWNER_INDEXES:
        if pg or sqlite_keys:  # "": the other order is native to SQLite already
            conn.exec_driver_sql(f"CREATE INDEX {name} ON {table} ({pg_keys if pg else sqlite_keys})")
    if pg:
        conn.exec_driver_sql(PG_FUNCTION)
        has_trgm = conn.exec_driver_sql(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'"
        ).scalar()
        if has_trgm:  # without it the searches scan, as before
            conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            # Named with its schema: the extension may live in one outside the search_path.
            where = conn.exec_driver_sql(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                "WHERE e.extname = 'pg_trgm'"
            ).scalar_one()
            for name, table, expr in PG_TRGM:
                conn.exec_driver_sql(
                    f'CREATE INDEX {name} ON {table} USING gin (({expr}) "{where}".gin_trgm_ops)'
                )
    else:
        for t in FTS_TEXT:
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE {t}_fts USING fts5(body, tokenize='trigram case_sensitive 0')"
            )
    create_triggers(conn)
    backfill(conn)


def downgrade() -> None:
    conn = op.get_bind()
    drop_triggers(conn)
    if _is_pg(conn):
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS stage_totals_apply()")
        for name, _table, _expr in PG_TRGM:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    else:
        for t in FTS_TEXT:
            conn.exec_driver_sql(f"DROP TABLE {t}_fts")
    for name, _table, _pg, _sqlite in OWNER_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_stage_totals_responsible", table_name="stage_totals")
    op.drop_table("stage_totals")
