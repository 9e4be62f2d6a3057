"""observers: each observation carries a copy of its item's list columns

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 07:00:00

A salesperson's list page merges their own items, read in the page's order from an index on
(responsible_id, <sort key>), with the items they observe. Those were looked up one by one by id
and sorted: at 1M deals about a thousand lookups per page, where the page wanted fifty. Now each
item_observers row carries the columns a list sorts and filters on most (responsible, trash mark,
created, changed, stage, amount, the kanban column's order), and indexes per sort read a user's
observed items in the page's order, testing the filters in the index.

The copies are kept by triggers, in the same transaction as the change: an item's update of one
of those columns rewrites its observers' copies, an item's insert fills them (for observers
written first), and an observation inserted or moved to another item takes them from the item.

Nothing here may be imported by the application (a migration is frozen); bench/fill.py calls
drop_triggers/create_triggers/backfill around its bulk load.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = {"leads": "lead", "deals": "deal", "contacts": "contact", "companies": "company"}
STAGED = ("leads", "deals")
# (copy on item_observers, the item's column, its type, only leads and deals have it)
COPIES: list[tuple[str, str, sa.types.TypeEngine, bool]] = [
    ("item_responsible_id", "responsible_id", sa.Integer(), False),
    ("item_deleted_at", "deleted_at", sa.DateTime(timezone=True), False),
    ("item_created_at", "created_at", sa.DateTime(timezone=True), False),
    ("item_updated_at", "updated_at", sa.DateTime(timezone=True), False),
    ("item_stage_id", "stage_id", sa.Integer(), True),
    ("item_amount", "amount", sa.Numeric(18, 2), True),
    ("item_focused_at", "focused_at", sa.DateTime(timezone=True), True),
    ("item_last_activity_at", "last_activity_at", sa.DateTime(timezone=True), True),
]
TRIGGER_PREFIX = "trg_obs_copy_"

# (name, PostgreSQL keys, SQLite keys, carried columns): the orders of the owner indexes (0017,
# 0022) after (user_id, owner_type). SQLite has no INCLUDE: the carried columns follow the keys.
_WHO = "item_responsible_id, item_deleted_at"
INDEXES = [
    (
        "ix_item_observers_copy_created",
        "item_created_at, owner_id",
        "item_created_at, owner_id",
        f"{_WHO}, item_stage_id, item_amount",
    ),
    (
        "ix_item_observers_copy_updated",
        "item_updated_at, owner_id",
        "item_updated_at, owner_id",
        f"{_WHO}, item_stage_id, item_created_at",
    ),
    (
        "ix_item_observers_copy_amount",
        "item_amount DESC NULLS LAST, owner_id DESC",
        "item_amount, owner_id",
        f"{_WHO}, item_stage_id, item_created_at",
    ),
    (
        "ix_item_observers_copy_stage_order",
        "item_stage_id, item_focused_at DESC NULLS LAST, item_last_activity_at DESC NULLS LAST, "
        "owner_id DESC",
        "item_stage_id, item_focused_at, item_last_activity_at, owner_id",
        _WHO,
    ),
]


def _copies(table: str) -> list[tuple[str, str]]:
    return [(copy, col) for copy, col, _, staged in COPIES if table in STAGED or not staged]


def _is_pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _changed(table: str, pg: bool) -> str:
    op_ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"OLD.{col} {op_} NEW.{col}" for _, col in _copies(table))


def _to_observers(table: str) -> str:
    """Rewrite the copies of the observers of the item NEW (a row of `table`)."""
    sets = ", ".join(f"{copy} = NEW.{col}" for copy, col in _copies(table))
    return f"UPDATE item_observers SET {sets} WHERE owner_type = '{TABLES[table]}' AND owner_id = NEW.id;"


def _sqlite_from_item(table: str) -> str:
    """Fill the copies of the observation NEW from its item, if it is one of `table`'s."""
    copies = _copies(table)
    targets = ", ".join(copy for copy, _ in copies)
    values = ", ".join(f"i.{col}" for _, col in copies)
    return (
        f"UPDATE item_observers SET ({targets}) = (SELECT {values} FROM {table} i WHERE i.id = NEW.owner_id) "
        f"WHERE NEW.owner_type = '{TABLES[table]}' AND owner_type = NEW.owner_type "
        "AND owner_id = NEW.owner_id AND user_id = NEW.user_id;"
    )


def _sqlite_triggers() -> list[str]:
    p = TRIGGER_PREFIX
    out = []
    for t in TABLES:
        cols = ", ".join(col for _, col in _copies(t))
        out += [
            f"CREATE TRIGGER {p}{t}_ins AFTER INSERT ON {t} BEGIN {_to_observers(t)} END",
            f"CREATE TRIGGER {p}{t}_upd AFTER UPDATE OF {cols} ON {t} WHEN {_changed(t, False)} "
            f"BEGIN {_to_observers(t)} END",
        ]
    fill = " ".join(_sqlite_from_item(t) for t in TABLES)
    out += [
        f"CREATE TRIGGER {p}watch_ins AFTER INSERT ON item_observers BEGIN {fill} END",
        f"CREATE TRIGGER {p}watch_upd AFTER UPDATE OF owner_type, owner_id ON item_observers "
        f"WHEN OLD.owner_type IS NOT NEW.owner_type OR OLD.owner_id IS NOT NEW.owner_id BEGIN {fill} END",
    ]
    return out


