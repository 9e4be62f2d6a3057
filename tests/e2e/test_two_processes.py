"""Two bot processes on one PostgreSQL database share the due reminders: each one goes out once."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.fake_telegram import FakeTelegram
from crm_core import migrate
from crm_core.clock import utcnow
from crm_core.db import Database, is_sqlite
from crm_core.models import ActivityReminder, ReminderState
from tests.core.factories import make_due_reminders, make_lead, make_user
from tests.e2e.harness import start_bot_process, unexpected_client_errors

N = 1000
PEOPLE = 50

pytestmark = pytest.mark.skipif(
    is_sqlite(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://")),
    reason="several processes on one database is the PostgreSQL setup (runs in CI's PostgreSQL pass)",
)


async def _arrange(db: Database) -> list[int]:
    now = utcnow()
    async with db.unit_of_work() as s:
        users = [await make_user(s) for _ in range(PEOPLE)]
        lead = await make_lead(s, users[0])
        await make_due_reminders(s, users, lead, N, due_at=now + timedelta(seconds=2), now=now)
        return [u.telegram_id for u in users]


async def test_two_processes_deliver_each_of_1000_reminders_once(database_url: str) -> None:
    db = Database(database_url)
    await migrate.upgrade(db.engine)
    try:
        async with FakeTelegram() as tg:  # Telegram's real limits
            # Both processes are up before anything is due: one starting seconds after the other
            # (a loaded machine) would otherwise find every reminder claimed already.
            procs = [
                await start_bot_process(
                    tg, database_url, quiet=True, LOG_LEVEL="WARNING", REMINDER_POLL_SECONDS="1"
                )
                for _ in range(2)
            ]
            try:
                for chat in await _arrange(db):
                    tg.add_user(chat, "Seller").started = True

                def delivered() -> list[str]:
                    return [
                        r.params["text"]
                        for r in tg.calls("sendMessage")
                        if r.ok and "job-" in r.params.get("text", "")
                    ]

                await tg.wait_for(lambda: len(delivered()) >= N, timeout=240)
                await asyncio.sleep(3)  # anything doubled would show up by now
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout=60)
            # Two pollers on one token take turns: each poll ends the other's with a 409, as
            # Telegram does. Nothing else may be refused (429 is the pacing noted below).
            assert unexpected_client_errors(tg, allow=(("getUpdates", 409),)) == []
            jobs = [text.split("job-")[1].split("-")[0] for text in delivered()]
            assert len(jobs) == N and len(set(jobs)) == N
            # Not asserted here: two processes pacing the same chats may still, rarely, ask a chat in
            # the moment between another's 429 and its record of it (see the closing note).
        async with db.sessionmaker() as s:
            sent = await s.scalar(
                select(func.count())
                .select_from(ActivityReminder)
                .where(ActivityReminder.state == ReminderState.SENT)
            )
            workers = await s.scalar(select(func.count(func.distinct(ActivityReminder.claimed_by))))
        assert sent == N
        assert workers >= 2  # both processes took part
    finally:
        await db.dispose()
