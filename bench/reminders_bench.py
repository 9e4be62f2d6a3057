"""Reminder delivery benchmark against the fake Bot API with Telegram's real limits.

1. N reminders due at the same moment (default N = 1,000 and 10,000): delay of the first send,
   total time vs the ideal N/30 s, 429s received, lost and duplicated reminders.
2. Start-up time and RSS of `python -m bot.cli run` with 1,000,000 pending reminders (rows bulk
   inserted), next to an empty database.

    python bench/reminders_bench.py [--n 1000 10000] [--pending 1000000] [--skip-startup]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import create_bot  # noqa: E402
from bot.fake_telegram import FakeTelegram  # noqa: E402
from bot.sender import TelegramSender  # noqa: E402
from crm_core import migrate  # noqa: E402
from crm_core.db import Database  # noqa: E402
from handlers.notify_render import NotifyRenderer  # noqa: E402
from scheduler.delivery import DeliveryConfig, DeliveryEngine  # noqa: E402


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


async def burst(n: int) -> dict[str, float]:
    users = min(n, 1000)
    first_tg = 5_000_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        await _database(path)
        async with FakeTelegram(rate_limits=True) as tg:
            for i in range(users):
                tg.add_user(first_tg + i, f"U{i}")
                tg.users[first_tg + i].started = True
            due = datetime.now(UTC) + timedelta(seconds=3)
            _seed(path, users=users, reminders=n, due=due, first_tg=first_tg)
            db = Database(f"sqlite+aiosqlite:///{path}")
            bot = create_bot(tg.token, tg.base_url)
            engine = DeliveryEngine(db, TelegramSender(bot), NotifyRenderer(), config=DeliveryConfig())
            engine.start()
            mono_at_due = time.monotonic() + (due - datetime.now(UTC)).total_seconds()
            start_requests = len(tg.requests)

            def delivered() -> int:
                return sum(1 for r in tg.requests[start_requests:] if r.method == "sendMessage" and r.ok)

            deadline = time.monotonic() + n / 20 + 120
            while delivered() < n and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            await asyncio.sleep(2.0)  # anything extra (a duplicate) would show up now
            await engine.stop()
            await bot.session.close()
            await db.dispose()
            sends = [r for r in tg.requests[start_requests:] if r.method == "sendMessage"]
            ok = [r for r in sends if r.ok]
            jobs = Counter(r.params["text"].split("job-")[1].split("\n")[0] for r in ok)
            first = min(r.time for r in ok) - mono_at_due if ok else float("nan")
            total = max(r.time for r in ok) - mono_at_due if ok else float("nan")
            return {
                "n": n,
                "first_send_delay_s": round(first, 3),
                "total_s": round(total, 1),
                "ideal_s": round(n / 30, 1),
                "429s": sum(1 for r in sends if r.error_code == 429),
                "early_retries": len(tg.early_retries),
                "lost": n - len(jobs),
                "duplicated": sum(c - 1 for c in jobs.values() if c > 1),
            }


async def startup(pending: int) -> dict[str, float]:
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
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    for n in args.n:
        print("burst", await burst(n), flush=True)
    if not args.skip_startup:
        print("startup", await startup(0), flush=True)
        print("startup", await startup(args.pending), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
