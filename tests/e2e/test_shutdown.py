"""SIGTERM while a handler is still working: it finishes, its update is confirmed once, and an
update that arrives during shutdown is handled by the next process, not lost and not doubled."""

from __future__ import annotations

import asyncio
import signal

from bot.fake_telegram import FakeTelegram
from tests.e2e.harness import ABANDONED_POLL, logged_errors, start_bot_process, unexpected_client_errors

ADMIN = 7007


async def _start_bot(tg: FakeTelegram, database_url: str) -> asyncio.subprocess.Process:
    return await start_bot_process(tg, database_url, ADMIN_IDS=str(ADMIN), SHUTDOWN_TIMEOUT="20")


async def test_sigterm_during_a_slow_handler_loses_nothing(database_url: str) -> None:
    async with FakeTelegram() as tg:
        tg.add_user(ADMIN, "Anna", language_code="en")
        proc = await _start_bot(tg, database_url)
        tg.send_text(ADMIN, "/start")
        await tg.wait_bot_messages(ADMIN, 1, timeout=10)

        # The reply to /help hangs in Telegram for 2 s: the handler is mid-flight at SIGTERM.
        tg.delay_next("sendMessage", 2.0)
        help_update = tg.send_text(ADMIN, "/help")
        await tg.wait_for(lambda: _handed_out(tg, help_update["update_id"]), timeout=5)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)
        tg.send_text(ADMIN, "/menu")  # arrives while the bot is shutting down

        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, out.decode()
        assert logged_errors(out.decode()) == []
        assert "start-up heap settled" in out.decode()  # frozen before the first update
        texts = _replies(tg)
        assert sum("Commands" in t for t in texts) == 1, texts  # /help was answered before exit
        assert not any(t.startswith("Main menu") for t in texts[1:]), texts  # /menu not yet

        # The next process picks up what the first did not handle, and only that.
        proc = await _start_bot(tg, database_url)
        await tg.wait_for(lambda: tg.pending_updates_count == 0 and len(_replies(tg)) == 3, timeout=10)
        await asyncio.sleep(0.5)
        texts = _replies(tg)
        assert sum("Commands" in t for t in texts) == 1, texts
        assert texts[-1].startswith("Main menu"), texts
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, out.decode()
        assert logged_errors(out.decode()) == []
        assert unexpected_client_errors(tg, allow=ABANDONED_POLL) == []


def _replies(tg: FakeTelegram) -> list[str]:
    """What the bot answered, without the morning digest a real process sends when the test happens
    to run at the admin's digest time (09:00 UTC)."""
    return [m.text for m in tg.bot_messages(ADMIN) if "Good morning" not in m.text]


def _handed_out(tg: FakeTelegram, update_id: int) -> bool:
    """getUpdates has given this update to the bot (so its handler is running)."""
    return any(
        r.ok and any(u["update_id"] == update_id for u in (r.result or [])) for r in tg.calls("getUpdates")
    )