def _pg_functions() -> list[str]:
    out = [
        f"""
CREATE OR REPLACE FUNCTION observer_copies_{t}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {_to_observers(t)}
    RETURN NULL;
END $$
"""
        for t in TABLES
    ]
    branches = []
    for t, kind in TABLES.items():
        copies = _copies(t)
        values = ", ".join(f"i.{col}" for _, col in copies)
        targets = ", ".join(f"NEW.{copy}" for copy, _ in copies)
        branches.append(
            f"IF NEW.owner_type = '{kind}' THEN\n"
            f"        SELECT {values} INTO {targets} FROM {t} i WHERE i.id = NEW.owner_id;\n"
            "    END IF;"
        )
    body = "\n    ".join(branches)
    out.append(
        f"""
CREATE OR REPLACE FUNCTION observer_copies_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {body}
    RETURN NEW;
END $$
"""
    )
    return out


# 0020's trigger on item_observers counts the observed item again on every UPDATE on PostgreSQL;
# the copies' writes would then count items whose totals 0020's item trigger has yet to move. It
# is made to fire, as on SQLite, only when an observation changes its item or user.
TOTALS_WATCH = "trg_obs_totals_watch"
TOTALS_WATCH_EVENTS = {
    False: "AFTER INSERT OR DELETE OR UPDATE",
    True: "AFTER INSERT OR DELETE OR UPDATE OF owner_type, owner_id, user_id",
}


def _pg_totals_watch(narrow: bool) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {TOTALS_WATCH} ON item_observers",
        f"CREATE TRIGGER {TOTALS_WATCH} {TOTALS_WATCH_EVENTS[narrow]} ON item_observers "
        "FOR EACH ROW EXECUTE FUNCTION observer_totals_watch()",
    ]


def _pg_triggers() -> list[str]:
    p = TRIGGER_PREFIX
    out = []
    for t in TABLES:
        cols = ", ".join(col for _, col in _copies(t))
        out += [
            f"CREATE TRIGGER {p}{t}_ins AFTER INSERT ON {t} "
            f"FOR EACH ROW EXECUTE FUNCTION observer_copies_{t}()",
            f"CREATE TRIGGER {p}{t}_upd AFTER UPDATE OF {cols} ON {t} "
            f"FOR EACH ROW WHEN ({_changed(t, True)}) EXECUTE FUNCTION observer_copies_{t}()",
        ]
    out.append(
        f"CREATE TRIGGER {p}watch BEFORE INSERT OR UPDATE OF owner_type, owner_id ON item_observers "
        "FOR EACH ROW EXECUTE FUNCTION observer_copies_watch()"
    )
    return out


def drop_triggers(conn: sa.Connection) -> None:
    """Drop the triggers (bench/fill.py: before a bulk load; backfill() after it)."""
    p = TRIGGER_PREFIX
    if _is_pg(conn):
        for t in TABLES:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}{t}_ins ON {t}")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}{t}_upd ON {t}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}watch ON item_observers")
        return
    for name in (*(f"{p}{t}_{w}" for t in TABLES for w in ("ins", "upd")), f"{p}watch_ins", f"{p}watch_upd"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def create_triggers(conn: sa.Connection) -> None:
    """The copies' triggers (and, on PostgreSQL, 0020's watch trigger narrowed: run after 0020's
    create_triggers)."""
    ddls = [*_pg_totals_watch(narrow=True), *_pg_triggers()] if _is_pg(conn) else _sqlite_triggers()
    for ddl in ddls:
        conn.exec_driver_sql(ddl)


def backfill(conn: sa.Connection) -> None:
    """Copy every observed item's columns onto its observations."""
    for t, kind in TABLES.items():
        sets = ", ".join(f"{copy} = i.{col}" for copy, col in _copies(t))
        conn.exec_driver_sql(
            f"UPDATE item_observers SET {sets} FROM {t} i "
            f"WHERE item_observers.owner_type = '{kind}' AND i.id = item_observers.owner_id"
        )


def _indexes(conn: sa.Connection, create: bool) -> None:
    pg = _is_pg(conn)
    for name, pg_keys, sqlite_keys, carried in INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        if not create:
            continue
        lead = "user_id, owner_type"
        columns = f"({lead}, {pg_keys}) INCLUDE ({carried})" if pg else f"({lead}, {sqlite_keys}, {carried})"
        conn.exec_driver_sql(f"CREATE INDEX {name} ON item_observers {columns}")


def upgrade() -> None:
    conn = op.get_bind()
    for copy, _, type_, _ in COPIES:
        op.add_column("item_observers", sa.Column(copy, type_, nullable=True))
    if _is_pg(conn):
        for ddl in _pg_functions():
            conn.exec_driver_sql(ddl)
    backfill(conn)
    create_triggers(conn)
    _indexes(conn, create=True)


def downgrade() -> None:
    conn = op.get_bind()
    _indexes(conn, create=False)
    drop_triggers(conn)
    if _is_pg(conn):
        for ddl in _pg_totals_watch(narrow=False):
            conn.exec_driver_sql(ddl)
        for t in TABLES:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS observer_copies_{t}()")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS observer_copies_watch()")
    # Plain ALTERs (SQLite 3.35+): a batch would rebuild the table and lose 0020's triggers on it.
    for copy, *_ in reversed(COPIES):
        conn.exec_driver_sql(f"ALTER TABLE item_observers DROP COLUMN {copy}")
