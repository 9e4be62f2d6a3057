"""Fill a migrated database with synthetic CRM data fast: SQLAlchemy core executemany in batches,
secondary indexes dropped during the load and rebuilt after (much faster than maintaining ~20
b-trees row by row), batches generated lazily so memory stays flat.

Per `rows` deals: rows/10 companies, 3*rows/10 contacts, `rows` activities, a phone per contact
and company, an email per third contact, an observer on 5% of deals; ~50 users (1 admin,
4 heads with departments, salespeople); deals spread over the default deal pipeline's stages.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm_core import migrate
from crm_core.db import Database
from crm_core.models.activities import Activity
from crm_core.models.items import (
    Communication,
    Company,
    Contact,
    Deal,
    ItemObserver,
    ItemType,
    Pipeline,
    Stage,
    StageSemantics,
)
from crm_core.models.users import Department, Role, User

BATCH = 10_000
BIG_TABLES = ("deals", "contacts", "companies", "activities", "communications", "item_observers")
FIRST = [
    "Ivan",
    "Anna",
    "Petr",
    "Olga",
    "Sergey",
    "Maria",
    "Alexey",
    "Elena",
    "Dmitry",
    "Irina",
    "Nikolay",
    "Tatiana",
    "Pavel",
    "Natalia",
    "Andrey",
    "Svetlana",
    "Mikhail",
    "Yulia",
    "Oleg",
    "Daria",
]
LAST = [
    "Ivanov",
    "Petrov",
    "Sidorov",
    "Smirnov",
    "Kuznetsov",
    "Popov",
    "Vasiliev",
    "Sokolov",
    "Mikhailov",
    "Novikov",
    "Fedorov",
    "Morozov",
    "Volkov",
    "Alekseev",
    "Lebedev",
    "Semenov",
    "Egorov",
    "Pavlov",
    "Kozlov",
    "Stepanov",
    "Nikolaev",
    "Orlov",
    "Andreev",
    "Makarov",
    "Zakharov",
]
WORDS = [
    "Window",
    "Door",
    "Roof",
    "Kitchen",
    "Server",
    "License",
    "Delivery",
    "Audit",
    "Repair",
    "Support",
    "Training",
    "Furniture",
    "Printer",
    "Cable",
    "Fence",
    "Heating",
    "Lighting",
    "Paint",
]
ORG = ["LLC", "JSC", "Group", "Trade", "Service", "Systems", "Stroy", "Tech", "Logistic", "Holding"]


@dataclass
class FillInfo:
    rows: int
    admin_id: int
    sales_id: int  # a salesperson with a typical share of the deals
    user_ids: list[int]
    pipeline_id: int
    stage_ids: list[int]
    process_stage_ids: list[int]
    sample_phone: str = ""  # as typed by someone ("8 (9xx) ..."), stored differently
    sample_last_name: str = ""
    seconds: dict[str, float] = field(default_factory=dict)


def phone_digits(i: int) -> str:
    """10 national digits of a Russian mobile, distinct for i < 10**9."""
    return f"9{(i * 7_919 + 1_234_567) % 1_000_000_000:09d}"


def phone_typed(digits: str) -> str:
    return f"+7 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}"


async def _secondary_indexes(conn: AsyncConnection) -> list[tuple[str, str]]:
    names = ", ".join(f"'{t}'" for t in BIG_TABLES)
    if conn.dialect.name == "sqlite":
        rows = await conn.execute(
            text(
                f"SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL "
                f"AND tbl_name IN ({names})"
            )
        )
    else:
        rows = await conn.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                f"WHERE t.relname IN ({names}) AND t.relnamespace = current_schema()::regnamespace "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)"
            )
        )
    return [(r[0], r[1]) for r in rows]


def _migration(file: str) -> Any:
    """A migration that owns triggers and their back-fill (loaded by path: it is frozen code, not
    a module the application imports)."""
    path = Path(migrate.MIGRATIONS_DIR) / "versions" / file
    spec = importlib.util.spec_from_file_location(f"crm_migration_{file[:4]}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _default(col: Any) -> Any:
    d = col.default
    if d is None:
        return None
    if d.is_scalar:
        return d.arg
    if d.is_callable:
        return d.arg(None)
    return None


async def _batches(conn: AsyncConnection, table: Any, rows: Iterator[dict[str, Any]], batch: int) -> int:
    """Insert through the driver itself (executemany of tuples on SQLite, COPY on PostgreSQL),
    values passed through the columns' own bind processors: several times faster than ORM/core."""
    dialect = conn.dialect
    driver = (await conn.get_raw_connection()).driver_connection
    cols: list[Any] = []
    procs: list[Any] = []
    sql = ""
    n = 0
    buf: list[dict[str, Any]] = []

    async def flush() -> None:
        nonlocal cols, procs, sql
        if not cols:
            given = set(buf[0])
            cols = [
                c
                for c in table.columns
                if c.name in given or not (c.primary_key and c.autoincrement or c.server_default is not None)
            ]
            procs = [c.type._cached_bind_processor(dialect) for c in cols]
            names = ", ".join(c.name for c in cols)
            sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(cols))})"
        records = []
        for r in buf:
            rec = []
            for c, proc in zip(cols, procs, strict=True):
                v = r[c.name] if c.name in r else _default(c)
                rec.append(proc(v) if proc is not None and v is not None else v)
            records.append(tuple(rec))
        nonlocal pending
        if pending is not None:
            await pending
        # The driver writes this batch while the next one is generated.
        if dialect.name == "sqlite":
            pending = asyncio.ensure_future(driver.executemany(sql, records))
        else:
            pending = asyncio.ensure_future(
                driver.copy_records_to_table(table.name, records=records, columns=[c.name for c in cols])
            )

    pending: asyncio.Future[Any] | None = None
    for row in rows:
        buf.append(row)
        if len(buf) >= batch:
            await flush()
            n += len(buf)
            buf = []
    if buf:
        await flush()
        n += len(buf)
    if pending is not None:
        await pending
    return n


