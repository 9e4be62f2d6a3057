"""views, more: kanban totals of the items each user observes

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30 18:30:00

A salesperson's kanban also counts the items they observe whose responsible is someone else.
Those were aggregated from the items at every view (their number grows with the data); now
`observer_totals` keeps them: one row per (observer, pipeline, stage, responsible, currency) of the
live leads and deals each user observes, kept by triggers on the items (a change of the columns
stage_totals is keyed on, for each of the item's observers) and on item_observers (a user starts
or stops observing). The responsible stays in the key, so a view can leave out its own share
(a head's: the team's), which stage_totals already counts.

On SQLite the amount index of leads and deals (0004: amount, id) also carries the columns a list
filters on most (stage, created, trashed): a page sorted by amount then tests them in the index
and reads only the rows it returns from the table, instead of one table page per row examined
(at 1M deals those reads missed every cache: 15-30 ms against 1 ms).

Nothing here may be imported by the application (a migration is frozen); bench/fill.py calls
drop_triggers/create_triggers/backfill around its bulk load.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGED = {"leads": "lead", "deals": "deal"}
ITEM_COLUMNS = ("pipeline_id", "stage_id", "responsible_id", "currency", "amount", "deleted_at")
KEY = "user_id, pipeline_id, stage_id, responsible_id, currency"
TRIGGER_PREFIX = "trg_obs_totals_"


def _cents(row: str, pg: bool) -> str:
    if pg:
        return f"coalesce(round({row}.amount * 100)::bigint, 0)"
    return f"coalesce(CAST(round({row}.amount * 100) AS INTEGER), 0)"


def _amounted(row: str, pg: bool) -> str:
    return f"({row}.amount IS NOT NULL)::int" if pg else f"({row}.amount IS NOT NULL)"


_UPSERT = (
    f" ON CONFLICT ({KEY}) DO UPDATE SET items = observer_totals.items + 1, "
    "amounted = observer_totals.amounted + excluded.amounted, "
    "amount_cents = observer_totals.amount_cents + excluded.amount_cents"
)


def _add(user: str, item: str, item_from: str, where: str, pg: bool) -> str:
    """Count `item` (a live lead/deal) for `user`, over the rows of `item_from` matching `where`."""
    return (
        f"INSERT INTO observer_totals ({KEY}, items, amounted, amount_cents) "
        f"SELECT {user}, {item}.pipeline_id, {item}.stage_id, {item}.responsible_id, {item}.currency, 1, "
        f"{_amounted(item, pg)}, {_cents(item, pg)} FROM {item_from} "
        f"WHERE {item}.deleted_at IS NULL AND {where}{_UPSERT};"
    )


def _sub(user: str, item: str, item_from: str, where: str, pg: bool) -> str:
    """Uncount `item` for `user`, over the rows of `item_from` matching `where`."""
    return (
        f"UPDATE observer_totals SET items = items - 1, amounted = amounted - {_amounted(item, pg)}, "
        f"amount_cents = amount_cents - {_cents(item, pg)} FROM {item_from} "
        f"WHERE {item}.deleted_at IS NULL AND {where} AND observer_totals.user_id = {user} "
        f"AND observer_totals.pipeline_id = {item}.pipeline_id "
        f"AND observer_totals.stage_id = {item}.stage_id "
        f"AND observer_totals.responsible_id = {item}.responsible_id "
        f"AND observer_totals.currency = {item}.currency;"
    )


def _item_side(row: str, table: str, pg: bool, add: bool) -> str:
    """An item row (OLD/NEW of `table`) counted or uncounted for each of its observers."""
    kind = STAGED[table]
    where = f"o.owner_type = '{kind}' AND o.owner_id = {row}.id"
    return (_add if add else _sub)("o.user_id", row, "item_observers o", where, pg)


def _watch_side(row: str, table: str, pg: bool, add: bool) -> str:
    """An observer row (OLD/NEW of item_observers) counting or uncounting the item it watches."""
    kind = STAGED[table]
    where = f"{row}.owner_type = '{kind}' AND i.id = {row}.owner_id"
    return (_add if add else _sub)(f"{row}.user_id", "i", f"{table} i", where, pg)


def _changed(columns: Sequence[str], pg: bool) -> str:
    op_ = "IS DISTINCT FROM" if pg else "IS NOT"
    return " OR ".join(f"OLD.{c} {op_} NEW.{c}" for c in columns)


def _sqlite_triggers() -> list[str]:
    out = []
    p = TRIGGER_PREFIX
    cols = ", ".join(ITEM_COLUMNS)
    for t in STAGED:
        add, sub = _item_side("NEW", t, False, True), _item_side("OLD", t, False, False)
        out += [
            f"CREATE TRIGGER {p}{t}_ins AFTER INSERT ON {t} BEGIN {add} END",
            f"CREATE TRIGGER {p}{t}_del AFTER DELETE ON {t} BEGIN {sub} END",
            f"CREATE TRIGGER {p}{t}_upd AFTER UPDATE OF {cols} ON {t} "
            f"WHEN {_changed(ITEM_COLUMNS, False)} BEGIN {sub} {add} END",
        ]
    adds = " ".join(_watch_side("NEW", t, False, True) for t in STAGED)
    subs = " ".join(_watch_side("OLD", t, False, False) for t in STAGED)
    watched = ("owner_type", "owner_id", "user_id")
    out += [
        f"CREATE TRIGGER {p}watch_ins AFTER INSERT ON item_observers BEGIN {adds} END",
        f"CREATE TRIGGER {p}watch_del AFTER DELETE ON item_observers BEGIN {subs} END",
        f"CREATE TRIGGER {p}watch_upd AFTER UPDATE OF {', '.join(watched)} ON item_observers "
        f"WHEN {_changed(watched, False)} BEGIN {subs} {adds} END",
    ]
    return out


def _pg_functions() -> list[str]:
    out = []
    for t in STAGED:
        out.append(
            f"""
