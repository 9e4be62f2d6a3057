"""Runs the real bot (the production dispatcher factory and polling, a real aiogram HTTP session)
against the fake Bot API server, and speaks for the people in the chat."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from bot.app import BotApp, create_bot
from bot.fake_telegram import FakeTelegram
from bot.fake_telegram.models import StoredMessage
from config import load_settings
from crm_core.clock import utcnow
from crm_core.models import ActivityReminder, Notification, NotificationState, ReminderState


class ErrorLog(logging.Handler):
    """Every ERROR the bot logs while it runs: a handler that raised, an error it could not handle."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        out = []
        for r in self.records:
            exc = f" ({r.exc_info[0].__name__}: {r.exc_info[1]})" if r.exc_info and r.exc_info[1] else ""
            out.append(f"{r.name}: {r.getMessage()}{exc}")
        return out


class Harness:
    def __init__(self, tg: FakeTelegram, app: BotApp, errors: ErrorLog | None = None) -> None:
        self.tg = tg
        self.app = app
        self.logged_errors = errors or ErrorLog()
        self.stop_mark: int | None = None  # how many requests the fake had seen when the bot was told to stop
        self.task: asyncio.Task[None] | None = None  # the bot's run()

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every injected update was handled and confirmed, and what that queued for
        delivery right away (notifications, due reminders) has gone out, so that a pushed message
        belongs to the step that caused it."""
        poller = self.app.poller
        await self.tg.wait_for(lambda: self.tg.pending_updates_count == 0 and poller.idle, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, 5.0)
        while await self._deliveries_due() and loop.time() < deadline:
            await asyncio.sleep(0.05)

    async def _deliveries_due(self) -> bool:
        now = utcnow()
        async with self.app.db.sessionmaker() as s:
            notes = await s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.state.in_((NotificationState.PENDING, NotificationState.CLAIMED)),
                    Notification.available_at <= now,
                )
            )
            reminders = await s.scalar(
                select(func.count())
                .select_from(ActivityReminder)
                .where(
                    ActivityReminder.state.in_((ReminderState.PENDING, ReminderState.CLAIMED)),
                    ActivityReminder.due_at <= now,
                )
            )
        return bool(notes or reminders)

    async def say(self, user_id: int, text: str, chat_id: int | None = None) -> list[StoredMessage]:
        """Send a message as the user; return the bot's new messages in that chat."""
        marker = self.tg.mark()
        self.tg.send_text(user_id, text, chat_id)
        await self.settle()
        return self.new_bot_messages(chat_id or user_id, marker)

    async def press(
        self, user_id: int, message: StoredMessage, text: str, chat_id: int | None = None
    ) -> list[StoredMessage]:
        """Press the button whose label contains `text`; return new bot messages (edits re-read)."""
        label = find_button(self.current(message), text)
        chat = chat_id or user_id
        before = {m.message_id: m.edit_count for m in self.tg.bot_messages(chat)}
        self.tg.press_button(user_id, message.message_id, button_text=label, chat_id=chat_id)
        await self.settle()
        return [m for m in self.tg.bot_messages(chat) if before.get(m.message_id) != m.edit_count]

    def new_bot_messages(self, chat_id: int, marker: int) -> list[StoredMessage]:
        return [m for m in self.tg.bot_messages(chat_id) if m.seq > marker]

    def current(self, message: StoredMessage) -> StoredMessage:
        """The message as it is now, after edits."""
        found = self.tg.get_message(message.chat_id, message.message_id)
        assert found is not None
        return found

    def bad_requests(self) -> list[Any]:
        return self.tg.errors(400)

    def client_errors(self) -> list[tuple[str, int, str | None]]:
        """The Bot API's 4xx answers (bad request, forbidden, not found, conflict...). A 429 is
        flow control the bot waits out, not a mistake of its request."""
        requests = self.tg.requests
        stop = len(requests) if self.stop_mark is None else self.stop_mark
        # Stopping abandons the long poll then pending; the server ends it with a 409 no one waits
        # for (on the bot's confirming getUpdates, as Telegram does, or on the fake's own stop).
        polls = [i for i in range(stop) if requests[i].method == "getUpdates"]
        abandoned = polls[-1] if polls and self.stop_mark is not None else None
        return [
            (e.method, e.status, e.description)
            for i, e in enumerate(requests)
            if not e.ok and 400 <= e.status < 500 and e.status != 429 and i != abandoned
        ]


def check_clean_run(harness: Harness, node: Any) -> None:
    """Fail a test in which a handler raised or the bot logged an error, or Telegram answered a
    request with a 4xx, unless the test is marked as expecting it (with the reason)."""
    from tests.reliability.report import REPORT

    REPORT.bot_runs += 1
    REPORT.faults.update(harness.tg.faults_injected)
    marker = node.get_closest_marker("handler_errors_expected")
    if marker is not None:
        REPORT.expected_errors += len(harness.logged_errors.records)
    else:
        REPORT.unhandled += len(harness.logged_errors.records)
    if marker is None:
        logged = harness.logged_errors.lines()
        assert logged == [], f"the bot logged errors: {logged}"
    else:
        assert marker.kwargs.get("reason"), "say why handler errors are expected: reason=..."
    marker = node.get_closest_marker("telegram_errors_expected")
    if marker is None:
        rejected = harness.client_errors()
        assert rejected == [], f"Telegram answered with 4xx: {rejected}"
    else:
        assert marker.kwargs.get("reason"), "say why Telegram errors are expected: reason=..."


