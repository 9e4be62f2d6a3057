"""Time the views on a filled database.

    python -m bench.views_bench --rows 10000
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python -m bench.views_bench \
        --rows 1000000 --pg-schema bench

Without DATABASE_URL a temporary SQLite file is used. With --pg-schema the schema is created,
used through `options=-csearch_path=...`, and dropped at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from bench.fill import FillInfo, fill
from crm_core.db import Database, is_sqlite
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import views
from crm_core.services.search import search_items
from crm_core.services.views import Condition


async def _timed(db: Database, fn: Callable[[Any], Awaitable[Any]], runs: int) -> tuple[float, float, Any]:
    samples, result = [], None
    for _ in range(runs):
        async with db.sessionmaker() as session:
            t0 = time.perf_counter()
            result = await fn(session)
            samples.append((time.perf_counter() - t0) * 1000)
            await session.rollback()
    return statistics.median(samples), min(samples), result


def _size(result: Any) -> str:
    if isinstance(result, views.Page):
        return f"{len(result.items)} rows"
    if isinstance(result, list) and result and isinstance(result[0], views.KanbanColumn):
        return f"{sum(c.count for c in result):,} items"
    if isinstance(result, list):
        return f"{len(result)} hits"
    return str(result)


async def run(db: Database, info: FillInfo, runs: int) -> list[tuple[str, float, float, str]]:
    async with db.sessionmaker() as s:
        admin = await s.get(User, info.admin_id)
        sales = await s.get(User, info.sales_id)
    assert admin is not None and sales is not None
    now = datetime.now(UTC)
    stages = info.process_stage_ids[:3]
    filters = [
        Condition("stage_id", "in", stages),
        Condition("amount", "between", [Decimal("10000"), Decimal("500000")]),
        Condition("created_at", "last_30_days"),
    ]
    sort = [("amount", "desc")]

    first: dict[str, views.Page] = {}

    async def list_page(s: Any, actor: User = admin) -> views.Page:
        page = await views.list_items(s, actor, ItemType.DEAL, filters=filters, sort=sort, limit=50, now=now)
        first[actor.role] = page
        return page

    async def next_page(s: Any, actor: User = admin) -> views.Page:
        return await views.list_items(
            s,
            actor,
            ItemType.DEAL,
            filters=filters,
            sort=sort,
            limit=50,
            now=now,
            cursor=first[actor.role].next_cursor,
        )

    cases: list[tuple[str, Callable[[Any], Awaitable[Any]]]] = [
        ("kanban counts, admin", lambda s: views.kanban(s, admin, info.pipeline_id)),
        ("kanban counts, salesperson", lambda s: views.kanban(s, sales, info.pipeline_id)),
        ("kanban all stages, admin", lambda s: views.kanban(s, admin, info.pipeline_id, include_closed=True)),
        ("kanban column page (20), admin", lambda s: views.stage_items(s, admin, stages[0], limit=20)),
        ("kanban column page (20), salesperson", lambda s: views.stage_items(s, sales, stages[0], limit=20)),
        ("list: filtered+sorted page (50), admin", list_page),
        ("list: next keyset page, admin", next_page),
        (
            "list: count with same filters, admin",
            lambda s: views.count_items(s, admin, ItemType.DEAL, filters=filters, now=now),
        ),
        ("list: filtered page, salesperson", lambda s: list_page(s, sales)),
        ("list: next keyset page, salesperson", lambda s: next_page(s, sales)),
        (
            "list: all deals by updated_at, page @offset 1000",
            lambda s: views.list_items(
                s, admin, ItemType.DEAL, sort=[("updated_at", "desc")], limit=50, offset=1000
            ),
        ),
        ("search: phone typed differently", lambda s: search_items(s, admin, info.sample_phone)),
        (
            "search: phone fragment (7 digits)",
            lambda s: search_items(s, admin, info.sample_phone.replace(" ", "")[-7:]),
        ),
        ("search: name (prefix, common)", lambda s: search_items(s, admin, info.sample_last_name)),
        ("search: name (contains, rare)", lambda s: search_items(s, admin, "hting 12")),
        ("search: ref", lambda s: search_items(s, admin, f"D-{info.rows // 2}")),
        ("search: name, salesperson", lambda s: search_items(s, sales, info.sample_last_name)),
    ]
    out = []
    for name, fn in cases:
        med, best, result = await _timed(db, fn, runs)
        out.append((name, med, best, _size(result)))
    return out


def _print_table(title: str, rows: list[tuple[str, float, float, str]]) -> None:
    print(f"\n{title}")
    print(f"{'operation':<52} {'median ms':>10} {'min ms':>9}  result")
    print("-" * 90)
    for name, med, best, size in rows:
        print(f"{name:<52} {med:>10.1f} {best:>9.1f}  {size}")


async def main_async(args: argparse.Namespace) -> None:
    url = args.url or os.environ.get("DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.mkdtemp(prefix="crm_bench_")
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
    admin_db = None
    if args.pg_schema and not is_sqlite(url):
        admin_db = Database(url)
        async with admin_db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.pg_schema}" CASCADE'))
            await conn.execute(text(f'CREATE SCHEMA "{args.pg_schema}"'))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{args.pg_schema}"
    db = Database(url)
    try:
        print(f"database: {db.engine.url.render_as_string(hide_password=True)}  rows: {args.rows:,}")
        t0 = time.perf_counter()
        info = await fill(db, args.rows)
        print(f"fill: {time.perf_counter() - t0:.1f}s total")
        rows = await run(db, info, args.runs)
        _print_table(f"{db.engine.dialect.name}, {args.rows:,} deals, median of {args.runs} runs", rows)
    finally:
        await db.dispose()
        if admin_db is not None:
            if not args.keep:
                async with admin_db.engine.begin() as conn:
                    await conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.pg_schema}" CASCADE'))
            await admin_db.dispose()
        if tmp and not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000, help="number of deals (others proportional)")
    p.add_argument("--runs", type=int, default=5, help="timed runs per operation (median reported)")
    p.add_argument("--url", help="database URL (default: DATABASE_URL, else a temporary SQLite file)")
    p.add_argument("--pg-schema", help="PostgreSQL: create this schema, run in it, drop it afterwards")
    p.add_argument("--keep", action="store_true", help="keep the database / schema")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