CREATE OR REPLACE FUNCTION observer_totals_{t}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {_item_side("OLD", t, True, False)}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {_item_side("NEW", t, True, True)}
    END IF;
    RETURN NULL;
END $$
"""
        )
    subs = "\n        ".join(_watch_side("OLD", t, True, False) for t in STAGED)
    adds = "\n        ".join(_watch_side("NEW", t, True, True) for t in STAGED)
    out.append(
        f"""
CREATE OR REPLACE FUNCTION observer_totals_watch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        {subs}
    END IF;
    IF TG_OP <> 'DELETE' THEN
        {adds}
    END IF;
    RETURN NULL;
END $$
"""
    )
    return out


def _pg_triggers() -> list[str]:
    p = TRIGGER_PREFIX
    out = []
    for t in STAGED:
        out += [
            f"CREATE TRIGGER {p}{t}_ins_del AFTER INSERT OR DELETE ON {t} "
            f"FOR EACH ROW EXECUTE FUNCTION observer_totals_{t}()",
            f"CREATE TRIGGER {p}{t}_upd AFTER UPDATE OF {', '.join(ITEM_COLUMNS)} ON {t} "
            f"FOR EACH ROW WHEN ({_changed(ITEM_COLUMNS, True)}) EXECUTE FUNCTION observer_totals_{t}()",
        ]
    out.append(
        f"CREATE TRIGGER {p}watch AFTER INSERT OR DELETE OR UPDATE ON item_observers "
        "FOR EACH ROW EXECUTE FUNCTION observer_totals_watch()"
    )
    return out


def _is_pg(conn: sa.Connection) -> bool:
    return conn.dialect.name == "postgresql"


def drop_triggers(conn: sa.Connection) -> None:
    """Drop the triggers (bench/fill.py: before a bulk load; backfill() after it)."""
    p = TRIGGER_PREFIX
    if _is_pg(conn):
        for t in STAGED:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}{t}_ins_del ON {t}")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}{t}_upd ON {t}")
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {p}watch ON item_observers")
        return
    for name in (*(f"{p}{t}_{w}" for t in STAGED for w in ("ins", "del", "upd")), f"{p}watch_ins"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    for name in (f"{p}watch_del", f"{p}watch_upd"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def create_triggers(conn: sa.Connection) -> None:
    for ddl in _pg_triggers() if _is_pg(conn) else _sqlite_triggers():
        conn.exec_driver_sql(ddl)


def backfill(conn: sa.Connection) -> None:
    """(Re)compute observer_totals from the rows as they are."""
    pg = _is_pg(conn)
    conn.exec_driver_sql("DELETE FROM observer_totals")
    for t, kind in STAGED.items():
        conn.exec_driver_sql(
            f"INSERT INTO observer_totals ({KEY}, items, amounted, amount_cents) "
            "SELECT o.user_id, i.pipeline_id, i.stage_id, i.responsible_id, i.currency, count(*), "
            f"count(i.amount), sum({_cents('i', pg)}) FROM item_observers o JOIN {t} i "
            f"ON i.id = o.owner_id WHERE o.owner_type = '{kind}' AND i.deleted_at IS NULL "
            "GROUP BY o.user_id, i.pipeline_id, i.stage_id, i.responsible_id, i.currency "
            f"ON CONFLICT ({KEY}) DO NOTHING"
        )


# SQLite: the same name and order (amount, id: the list's ORDER BY), more columns.
AMOUNT_INDEX = "amount, id"
AMOUNT_INDEX_WIDE = "amount, id, stage_id, created_at, deleted_at"


def _amount_indexes(conn: sa.Connection, columns: str) -> None:
    if _is_pg(conn):
        return
    for t in STAGED:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS ix_{t}_amount")
        conn.exec_driver_sql(f"CREATE INDEX ix_{t}_amount ON {t} ({columns})")


def upgrade() -> None:
    conn = op.get_bind()
    _amount_indexes(conn, AMOUNT_INDEX_WIDE)
    op.create_table(
        "observer_totals",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pipeline_id", sa.Integer(), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column("responsible_id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("amounted", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "user_id",
            "pipeline_id",
            "stage_id",
            "responsible_id",
            "currency",
            name=op.f("pk_observer_totals"),
        ),
    )
    if _is_pg(conn):
        for ddl in _pg_functions():
            conn.exec_driver_sql(ddl)
    create_triggers(conn)
    backfill(conn)


def downgrade() -> None:
    conn = op.get_bind()
    drop_triggers(conn)
    if _is_pg(conn):
        for t in STAGED:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS observer_totals_{t}()")
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS observer_totals_watch()")
    op.drop_table("observer_totals")
    _amount_indexes(conn, AMOUNT_INDEX)