def find_button(message: StoredMessage, text: str) -> str:
    labels = [label for row in message.inline_keyboard for (label, _data, _url) in row]
    matches = [label for label in labels if text.lower() in label.lower()]
    assert matches, f"no button with {text!r} among {labels}"
    return matches[0]


@asynccontextmanager
async def running_bot(
    database_url: str, *, admin_ids: list[int] | None = None, tg: FakeTelegram | None = None, **settings: Any
) -> AsyncIterator[Harness]:
    """The bot against a fake Telegram of its own, or against `tg` (started, and left running)."""
    own_fake = tg is None
    if tg is None:
        tg = FakeTelegram(rate_limits=True)
        await tg.start()
    if settings.get("webhook_url"):
        # The fake posts to the bot's own HTTP server, as the TLS proxy of a deployment would.
        host = urlsplit(settings["webhook_url"]).hostname or ""
        tg.webhook_hosts[host] = f"http://127.0.0.1:{settings['http_port']}"
    cfg = load_settings(
        bot_token=tg.token,
        telegram_api_url=tg.base_url,
        database_url=database_url,
        admin_ids=",".join(str(i) for i in admin_ids or []),
        shutdown_timeout=settings.pop("shutdown_timeout", 5.0),
        redis_url=settings.pop("redis_url", None),  # in-memory FSM unless a test asks for Redis
        **settings,
    )
    from crm_core.db import Database

    if cfg.redis_url:
        await _forget_screens(cfg.redis_url, tg.bot_id)
    app = BotApp(cfg, create_bot(tg.token, tg.base_url), Database(cfg.database_url))
    errors = ErrorLog()
    harness: Harness | None = None
    logging.getLogger().addHandler(errors)
    started = _started(tg)
    task = asyncio.create_task(app.run())
    try:
        await tg.wait_for(lambda: _started(tg) > started or task.done(), timeout=10)
        if task.done():
            task.result()
        harness = Harness(tg, app, errors)
        harness.task = task
        yield harness
    finally:
        if harness is not None and harness.stop_mark is None:  # unless the test stopped it
            harness.stop_mark = len(tg.requests)
        app.stop()
        try:
            await asyncio.wait_for(task, timeout=15)
            if own_fake:
                await tg.stop()
        finally:
            logging.getLogger().removeHandler(errors)


def _started(tg: FakeTelegram) -> int:
    """A bot is up once it polls, or once it has set its webhook."""
    return len(tg.calls("getUpdates")) + len(tg.calls("setWebhook"))


def free_port() -> int:
    """A TCP port nobody listens on now (for a bot's HTTP server in a test)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _forget_screens(redis_url: str, bot_id: int) -> None:
    """Each fake starts its message ids afresh, so what an earlier test's bot drew in "message 5"
    (handlers.ui remembers it in Redis) says nothing about this one's."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"screen:{bot_id}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def start_bot_process(
    tg: FakeTelegram, database_url: str, *, quiet: bool = False, ready: str = "getUpdates", **env: str
) -> asyncio.subprocess.Process:
    """A real `crm-bot run` process against the fake, as a deployment runs it; returns once it calls
    `ready` (it polls; "setWebhook" in webhook mode). Its output is piped (read it with
    communicate()) unless `quiet`."""
    environ = {**os.environ, "LOG_LEVEL": "INFO", **env}
    environ.update(BOT_TOKEN=tg.token, TELEGRAM_API_URL=tg.base_url, DATABASE_URL=database_url)
    before = len(tg.calls(ready))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=environ,
        stdout=asyncio.subprocess.DEVNULL if quiet else asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    await tg.wait_for(lambda: len(tg.calls(ready)) > before or proc.returncode is not None, timeout=90)
    if proc.returncode is not None:
        output = b"" if quiet else await proc.stdout.read()  # type: ignore[union-attr]
        raise AssertionError(f"crm-bot run exited with {proc.returncode}: {output.decode()}")
    return proc


def unexpected_client_errors(
    tg: FakeTelegram, *, allow: tuple[tuple[str, int], ...] = ()
) -> list[tuple[str, int, str | None]]:
    """For tests that run real bot processes: every 4xx the fake answered (429, flow control,
    aside) but the (method, status) pairs the test names as expected."""
    return [
        (r.method, r.status, r.description)
        for r in tg.requests
        if not r.ok and 400 <= r.status < 500 and r.status != 429 and (r.method, r.status) not in allow
    ]


# A process stopped while its long poll waits abandons it; the server ends it with a 409 once the
# process (or the next one) asks again.
ABANDONED_POLL = (("getUpdates", 409),)


def logged_errors(output: str) -> list[str]:
    """ERROR lines and tracebacks in a bot process's output (crm-bot's log format)."""
    from tests.reliability.report import REPORT

    lines = [line for line in output.splitlines() if " ERROR " in line or line.startswith("Traceback")]
    REPORT.bot_runs += 1
    REPORT.unhandled += len(lines)
    return lines
