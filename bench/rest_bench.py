"""Time the REST API over HTTP on a local port: `crm.lead.list` pages per second (50 leads a page,
with `total`, as a salesperson's token sees them) and `batch` of 50 `crm.lead.add` per second.

    python -m bench.rest_bench --rows 10000
    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/test python -m bench.rest_bench \
        --pg-schema rest_bench

Without DATABASE_URL a temporary SQLite file is used. With --pg-schema the schema is created,
used through `options=-csearch_path=...`, and dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlalchemy import insert, select, text

from crm_core import migrate
from crm_core.clock import utcnow
from crm_core.db import Database, is_sqlite
from crm_core.models.items import ItemType, Lead, Pipeline, Stage
from crm_core.models.users import Role, User
from crm_core.services import rest_tokens
from handlers.context import HandlerOptions
from handlers.http import setup_routes


async def prepare(db: Database, rows: int) -> tuple[int, str]:
    """An admin and a salesperson with `rows` leads (and as many of the admin's, not visible to
    the salesperson); the salesperson's webhook path."""
    await migrate.upgrade(db.engine)
    now = utcnow()
    async with db.unit_of_work() as s:
        admin = User(telegram_id=9_000_000_001, full_name="Admin", role=Role.ADMIN)
        sales = User(telegram_id=9_000_000_002, full_name="Sales", role=Role.SALESPERSON)
        s.add_all([admin, sales])
        await s.flush()
        issued = await rest_tokens.create_token(s, admin, sales.id)
        pipeline = await s.scalar(select(Pipeline.id).where(Pipeline.entity_type == ItemType.LEAD))
        stage = await s.scalar(select(Stage.id).where(Stage.pipeline_id == pipeline, Stage.code == "NEW"))
        owners = (sales.id, admin.id)
        path = f"/rest/{sales.id}/{issued.secret}/"
    batch: list[dict] = []
    for i in range(rows * 2):
        owner = owners[i % 2]
        batch.append(
            dict(title=f"Lead {i}", amount=Decimal(i % 1000), currency="RUB", pipeline_id=pipeline,
                 stage_id=stage, stage_entered_at=now, responsible_id=owner, created_by_id=owner,
                 updated_by_id=owner, created_at=now - timedelta(seconds=i), updated_at=now, version=1,
                 closed=False, won=False, is_return_customer=False)
        )  # fmt: skip
        if len(batch) == 2000:
            async with db.unit_of_work() as s:
                await s.execute(insert(Lead), batch)
            batch = []
    if batch:
        async with db.unit_of_work() as s:
            await s.execute(insert(Lead), batch)
    return sales.id, path


async def bench(db: Database, rows: int, pages: int, batches: int) -> None:
    _, path = await prepare(db, rows)
    app = web.Application()
    setup_routes(app, db, HandlerOptions(rest_rate_per_second=1e6, rest_burst=10**9))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook = f"http://127.0.0.1:{port}{path}"
    try:
        async with aiohttp.ClientSession() as http:
            last_page = max(rows // 50 - 1, 0)
            for label, query in (
                ("crm.lead.list, select *, with total", "order[ID]=ASC"),
                ("crm.lead.list, select ID,TITLE,PHONE",
                 "order[ID]=ASC&select[]=ID&select[]=TITLE&select[]=PHONE"),
                ("crm.lead.list, start=-1 (no count)", "order[ID]=ASC&start=-1"),
            ):  # fmt: skip
                t0 = time.perf_counter()
                for n in range(pages):
                    start = "" if "start=-1" in query else f"&start={(n * 37 % (last_page + 1)) * 50}"
                    async with http.get(f"{hook}crm.lead.list?{query}{start}") as resp:
                        body = await resp.json()
                        assert resp.status == 200 and len(body["result"]) == 50, body
                took = time.perf_counter() - t0
                print(f"{label:<42} {pages / took:8.1f} pages/s  ({took / pages * 1000:.1f} ms a page)")
            t0 = time.perf_counter()
            for b in range(batches):
                cmd = {
                    f"c{i}": f"crm.lead.add?fields[TITLE]={quote(f'Batch {b}-{i}')}&fields[OPPORTUNITY]=100"
                    for i in range(50)
                }
                async with http.post(f"{hook}batch", json={"halt": 0, "cmd": cmd}) as resp:
                    body = await resp.json()
                    assert resp.status == 200 and not body["result"]["result_error"], body
                    assert len(body["result"]["result"]) == 50
            took = time.perf_counter() - t0
            rate = batches / took
            print(f"{'batch of 50 crm.lead.add':<42} {rate:8.2f} batches/s = {rate * 50:.0f} leads/s")
    finally:
        await runner.cleanup()


async def main_async(args: argparse.Namespace) -> None:
    url = args.url or os.environ.get("DATABASE_URL")
    tmp = None
    if not url:
        tmp = tempfile.mkdtemp(prefix="crm_rest_bench_")
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
        seen = f"the token's user sees {args.rows:,} of {args.rows * 2:,} leads"
        print(f"database: {db.engine.dialect.name}; {seen}")
        await bench(db, args.rows, args.pages, args.batches)
    finally:
        await db.dispose()
        if admin_db is not None:
            async with admin_db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{args.pg_schema}" CASCADE'))
            await admin_db.dispose()
        if tmp:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000, help="leads the token's user sees (as many others)")
    p.add_argument("--pages", type=int, default=200, help="list pages fetched per case")
    p.add_argument("--batches", type=int, default=20, help="batches of 50 crm.lead.add")
    p.add_argument("--url", help="database URL (default: DATABASE_URL, else a temporary SQLite file)")
    p.add_argument("--pg-schema", help="PostgreSQL: create this schema, run in it, drop it afterwards")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