async def fill(
    db: Database, rows: int, *, seed: int = 1, batch: int = BATCH, log: Callable[[str], None] = print
) -> FillInfo:
    rnd = random.Random(seed)
    await migrate.upgrade(db.engine)
    # 0017: stage_totals and the SQLite FTS tables; 0020: observer_totals; 0024: the observed
    # items' copies on item_observers (created after 0020's, whose trigger it narrows).
    trigger_owners = [
        _migration("0017_view_speed.py"),
        _migration("0020_views_more.py"),
        _migration("0024_observed_copies.py"),
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    n_companies, n_contacts = max(rows // 10, 1), max(rows * 3 // 10, 1)
    times: dict[str, float] = {}

    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("PRAGMA cache_size=-400000")
        pipe = (
            await conn.execute(
                select(Pipeline.id).where(
                    Pipeline.entity_type == ItemType.DEAL, Pipeline.is_default.is_(True)
                )
            )
        ).scalar_one()
        stages = (
            await conn.execute(
                select(Stage.id, Stage.semantics)
                .where(Stage.pipeline_id == pipe)
                .order_by(Stage.sort, Stage.id)
            )
        ).all()
        # users: 1 admin, 4 departments with a head each, 45 salespeople
        dept_ids = []
        for d in range(4):
            res = await conn.execute(
                insert(Department).values(name=f"Dept {d}", created_at=now, updated_at=now)
            )
            dept_ids.append(res.inserted_primary_key[0])
        base_tg = 7_000_000_000 + rnd.randrange(1_000_000) * 100
        users = [dict(telegram_id=base_tg, full_name="Admin", role=Role.ADMIN, department_id=None)]
        for d, dept in enumerate(dept_ids):
            users.append(
                dict(telegram_id=base_tg + 1 + d, full_name=f"Head {d}", role=Role.HEAD, department_id=dept)
            )
        for s in range(45):
            users.append(
                dict(
                    telegram_id=base_tg + 10 + s,
                    full_name=f"Sales {s}",
                    role=Role.SALESPERSON,
                    department_id=dept_ids[s % 4],
                )
            )
        for u in users:
            u.update(
                language="en",
                timezone="Europe/Moscow",
                is_active=True,
                reminder_offsets=[0, 15],
                created_at=now,
                updated_at=now,
                language_chosen=True,
                digest_workdays_only=True,
            )
            res = await conn.execute(insert(User).values(**u))
            u["id"] = res.inserted_primary_key[0]
        user_ids = [u["id"] for u in users]
        sales_ids = user_ids[5:]
        dropped = await _secondary_indexes(conn)
        for name, _ddl in dropped:
            await conn.exec_driver_sql(f"DROP INDEX {name}")
        for m in trigger_owners:
            await conn.run_sync(m.drop_triggers)
    log(f"  dropped {len(dropped)} secondary indexes for the load")

    def stamp(days: int = 730) -> datetime:
        return now - timedelta(seconds=rnd.randrange(days * 86_400))

    def companies() -> Iterator[dict[str, Any]]:
        for i in range(1, n_companies + 1):
            c = stamp()
            yield dict(
                id=i,
                title=f"{rnd.choice(WORDS)} {rnd.choice(ORG)} {i}",
                industry=None,
                source="web",
                version=1,
                created_at=c,
                updated_at=c,
                responsible_id=rnd.choice(sales_ids),
            )

    def contacts() -> Iterator[dict[str, Any]]:
        for i in range(1, n_contacts + 1):
            c = stamp()
            yield dict(
                id=i,
                name=rnd.choice(FIRST),
                last_name=f"{rnd.choice(LAST)}{'' if i % 4 else 'a'}",
                source="call",
                version=1,
                created_at=c,
                updated_at=c,
                responsible_id=rnd.choice(sales_ids),
            )

    def comms() -> Iterator[dict[str, Any]]:
        k = 0
        for owner_type, n in ((ItemType.CONTACT, n_contacts), (ItemType.COMPANY, n_companies)):
            for i in range(1, n + 1):
                k += 1
                digits = phone_digits(k)
                yield dict(
                    owner_type=owner_type,
                    owner_id=i,
                    kind="phone",
                    value=phone_typed(digits),
                    normalized="+7" + digits,
                    value_type="work",
                    sort=0,
                )
                if owner_type == ItemType.CONTACT and i % 3 == 0:
                    email = f"client{i}@example{i % 97}.com"
                    yield dict(
                        owner_type=owner_type,
                        owner_id=i,
                        kind="email",
                        value=email.capitalize(),
                        normalized=email,
                        value_type="work",
                        sort=0,
                    )

    weights = [30, 15, 10, 15, 10, 12, 6, 2][: len(stages)]

    def deals() -> Iterator[dict[str, Any]]:
        for i in range(1, rows + 1):
            stage_id, sem = rnd.choices(stages, weights)[0]
            c = stamp()
            closed = sem != StageSemantics.PROCESS
            amount = None if rnd.random() < 0.05 else Decimal(rnd.randrange(100_000, 100_000_000)) / 100
            yield dict(
                id=i,
                title=f"{rnd.choice(WORDS)} {rnd.choice(WORDS).lower()} {i}",
                pipeline_id=pipe,
                stage_id=stage_id,
                stage_entered_at=c,
                closed=closed,
                won=sem == StageSemantics.SUCCESS,
                closed_at=c if closed else None,
                amount=amount,
                currency="USD" if i % 10 == 0 else "RUB",
                last_activity_at=stamp(60) if rnd.random() < 0.8 else None,
                focused_at=stamp(3) if rnd.random() < 0.01 else None,
                contact_id=rnd.randrange(1, n_contacts + 1) if rnd.random() < 0.7 else None,
                company_id=rnd.randrange(1, n_companies + 1) if rnd.random() < 0.4 else None,
                source=rnd.choice(("web", "call", "email", None)),
                version=1,
                created_at=c,
                updated_at=c + timedelta(hours=rnd.randrange(1, 500)),
                deleted_at=now if rnd.random() < 0.01 else None,
                responsible_id=rnd.choice(sales_ids),
            )

    def observers() -> Iterator[dict[str, Any]]:
        for i in range(1, rows + 1, 20):
            yield dict(owner_type=ItemType.DEAL, owner_id=i, user_id=rnd.choice(user_ids), created_at=now)

    def activities() -> Iterator[dict[str, Any]]:
        for _ in range(rows):
            c = stamp(90)
            done = rnd.random() < 0.6
            yield dict(
                owner_type=ItemType.DEAL,
                owner_id=rnd.randrange(1, rows + 1),
                type=rnd.choice(("call", "meeting", "email", "task")),
                subject="Call back",
                description="",
                deadline=now + timedelta(minutes=rnd.randrange(-60 * 24 * 60, 60 * 24 * 60)),
                responsible_id=rnd.choice(sales_ids),
                direction="incoming" if rnd.random() < 0.1 else "planned",
                completed=done,
                completed_at=c if done else None,
                created_at=c,
                updated_at=c,
            )

    for name, table, gen in (
        ("companies", Company.__table__, companies()),
        ("contacts", Contact.__table__, contacts()),
        ("communications", Communication.__table__, comms()),
        ("deals", Deal.__table__, deals()),
        ("item_observers", ItemObserver.__table__, observers()),
        ("activities", Activity.__table__, activities()),
    ):
        t0 = time.perf_counter()
        async with db.engine.begin() as conn:
            if db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA cache_size=-400000")
            n = await _batches(conn, table, gen, batch)
            if not db.is_sqlite:  # explicit ids were given: move the sequence past them
                await conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                    if name not in ("item_observers",)
                    else "SELECT 1"
                )
        times[name] = time.perf_counter() - t0
        log(f"  {name}: {n:,} rows in {times[name]:.1f}s")

    t0 = time.perf_counter()
    async with db.engine.begin() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("PRAGMA cache_size=-400000")
        for _name, ddl in dropped:
            await conn.exec_driver_sql(ddl)
    times["indexes"] = time.perf_counter() - t0
    log(f"  rebuilt {len(dropped)} indexes in {times['indexes']:.1f}s")
    t0 = time.perf_counter()
    async with db.engine.begin() as conn:
        for m in trigger_owners:
            await conn.run_sync(m.backfill)
            await conn.run_sync(m.create_triggers)
    times["totals"] = time.perf_counter() - t0
    log(f"  kanban totals and search indexes back-filled in {times['totals']:.1f}s")
    t0 = time.perf_counter()
    async with db.engine.connect() as conn:
        if db.is_sqlite:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
        else:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE")
    times["analyze"] = time.perf_counter() - t0
    log(f"  analyze in {times['analyze']:.1f}s")

    # a salesperson with a typical share; a phone typed the other way round ("8 ..." vs "+7 (...)")
    probe = phone_digits(n_contacts // 2)
    return FillInfo(
        rows=rows,
        admin_id=user_ids[0],
        sales_id=sales_ids[0],
        user_ids=user_ids,
        pipeline_id=pipe,
        stage_ids=[s for s, _ in stages],
        process_stage_ids=[s for s, sem in stages if sem == StageSemantics.PROCESS],
        sample_phone=f"8 {probe[:3]} {probe[3:6]} {probe[6:8]} {probe[8:]}",
        sample_last_name=LAST[3],
        seconds=times,
    )
