"""Import and export of many rows, and what another person feels meanwhile.

    python -m bench.import_bench --rows 100000 --export-rows 100000

Without DATABASE_URL temporary SQLite files are used; with it (PostgreSQL), each part runs in a
schema of its own, dropped afterwards. Measures: the import's wall time and rows
per second, the process's peak memory (max RSS) growth, the latency of another salesperson's
typical request (a list page and a field change, one unit of work) before and while the import
runs (p50/p99); then the export of `--export-rows` deals (a database filled by bench.fill) as CSV
and as XLSX, read a page per unit of work as the bot's background export does: time, peak memory,
and the same person's latency alone and meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text

from crm_core import migrate
from crm_core.db import Database, is_sqlite
from crm_core.fields import FieldContext
from crm_core.models.items import ItemType
from crm_core.models.users import Role, User
from crm_core.services import exports, imports, views
from crm_core.services import items as items_service

OTHER_EVERY = 0.05  # the other person's request rate while the import runs (20/s)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        f.write("Название лида;Имя;Фамилия;Мобильный телефон;Рабочий e-mail;Сумма;Источник;Комментарий\r\n")
        for i in range(rows):
            f.write(
                f"Заявка {i};Иван{i % 97};Петров{i % 89};"
                f"+7 916 {i // 10000:03d}-{i % 10000 // 100:02d}-{i % 100:02d};"
                f"user{i}@example.com;{i % 1000} {i % 1000:03d},50;Сайт;строка {i}\r\n"
            )


async def other_person(
    db: Database, user_id: int, lead_id: int, stop: asyncio.Event, out: list[float]
) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        async with db.unit_of_work() as s:
            user = await s.get(User, user_id)
            await views.list_items(s, user, ItemType.LEAD, limit=10, with_total=True)
            lead = await items_service.get_item(s, user, ItemType.LEAD, lead_id, for_edit=True)
            await items_service.update_item(s, user, lead, {"comment": f"note {len(out)}"})
        out.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(OTHER_EVERY)


def _pct(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def main(rows: int, url: str) -> None:
    db = Database(url)
    await migrate.upgrade(db.engine)
    async with db.unit_of_work() as s:
        admin = User(
            telegram_id=1, full_name="Admin", role=Role.ADMIN, language="ru", timezone="Europe/Moscow"
        )
        seller = User(telegram_id=2, full_name="Seller", role=Role.SALESPERSON, language="ru")
        s.add_all([admin, seller])
        await s.flush()
        lead = await items_service.create_lead(s, seller, title="Seller's own lead")
        admin_id, seller_id, lead_id = admin.id, seller.id, lead.id
    work = Path(tempfile.mkdtemp())
    src = work / "leads.csv"
    make_csv(src, rows)
    print(f"file: {rows:,} rows, {src.stat().st_size / 1e6:.1f} MB")

    quiet: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(other_person(db, seller_id, lead_id, stop, quiet))
    await asyncio.sleep(5)
    stop.set()
    await task
    print(f"other person alone: p50 {statistics.median(quiet):.1f} ms, p99 {_pct(quiet, 0.99):.1f} ms "
          f"({len(quiet)} requests)")  # fmt: skip

    rss0 = _rss_mb()
    t0 = time.perf_counter()
    table, mapping = imports.open_table(src.read_bytes(), src.name, ItemType.LEAD)
    job = imports.ImportJob(
        ItemType.LEAD,
        mapping,
        imports.Policy.SKIP,
        src.name,
        FieldContext.of("ru", "Europe/Moscow", region="RU"),
    )
    busy: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(other_person(db, seller_id, lead_id, stop, busy))
    last = [0.0]

    async def progress(r: imports.ImportResult) -> None:
        if time.perf_counter() - last[0] > 10:
            last[0] = time.perf_counter()
            print(f"  {r.done:,} rows, {r.done / (last[0] - t0):.0f} rows/s", flush=True)

    result = await imports.run_import(db, admin_id, table, job, progress=progress)
    elapsed = time.perf_counter() - t0
    stop.set()
    await task
    print(f"import: {elapsed:.1f} s, {rows / elapsed:.0f} rows/s; created {result.created:,}, "
          f"failed {len(result.failed)}; peak RSS +{_rss_mb() - rss0:.0f} MB "
          f"(max RSS {_rss_mb():.0f} MB)")  # fmt: skip
    print(f"other person during the import: p50 {statistics.median(busy):.1f} ms, "
          f"p99 {_pct(busy, 0.99):.1f} ms, max {max(busy):.1f} ms ({len(busy)} requests)")  # fmt: skip

    await db.dispose()


async def export_bench(rows: int, url: str) -> None:
    """Export `rows` deals (a database filled by bench.fill) as the admin, as CSV and as XLSX."""
    from bench.fill import fill

    db = Database(url)
    info = await fill(db, rows, log=lambda _m: None)
    async with db.unit_of_work() as s:
        seller = await s.get(User, info.sales_id)
        lead_id = (await items_service.create_lead(s, seller, title="Seller's own lead")).id
    quiet: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(other_person(db, info.sales_id, lead_id, stop, quiet))
    await asyncio.sleep(5)
    stop.set()
    await task
    print(f"other person alone: p50 {statistics.median(quiet):.1f} ms, p99 {_pct(quiet, 0.99):.1f} ms "
          f"({len(quiet)} requests)")  # fmt: skip
    work = Path(tempfile.mkdtemp())
    for fmt in ("csv", "xlsx"):
        busy: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(other_person(db, info.sales_id, lead_id, stop, busy))
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        out = work / f"export.{fmt}"
        # As the bot's background export reads: a page per unit of work.
        rows_iter = exports.export_rows_by_page(db.unit_of_work, info.admin_id, ItemType.DEAL)
        header = exports.export_columns(ItemType.DEAL)
        if fmt == "csv":
            with out.open("wb") as f:
                count = await exports.write_csv(rows_iter, header, f, "ru")
        else:
            count = await exports.write_xlsx(rows_iter, header, out)
        elapsed = time.perf_counter() - t0
        stop.set()
        await task
        print(f"export {fmt}: {count:,} deals in {elapsed:.1f} s ({count / elapsed:.0f} rows/s), "
              f"{out.stat().st_size / 1e6:.1f} MB, peak RSS +{_rss_mb() - rss0:.0f} MB; other person "
              f"meanwhile p50 {statistics.median(busy):.1f} ms, p99 {_pct(busy, 0.99):.1f} ms")  # fmt: skip
    await db.dispose()


@contextlib.asynccontextmanager
async def fresh_database(base: str | None, part: str) -> AsyncIterator[str]:
    """A new empty database for one part: a temporary SQLite file, or a PostgreSQL schema of its own
    (created and dropped here), so that one command runs both parts."""
    if not base or is_sqlite(base):
        yield f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/{part}.db"
        return
    schema = f"import_bench_{part}_{os.getpid()}"
    admin = Database(base)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def run_all(rows: int, export_rows: int) -> None:
    base = os.environ.get("DATABASE_URL")
    print("database:", "SQLite" if not base or is_sqlite(base) else "PostgreSQL")
    if rows:
        async with fresh_database(base, "import") as url:
            await main(rows, url)
    if export_rows:
        async with fresh_database(base, "export") as url:
            await export_bench(export_rows, url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="rows to import (0: none)")
    parser.add_argument("--export-rows", type=int, default=100_000, help="deals to export (0: none)")
    args = parser.parse_args()
    asyncio.run(run_all(args.rows, args.export_rows))
