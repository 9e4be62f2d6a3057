"""Time the views at a large size side by side with the same views at an anchor size, in one run.

    python -m bench.views_bench --rows 1000000
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python -m bench.views_bench \\
        --rows 1000000

Each operation runs for an admin and for a salesperson (their own items and those they observe) on a
database of `--anchor` deals (10,000) and one of `--rows` deals, the two taking turns run by run;
the table prints both medians, their ratio (the goal: at most 2x) and each size's result.
A "next page" case whose list fits on its first page at some size prints "no next page" there and
no ratio: a first page of a few rows is not the work of a next page of 50. "before" rows time the
old way (aggregating the items), kept as the reference the fast path is checked against.

Filled databases are kept and reused: SQLite files in --cache-dir, PostgreSQL schemas
`bench_views_<rows>` (with --pg-schema PREFIX: `<PREFIX>_<rows>`); --refill rebuilds them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.fill import FillInfo, fill
from crm_core import migrate
from crm_core.db import Database, is_sqlite
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import views
from crm_core.services.search import search_items
from crm_core.services.views import Condition

Case = tuple[str, Callable[[Any], Awaitable[Any]]]


class NoNextPage:
    """What a "next page" case gives where the first page held the whole list: there is nothing
    to time at that size, and no ratio to take (a first page of a few rows is not the same work)."""


NO_NEXT_PAGE = "no next page"  # its result in the table


async def _timed(db: Database, fn: Callable[[Any], Awaitable[Any]], runs: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(runs):
        async with db.sessionmaker() as session:
            t0 = time.perf_counter()
            result = await fn(session)
            samples.append((time.perf_counter() - t0) * 1000)
            await session.rollback()
    return statistics.median(samples), result


def _size(result: Any) -> str:
    if isinstance(result, NoNextPage):
        return NO_NEXT_PAGE
    if isinstance(result, views.Page):
        return f"{len(result.items)} rows"
    if isinstance(result, list) and result and isinstance(result[0], views.KanbanColumn):
        return f"{sum(c.count for c in result):,} items"
    if isinstance(result, list):
        return f"{len(result)} hits"
    return str(result)


def cases(info: FillInfo, actor: User, now: datetime) -> list[Case]:
    stages = info.process_stage_ids[:3]
    filters = [
        Condition("stage_id", "in", stages),
        Condition("amount", "between", [Decimal("10000"), Decimal("500000")]),
        Condition("created_at", "last_30_days"),
    ]
    sort = [("amount", "desc")]
    first: dict[str, views.Page] = {}

    async def list_page(s: Any) -> views.Page:
        page = await views.list_items(s, actor, ItemType.DEAL, filters=filters, sort=sort, limit=50, now=now)
        first["page"] = page
        return page

    async def next_page(s: Any) -> views.Page | NoNextPage:
        cursor = first["page"].next_cursor
        if cursor is None:
            return NoNextPage()
        return await views.list_items(
            s, actor, ItemType.DEAL, filters=filters, sort=sort, limit=50, now=now, cursor=cursor
        )

    by_amount = {"filters": [Condition("amount", "gte", Decimal("1000"))], "sort": [("amount", "desc")]}

    async def amount_next_page(s: Any) -> views.Page:
        if "amount" not in first:
            first["amount"] = await views.list_items(s, actor, ItemType.DEAL, limit=50, now=now, **by_amount)
        cursor = first["amount"].next_cursor
        return await views.list_items(s, actor, ItemType.DEAL, limit=50, now=now, cursor=cursor, **by_amount)

    pipe = info.pipeline_id
    phone7 = info.sample_phone.replace(" ", "")[-7:]
    return [
        ("kanban counts and sums", lambda s: views.kanban(s, actor, pipe)),
        ("kanban counts and sums (before: scan)", lambda s: views.kanban_by_scan(s, actor, pipe)),
        ("kanban all stages", lambda s: views.kanban(s, actor, pipe, include_closed=True)),
        ("kanban column page (20)", lambda s: views.stage_items(s, actor, stages[0], limit=20)),
        ("list: default order page (50)", lambda s: views.list_items(s, actor, ItemType.DEAL, limit=50)),
        ("list: filtered+sorted page (50)", list_page),
        ("list: next keyset page", next_page),
        ("list: by amount >= 1000, next keyset page", amount_next_page),
        (
            "list: by updated_at, page @offset 1000",
            lambda s: views.list_items(
                s, actor, ItemType.DEAL, sort=[("updated_at", "desc")], limit=50, offset=1000
            ),
        ),
        ("search: phone typed differently", lambda s: search_items(s, actor, info.sample_phone)),
        ("search: phone fragment (7 digits)", lambda s: search_items(s, actor, phone7)),
        ("search: name (prefix, common)", lambda s: search_items(s, actor, info.sample_last_name)),
        ("search: name (contains, rare)", lambda s: search_items(s, actor, "hting 12")),
        ("search: name (contains, common)", lambda s: search_items(s, actor, "ndow roo")),
        ("search: ref", lambda s: search_items(s, actor, f"D-{info.rows // 2}")),
    ]


async def run(
    dbs: list[tuple[Database, FillInfo]], runs: int
) -> list[dict[tuple[str, str], tuple[float, str]]]:
    """Every case on every database, the databases taking turns run by run (anchor, large, anchor,
    ...): a slower spell of the machine then weighs on both sizes alike, not on one of them."""
    now = datetime.now(UTC)
    sides = []
    for db, info in dbs:
        async with db.sessionmaker() as s:
            actors = {
                "admin": await s.get(User, info.admin_id),
                "salesperson": await s.get(User, info.sales_id),
            }
        sides.append({role: cases(info, actor, now) for role, actor in actors.items() if actor is not None})
    out: list[dict[tuple[str, str], tuple[float, str]]] = [{} for _ in dbs]
    for role in sides[0]:
        for i, (name, _) in enumerate(sides[0][role]):
            samples: list[list[float]] = [[] for _ in dbs]
            results: list[Any] = [None for _ in dbs]
            for _ in range(runs):
                for k, (db, _info) in enumerate(dbs):
                    ms, results[k] = await _timed(db, sides[k][role][i][1], 1)
                    samples[k].append(ms)
            for k in range(len(dbs)):
                out[k][(name, role)] = (statistics.median(samples[k]), _size(results[k]))
    return out


# --- filled databases, kept between runs ---------------------------------------------------------


async def _info(db: Database) -> FillInfo | None:
    async with db.engine.connect() as conn:
        try:
            raw = (await conn.execute(text("SELECT body FROM bench_info"))).scalar()
        except Exception:  # noqa: BLE001 - no such table: not filled (or not finished)
            return None
    return FillInfo(**json.loads(raw)) if raw else None


async def _save_info(db: Database, info: FillInfo) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE bench_info (body TEXT NOT NULL)"))
        await conn.execute(text("INSERT INTO bench_info (body) VALUES (:b)"), {"b": json.dumps(asdict(info))})


async def _pg_schema(url: str, schema: str, *, fresh: bool) -> None:
    admin = Database(url)
    try:
        async with admin.engine.begin() as conn:
            # pg_trgm lives in public: in a kept schema, dropping that schema would drop it (and
            # with it the other schemas' trigram indexes).
            place = (
                await conn.execute(
                    text(
                        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                        "ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
                    )
                )
            ).scalar()
            if place is None:
                await conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
            elif place != "public":
                await conn.execute(text("ALTER EXTENSION pg_trgm SET SCHEMA public"))
            if fresh:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        await admin.dispose()


async def filled(url: str, rows: int, args: argparse.Namespace) -> tuple[Database, FillInfo]:
    """A database of `rows` deals: the kept one, or filled now."""
    sqlite = not url or is_sqlite(url)
    path = Path(args.cache_dir) / f"views_{rows}.db"
    schema = f"{args.pg_schema}_{rows}"
    if sqlite:
        path.parent.mkdir(parents=True, exist_ok=True)
        db_url = f"sqlite+aiosqlite:///{path}"
    else:
        await _pg_schema(url, schema, fresh=False)
        db_url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    db = Database(db_url)
    info = None if args.refill else await _info(db)
    if info is not None:
        await migrate.upgrade(db.engine)  # a database kept from an older revision
        print(f"{rows:,} deals: reusing {db.engine.url.render_as_string(hide_password=True)}")
        return db, info
    await db.dispose()  # start from nothing (an earlier fill may have been interrupted)
    if sqlite:
        path.unlink(missing_ok=True)
    else:
        await _pg_schema(url, schema, fresh=True)
    db = Database(db_url)
    print(f"{rows:,} deals: filling {db.engine.url.render_as_string(hide_password=True)}")
    t0 = time.perf_counter()
    info = await fill(db, rows)
    await _save_info(db, info)
    print(f"  fill: {time.perf_counter() - t0:.1f}s total")
    return db, info


def _print_table(title: str, sizes: list[int], res: list[dict[tuple[str, str], tuple[float, str]]]) -> None:
    print(f"\n{title}")
    head = f"{'operation':<42} {'actor':<12}"
    for n in sizes:
        head += f" {f'{n:,} ms':>13}"
    if len(sizes) > 1:
        head += f" {'ratio':>6}"
    print(head + "  result (each size)")
    print("-" * len(head + "  result (each size)"))
    for key in res[0]:
        line = f"{key[0]:<42} {key[1]:<12}"
        nothing = [r[key][1] == NO_NEXT_PAGE for r in res]
        for r, none in zip(res, nothing, strict=True):
            line += f" {'-':>13}" if none else f" {r[key][0]:>13.1f}"
        if len(sizes) > 1 and any(nothing):
            line += f" {'-':>6}"
        elif len(sizes) > 1:
            line += f" {res[-1][key][0] / max(res[0][key][0], 0.001):>6.1f}"
        print(f"{line}  {' / '.join(r[key][1] for r in res)}")


async def main_async(args: argparse.Namespace) -> None:
    url = args.url or os.environ.get("DATABASE_URL") or ""
    sizes = sorted({args.anchor, args.rows})
    dbs = []
    try:
        for n in sizes:
            dbs.append(await filled(url, n, args))
        name = dbs[0][0].engine.dialect.name
        results = await run(dbs, args.runs)
    finally:
        for db, _ in dbs:
            await db.dispose()
    _print_table(f"{name}: median of {args.runs} runs; ratio = {sizes[-1]:,} / {sizes[0]:,}", sizes, results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="number of deals (others proportional)")
    p.add_argument("--anchor", type=int, default=10_000, help="the size the ratio is taken against")
    p.add_argument("--runs", type=int, default=15, help="timed runs per operation (median reported)")
    p.add_argument("--url", help="database URL (default: DATABASE_URL, else SQLite files in --cache-dir)")
    p.add_argument("--cache-dir", default="/tmp/crm_views_bench", help="where SQLite databases are kept")
    p.add_argument("--pg-schema", default="bench_views", help="PostgreSQL: prefix of the kept schemas")
    p.add_argument("--refill", action="store_true", help="fill again instead of reusing")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
