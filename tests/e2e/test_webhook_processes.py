"""Two real `crm-bot run` processes in webhook mode behind a round-robin proxy, on one PostgreSQL
and one Redis: every update is handled exactly once, each chat's in order, and the messages both
processes send keep within Telegram's limits together (the shared limiter in Redis): the fake
Telegram, which enforces them, never answers 429, even when both deliver a burst of reminders."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select

from bot.fake_telegram import FakeTelegram
from crm_core import migrate
from crm_core.clock import utcnow
from crm_core.db import Database, is_sqlite
from crm_core.models import Lead
from tests.core.factories import make_due_reminders, make_lead, make_user
from tests.e2e.harness import free_port, start_bot_process

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHATS = 8
PER_CHAT = 6
SECRET = "two-processes-secret"
REMINDERS = 300
REMINDER_PEOPLE = 100

pytestmark = pytest.mark.skipif(
    is_sqlite(os.environ.get("DATABASE_URL", "sqlite+aiosqlite://")),
    reason="several processes on one database is the PostgreSQL setup (runs in CI's PostgreSQL pass)",
)


class RoundRobinProxy:
    """The load balancer in front of the processes: each request to the next backend in turn."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turn = itertools.cycle(range(len(backends)))
        self.served = [0] * len(backends)
        self.app = web.Application()
        self.app.router.add_route("*", "/{path:.*}", self.forward)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.http: aiohttp.ClientSession | None = None

    async def start(self, port: int) -> None:
        self.http = aiohttp.ClientSession()
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()

    async def stop(self) -> None:
        await self.runner.cleanup()
        if self.http is not None:
            await self.http.close()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.http is not None
        n = next(self.turn)
        self.served[n] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.http.request(
            request.method, self.backends[n] + request.path_qs, data=await request.read(), headers=headers
        ) as resp:
            return web.Response(status=resp.status, body=await resp.read())


async def _clean_redis(bot_id: int) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    try:
        keys = [k async for k in client.scan_iter(f"*{bot_id}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _arrange_reminders(db: Database) -> list[int]:
    now = utcnow()
    async with db.unit_of_work() as s:
        people = [await make_user(s) for _ in range(REMINDER_PEOPLE)]
        lead = await make_lead(s, people[0])
        await make_due_reminders(s, people, lead, REMINDERS, due_at=now + timedelta(seconds=1), now=now)
        return [u.telegram_id for u in people]


def _phone(chat: int, n: int) -> str:
    return f"+7 999 {chat:03d} {n:02d} 00"


async def test_two_webhook_processes_handle_each_update_once_in_order_within_the_limits(
    database_url: str,
) -> None:
    db = Database(database_url)
    await migrate.upgrade(db.engine)
    users = [3000 + i for i in range(CHATS)]
    try:
        async with FakeTelegram() as tg:  # Telegram's real limits
            await _clean_redis(tg.bot_id)
            ports = [free_port(), free_port()]
            proxy_port = free_port()
            proxy = RoundRobinProxy([f"http://127.0.0.1:{p}" for p in ports])
            await proxy.start(proxy_port)
            tg.webhook_hosts["crm.example.com"] = f"http://127.0.0.1:{proxy_port}"
            env = {
                "WEBHOOK_URL": "https://crm.example.com/telegram",
                "WEBHOOK_SECRET": SECRET,
                "REDIS_URL": REDIS_URL,
                "ADMIN_IDS": ",".join(map(str, users)),
                "LOG_LEVEL": "WARNING",
            }
            procs = []
            try:
                for port in ports:
                    procs.append(
                        await start_bot_process(
                            tg, database_url, quiet=True, ready="setWebhook", HTTP_PORT=str(port), **env
                        )
                    )
                for uid in users:
                    tg.add_user(uid, f"Seller {uid}", language_code="en")
                # Every chat types its messages at once; the chats all together.
                for n in range(PER_CHAT):
                    for chat, uid in enumerate(users):
                        tg.send_text(uid, f"/new {_phone(chat, n)}")
                await tg.wait_for(lambda: tg.pending_updates_count == 0, timeout=180)

                def cards() -> int:
                    return sum(
                        1 for uid in users for m in tg.bot_messages(uid) if "created" in (m.text or "")
                    )

                await tg.wait_for(lambda: cards() >= CHATS * PER_CHAT, timeout=120)
                # Then many reminders come due at once: both processes deliver them, each at up to
                # DELIVERY_RATE_PER_SECOND on its own, which together would be twice Telegram's limit.
                for chat in await _arrange_reminders(db):
                    tg.add_user(chat, "Seller").started = True

                def delivered() -> int:
                    return sum(
                        1 for r in tg.calls("sendMessage") if r.ok and "job-" in r.params.get("text", "")
                    )

                await tg.wait_for(lambda: delivered() >= REMINDERS, timeout=180)
                await asyncio.sleep(2)  # anything doubled would show up by now
            finally:
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), timeout=60)
                await proxy.stop()
            assert all(served > 0 for served in proxy.served), proxy.served  # both processes worked
            assert all(status == 200 for _, status in tg.webhook_pushes)
            # Exactly once: one lead per message, one card per lead.
            async with db.sessionmaker() as s:
                # The typed ones (the reminders hang on a lead of their own).
                leads = list(await s.scalars(select(Lead).where(Lead.source == "manual").order_by(Lead.id)))
            assert len(leads) == CHATS * PER_CHAT
            assert len({lead.title for lead in leads}) == CHATS * PER_CHAT
            # In order: each chat's leads were made, and its cards sent, in the order it typed them.
            for chat, uid in enumerate(users):
                seen = []
                for m in tg.bot_messages(uid):
                    digits = re.sub(r"\D", "", m.text or "")
                    seen += [n for n in range(PER_CHAT) if f"7999{chat:03d}{n:02d}00" in digits]
                assert seen == list(range(PER_CHAT)), (uid, seen)
            assert delivered() == REMINDERS
            # Within the limits together: Telegram (the fake) never had to refuse a message.
            assert tg.errors(429) == []
            sent = sorted(r.time for r in tg.requests if r.method.startswith("send") and r.ok)
            # Strictly: at most 30 arrivals in any one second, however late some of them arrived.
            busiest = max(sum(1 for t in sent if start <= t < start + 1) for start in sent)
            assert busiest <= 30, busiest
    finally:
        await db.dispose()
