"""Reminder delivery benchmark against the fake Bot API with Telegram's real limits.

1. N reminders due at the same moment (default N = 1,000 and 10,000), delivered by one process on
   SQLite, one on PostgreSQL, and two processes on PostgreSQL sharing the limits in Redis: delay of
   the first send, total time vs the ideal N/30 s, the rate as a share of Telegram's 30/s, the
   busiest second (sliding, as the fake saw the sends arrive), 429s received, lost and duplicated
   reminders.
2. Start-up time and RSS of `python -m bot.cli run` with 1,000,000 pending reminders (rows bulk
   inserted), next to an empty database.

    python bench/reminders_bench.py [--n 1000 10000] [--runs sqlite:1 pg:1 pg:2] [--pending 1000000]
                                    [--skip-startup]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis  # noqa: E402
from sqlalchemy import text, update  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bench.bytecode import byte_compile  # noqa: E402
from bot.app import create_bot  # noqa: E402
from bot.fake_telegram import FakeTelegram  # noqa: E402
from bot.sender import TelegramSender  # noqa: E402
from bot.shared_limits import SendLimits, SharedSendLimiter  # noqa: E402
from config.settings import Settings  # noqa: E402
from crm_core import migrate  # noqa: E402
from crm_core.db import Database  # noqa: E402
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, ReminderState  # noqa: E402
from crm_core.models.users import User  # noqa: E402
from crm_core.services import items as items_svc  # noqa: E402
from handlers.notify_render import NotifyRenderer  # noqa: E402
from scheduler.delivery import DeliveryConfig, DeliveryEngine  # noqa: E402

JOB = re.compile(r"job-(\d+)-")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


async def _database(path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(db.engine)
    await db.dispose()


def _seed(path: Path, *, users: int, reminders: int, due: datetime, first_tg: int) -> None:
    """Users, one lead, one activity per reminder, and the reminder rows, inserted directly."""
    con = sqlite3.connect(path)
    now = _iso(datetime.now(UTC))
    cur = con.cursor()
    cur.executemany(
        "INSERT INTO users (id, telegram_id, full_name, language, language_chosen, timezone, role, is_active,"
        " reminder_offsets, digest_time, digest_workdays_only, created_at, updated_at)"
        " VALUES (?, ?, ?, 'en', 0, 'UTC', 'salesperson', 1, '[0]', '09:00:00', 1, ?, ?)",
        [(i + 1, first_tg + i, f"User {i}", now, now) for i in range(users)],
    )
    stage, pipeline = cur.execute(
        "SELECT id, pipeline_id FROM stages WHERE sort = (SELECT min(sort) FROM stages) ORDER BY id LIMIT 1"
    ).fetchone()
    cur.execute(
        "INSERT INTO leads (id, title, responsible_id, pipeline_id, stage_id, stage_entered_at, closed, won,"
        " currency, is_return_customer, version, created_at, updated_at)"
        " VALUES (1, 'Bench lead', 1, ?, ?, ?, 0, 0, 'RUB', 0, 1, ?, ?)",
        (pipeline, stage, now, now, now),
    )
    due_s = _iso(due)
    batch = 50_000
    for start in range(0, reminders, batch):
        ids = range(start + 1, min(reminders, start + batch) + 1)
        cur.executemany(
            "INSERT INTO activities (id, owner_type, owner_id, type, subject, description, deadline,"
            " responsible_id, direction, completed, created_at, updated_at)"
            " VALUES (?, 'lead', 1, 'call', ?, '', ?, ?, 'planned', 0, ?, ?)",
            [(i, f"job-{i}", due_s, (i - 1) % users + 1, now, now) for i in ids],
        )
        cur.executemany(
            "INSERT INTO activity_reminders (id, activity_id, user_id, kind, offset_minutes, due_at, state,"
            " attempts, late, created_at) VALUES (?, ?, ?, 'reminder', 0, ?, 'pending', 0, 0, ?)",
            [(i, i, (i - 1) % users + 1, due_s, now) for i in ids],
        )
    con.commit()
    con.close()


async def _seed_burst(db: Database, *, users: int, reminders: int, due: datetime, first_tg: int) -> None:
    """Users, one lead, one activity with one pending reminder each, through the models (so the
    same seeding serves SQLite and PostgreSQL); subjects "job-<n>-" name each delivered text."""
    async with db.unit_of_work() as s:
        people = [
            User(telegram_id=first_tg + i, full_name=f"User {i}", language="en", reminder_offsets=[0])
            for i in range(users)
        ]
        s.add_all(people)
        await s.flush()
        lead = await items_svc.create_lead(s, people[0], title="Bench lead")
        for start in range(0, reminders, 5000):
            activities = [
                Activity(owner_type="lead", owner_id=lead.id, deadline=due, subject=f"job-{i}-",
                         responsible_id=people[i % users].id)
                for i in range(start, min(reminders, start + 5000))
            ]  # fmt: skip
            s.add_all(activities)
            await s.flush()
            s.add_all(
                ActivityReminder(activity_id=a.id, user_id=a.responsible_id, kind=ReminderKind.REMINDER,
                                 offset_minutes=0, due_at=due, state=ReminderState.PENDING, attempts=0,
                                 late=False)
                for a in activities
            )  # fmt: skip
            await s.flush()


@asynccontextmanager
async def _bench_database(kind: str, pg_url: str) -> AsyncIterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL database dropped and created."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            db = Database(url)
            await migrate.upgrade(db.engine)
            await db.dispose()
            yield url
        return
    base, _, name = pg_url.rpartition("/")
    admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as con:
            await con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await con.execute(text(f'CREATE DATABASE "{name}"'))
        db = Database(pg_url)
        await migrate.upgrade(db.engine)
        await db.dispose()
        yield pg_url
        async with admin.connect() as con:
            await con.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


async def _worker() -> None:
    """One more process delivering (--processes 2): the bot's delivery engine with the shared
    limiter in Redis, as `crm-bot run` sets them up, until SIGTERM."""
    env = os.environ
    db = Database(env["DATABASE_URL"])
    bot = create_bot(env["BOT_TOKEN"], env["TELEGRAM_API_URL"], wait_out_flood_control=False)
    redis = aioredis.from_url(env["REDIS_URL"])
    bot.session.middleware(
        SharedSendLimiter(
            redis, bot.id, SendLimits.per_second(Settings.model_fields["delivery_rate_per_second"].default)
        )
    )
    engine = DeliveryEngine(db, TelegramSender(bot), NotifyRenderer(), config=DeliveryConfig())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    engine.start()
    print("ready", flush=True)
    await stop.wait()
    await engine.stop()
    await bot.session.close()
    await redis.aclose()
    await db.dispose()


async def _start_workers(count: int, env: dict[str, str]) -> list[asyncio.subprocess.Process]:
    procs = []
    for _ in range(count):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", env=env, stdout=asyncio.subprocess.PIPE
        )
        procs.append(proc)
    for proc in procs:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        assert line.strip() == b"ready", line
    return procs


def _busiest_second(times: list[float]) -> int:
    """The most sends in any one second (sliding), as Telegram counts them."""
    times = sorted(times)
    busiest, first = 0, 0
    for last, t in enumerate(times):
        while times[first] <= t - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest


async def burst(
    n: int, *, kind: str = "sqlite", processes: int = 1, pg_url: str = "", redis_url: str = ""
) -> dict:
    """N reminders due at one moment, delivered by one process (in this one, its own buckets) or
    by `processes` worker processes sharing the limits in Redis."""
    users = min(n, 1000)
    first_tg = 5_000_000
    async with _bench_database(kind, pg_url) as url, FakeTelegram(rate_limits=True) as tg:
        for i in range(users):
            tg.add_user(first_tg + i, f"U{i}")
            tg.users[first_tg + i].started = True
        db = Database(url)
        procs: list[asyncio.subprocess.Process] = []
        if processes > 1:
            # Started first (imports take seconds): they find the rows on their next look.
            redis = aioredis.from_url(redis_url)
            keys = [k async for k in redis.scan_iter(f"sendrate:{tg.bot_id}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()
            env = dict(os.environ, DATABASE_URL=url, BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url,
                       REDIS_URL=redis_url)  # fmt: skip
            procs = await _start_workers(processes, env)
        # Due once seeded and (with workers) after their next poll of the database.
        lead_time = 3.0 if processes == 1 else DeliveryConfig().poll_seconds + 1.0
        await _seed_burst(
            db, users=users, reminders=n, due=datetime.now(UTC) + timedelta(days=1), first_tg=first_tg
        )
        due = datetime.now(UTC) + timedelta(seconds=lead_time)
        async with db.unit_of_work() as s:  # all due at one moment, from now on
            await s.execute(update(ActivityReminder).values(due_at=due))
            await s.execute(update(Activity).values(deadline=due))
        mono_at_due = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
        start_requests = len(tg.requests)
        engine = bot = None
        if processes == 1:
            bot = create_bot(tg.token, tg.base_url, wait_out_flood_control=False)
            engine = DeliveryEngine(db, TelegramSender(bot), NotifyRenderer(), config=DeliveryConfig())
            engine.start()

        def delivered() -> int:
            return sum(1 for r in tg.requests[start_requests:] if r.method == "sendMessage" and r.ok)

        deadline = time.monotonic() + n / 20 + 120
        while delivered() < n and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # anything extra (a duplicate) would show up now
        if engine is not None and bot is not None:
            await engine.stop()
            await bot.session.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        await asyncio.gather(*(proc.wait() for proc in procs))
        await db.dispose()
        sends = [r for r in tg.requests[start_requests:] if r.method == "sendMessage"]
        ok = [r for r in sends if r.ok]
        jobs = Counter(m.group(1) for r in ok if (m := JOB.search(r.params.get("text", ""))))
        first = min(r.time for r in ok) - mono_at_due if ok else float("nan")
        total = max(r.time for r in ok) - mono_at_due if ok else float("nan")
        return {
            "db": kind,
            "processes": processes,
            "n": n,
            "first_send_delay_s": round(first, 3),
            "total_s": round(total, 1),
            "ideal_s": round(n / 30, 1),
            "rate_of_30": f"{len(jobs) / total / 30:.1%}" if ok else "-",
            "busiest_second": _busiest_second([r.time for r in ok]) if ok else 0,
            "429s": sum(1 for r in sends if r.error_code == 429),
            "early_retries": len(tg.early_retries),
            "lost": n - len(jobs),
            "duplicated": sum(c - 1 for c in jobs.values() if c > 1),
        }


async def startup(pending: int) -> dict[str, float]:
    byte_compile()  # as bench.throughput does: a start is timed as a normal install makes it
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "startup.db"
        await _database(path)
        t0 = time.monotonic()
        if pending:
            _seed(
                path,
                users=1000,
                reminders=pending,
                due=datetime.now(UTC) + timedelta(days=30),
                first_tg=6_000_000,
            )
        seed_s = time.monotonic() - t0
        async with FakeTelegram() as tg:
            env = dict(os.environ, BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url,
                       DATABASE_URL=f"sqlite+aiosqlite:///{path}", LOG_LEVEL="WARNING")  # fmt: skip
            t0 = time.monotonic()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", env=env, cwd=str(Path(__file__).resolve().parents[1]),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await tg.wait_for(lambda: tg.calls("getUpdates"), timeout=120)
            ready = time.monotonic() - t0
            await asyncio.sleep(5.0)  # the delivery loop has looked at the database a few times
            rss_kb = 0
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kb = int(line.split()[1])
            proc.terminate()
            await proc.wait()
            return {"pending": pending, "seed_s": round(seed_s, 1), "startup_s": round(ready, 2),
                    "rss_mb": round(rss_kb / 1024, 1)}  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument(
        "--runs", nargs="*", default=["sqlite:1", "pg:1", "pg:2"],
        help="database:processes for each burst (pg ones are skipped when PostgreSQL is not reachable)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/crm_reminders_bench"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        await _worker()
        return
    for n in args.n:
        for run in args.runs:
            kind, _, processes = run.partition(":")
            try:
                result = await burst(
                    n, kind=kind, processes=int(processes or 1), pg_url=args.pg_url, redis_url=args.redis_url
                )
            except OSError as exc:  # PostgreSQL or Redis not reachable
                print("burst", run, "skipped:", exc, flush=True)
                continue
            print("burst", result, flush=True)
    if not args.skip_startup:
        print("startup", await startup(0), flush=True)
        print("startup", await startup(args.pending), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
