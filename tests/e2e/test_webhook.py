"""Webhook mode over real HTTP: the bot sets its webhook with a secret, the fake Telegram posts
updates to the bot's HTTP server, a wrong secret is refused, a repeated update is skipped, and a
bot started in polling mode again deletes the webhook. Health and metrics on the same server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.fake_telegram import FakeTelegram
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, free_port, running_bot

HOOK = "https://crm.example.com/tg/hook"
SECRET = "s3cret-Token_42"


def _webhook_settings() -> dict[str, object]:
    return {
        "http_port": free_port(),
        "webhook_url": HOOK,
        "webhook_secret": SECRET,
        "reminder_poll_seconds": 1,
    }


@pytest.fixture
async def hooked(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    settings = _webhook_settings()
    async with running_bot(database_url, admin_ids=[ADMIN_ID], **settings) as harness:
        harness.http_base = f"http://127.0.0.1:{settings['http_port']}"  # type: ignore[attr-defined]
        yield harness
    check_clean_run(harness, request.node)


async def test_updates_come_by_webhook_with_the_secret(hooked: Harness) -> None:
    tg = hooked.tg
    (call,) = tg.calls("setWebhook")
    assert call.params["url"] == HOOK and call.params["secret_token"] == SECRET
    assert call.params.get("drop_pending_updates") in (None, False)
    assert "message" in call.params["allowed_updates"] and "callback_query" in call.params["allowed_updates"]
    assert tg.calls("getUpdates") == []  # nobody polls
    tg.add_user(ADMIN_ID, "Anna", language_code="en")
    replies = await hooked.say(ADMIN_ID, "/start")
    assert replies, "the bot answered an update it got by webhook"
    assert all(isinstance(status, int) and status == 200 for _, status in tg.webhook_pushes)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot{tg.token}/getWebhookInfo") as r:
            info = (await r.json())["result"]
        # While the webhook is set, getUpdates is refused as Telegram refuses it.
        async with http.post(f"{tg.base_url}/bot{tg.token}/getUpdates") as r:
            assert r.status == 409
            assert (await r.json())["description"] == (
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
    assert info["url"] == HOOK and info["pending_update_count"] == 0


@pytest.mark.telegram_errors_expected(reason="the test itself calls getUpdates while the webhook is set")
async def test_the_409_is_expected_here(hooked: Harness) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hooked.tg.base_url}/bot{hooked.tg.token}/getUpdates") as r:
            assert r.status == 409


async def test_wrong_or_missing_secret_is_refused_and_changes_nothing(hooked: Harness) -> None:
    tg = hooked.tg
    tg.add_user(ADMIN_ID, "Anna", language_code="en")
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": ADMIN_ID, "type": "private", "first_name": "Anna"},
            "from": {"id": ADMIN_ID, "is_bot": False, "first_name": "Anna"},
            "text": "/start",
        },
    }
    url = f"{hooked.http_base}/tg/hook"  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http:
        for headers in (
            {},
            {"X-Telegram-Bot-Api-Secret-Token": "guess"},
            {"X-Telegram-Bot-Api-Secret-Token": ""},
        ):
            async with http.post(url, data=json.dumps(update), headers=headers) as r:
                assert r.status == 401
    await asyncio.sleep(0.2)
    assert tg.bot_messages(ADMIN_ID) == []


async def test_a_redelivered_update_is_skipped(hooked: Harness) -> None:
    tg = hooked.tg
    tg.add_user(ADMIN_ID, "Anna", language_code="en")
    await hooked.say(ADMIN_ID, "/start")
    marker = tg.mark()
    update = tg.send_text(ADMIN_ID, "/help")
    await hooked.settle()
    first = hooked.new_bot_messages(ADMIN_ID, marker)
    assert first
    # Telegram posts it again (it did not see our answer): answered 200, not handled twice.
    marker = tg.mark()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{hooked.http_base}/tg/hook",  # type: ignore[attr-defined]
            data=json.dumps(update),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        ) as r:
            assert r.status == 200
    await asyncio.sleep(0.2)
    assert hooked.new_bot_messages(ADMIN_ID, marker) == []


async def test_a_body_that_is_no_json_update_is_refused_and_changes_nothing(hooked: Harness) -> None:
    # json.loads took a lone surrogate, which no UTF-8 holds (PostgreSQL failed on it later)
    tg = hooked.tg
    tg.add_user(ADMIN_ID, "Anna", language_code="en")
    await hooked.say(ADMIN_ID, "/start")
    marker = tg.mark()
    text = '{"update_id": 900, "message": {"message_id": 900, "date": 0, "text": "/new Bro\\ud800ken",'
    text += f' "chat": {{"id": {ADMIN_ID}, "type": "private"}}, "from": {{"id": {ADMIN_ID}, "is_bot": false,'
    text += ' "first_name": "Anna"}}}'
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for body in (text.encode(), b"{not json", json.dumps({"update_id": "x"}).encode()):
            async with http.post(f"{hooked.http_base}/tg/hook", data=body, headers=headers) as r:  # type: ignore[attr-defined]
                assert (r.status, await r.json()) == (400, {"ok": False, "error": "bad_update"})
    await asyncio.sleep(0.2)
    assert hooked.new_bot_messages(ADMIN_ID, marker) == []
    # the same update, well formed, is handled
    good = json.loads(text.replace("\\ud800", ""))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{hooked.http_base}/tg/hook", json=good, headers=headers) as r:  # type: ignore[attr-defined]
            assert r.status == 200
    await hooked.settle()
    assert "L-" in " ".join(m.text or "" for m in hooked.new_bot_messages(ADMIN_ID, marker))


async def test_refused_pushes_are_retried_until_answered(hooked: Harness) -> None:
    """The fake retries a refused update as Telegram does: the secret changes under the bot's feet
    (another deployment set the webhook), then the right one comes back."""
    tg = hooked.tg
    tg.add_user(ADMIN_ID, "Anna", language_code="en")
    tg._webhook_state()["secret"] = "another-secret"
    tg.send_text(ADMIN_ID, "/start")
    await tg.wait_for(lambda: len([s for _, s in tg.webhook_pushes if s == 401]) >= 2, timeout=10)
    assert tg.pending_updates_count == 1
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{tg.base_url}/bot{tg.token}/getWebhookInfo") as r:
            info = (await r.json())["result"]
    assert info["last_error_message"] == "Wrong response from the webhook: 401 Unauthorized"
    tg._webhook_state()["secret"] = SECRET
    await hooked.settle()
    assert tg.bot_messages(ADMIN_ID)


async def test_back_to_polling_deletes_the_webhook(database_url: str) -> None:
    async with FakeTelegram() as tg:
        async with running_bot(database_url, admin_ids=[ADMIN_ID], tg=tg, **_webhook_settings()):
            assert tg.webhook_url == HOOK
        assert tg.webhook_url == HOOK  # a process going down leaves it to the others
        async with running_bot(database_url, admin_ids=[ADMIN_ID], tg=tg) as polling:
            assert tg.webhook_url == ""
            tg.add_user(ADMIN_ID, "Anna", language_code="en")
            assert await polling.say(ADMIN_ID, "/start")


@pytest.mark.handler_errors_expected(reason="the test kills the delivery loop: its watchdog logs an error")
async def test_healthz_names_what_is_down_and_metrics_count(hooked: Harness) -> None:
    base = hooked.http_base  # type: ignore[attr-defined]
    hooked.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    await hooked.say(ADMIN_ID, "/start")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 200
            body = await r.json()
        assert body["status"] == "ok" and body["checks"]["database"] == "ok"
        assert body["checks"]["scheduler"] == "ok"
        # The delivery loop dies: down, and named.
        engine = hooked.app.scheduler.engine
        assert engine is not None and engine._runner is not None
        engine._runner.cancel()
        await asyncio.sleep(0.05)
        async with http.get(f"{base}/healthz") as r:
            assert r.status == 503
            assert (await r.json())["down"] == ["scheduler"]
        # The scheduler's watchdog job restarts it (within REMINDER_POLL_SECONDS): up again.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            async with http.get(f"{base}/healthz") as r:
                if r.status == 200 or loop.time() > deadline:
                    break
            await asyncio.sleep(0.2)
        assert r.status == 200
        async with http.get(f"{base}/metrics") as r:
            assert r.status == 200
            text = await r.text()
    for name in (
        'crm_updates_total{outcome="handled",type="message"}',
        "crm_handler_seconds_bucket",
        'crm_deliveries_sent_total{path="replies"}',
        'crm_deliveries_queued{kind="reminder"}',
        "crm_reminder_lag_seconds",
        "crm_telegram_429_total",
    ):
        assert name in text, name


async def test_healthz_names_the_database_and_redis_when_they_are_down(database_url: str) -> None:
    from bot.http_server import HealthChecks, HttpServer
    from crm_core.db import Database
    from handlers.context import HandlerOptions

    dead_port = free_port()  # nobody listens there
    cases = [
        (Database(database_url), f"redis://127.0.0.1:{dead_port}/0", ["redis"]),
        (Database(f"postgresql+asyncpg://postgres@127.0.0.1:{dead_port}/crm"), None, ["database"]),
    ]
    for db, redis_url, down in cases:
        server = HttpServer(
            db, HandlerOptions(), host="127.0.0.1", port=0, health=HealthChecks(db, redis_url)
        )
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{server.port}/healthz") as r:
                    assert r.status == 503
                    body = await r.json()
        finally:
            await server.stop()
            await db.dispose()
        assert body["down"] == down and body["status"] == "down" and body["checks"]["process"] == "ok"
