"""The fake Bot API's webhooks, driven through a real aiogram Bot: Telegram's refusals of a bad
webhook, the push with the secret header, the retry of a refused update, getWebhookInfo, and the
409 of getUpdates while a webhook is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiohttp import web

from bot.fake_telegram import FakeTelegram
from tests.test_fake_telegram import ALICE, make_bot


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram()
    server.add_user(ALICE, "Alice")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    b = make_bot(fake)
    try:
        yield b
    finally:
        await b.session.close()


async def test_bad_webhooks_are_refused_as_telegram_does(bot: Bot) -> None:
    cases = [
        ({"url": "http://crm.example.com/hook"}, "bad webhook: An HTTPS URL must be provided for webhook"),
        (
            {"url": "https://crm.example.com:8080/hook"},
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        (
            {"url": "https://crm.example.com/hook", "secret_token": "no spaces"},
            "bad webhook: Secret token contains unallowed characters",
        ),
    ]
    for params, message in cases:
        with pytest.raises(TelegramBadRequest) as err:
            await bot.set_webhook(**params)
        assert err.value.message == f"Bad Request: {message}"
    assert (await bot.get_webhook_info()).url == ""


async def test_updates_are_pushed_with_the_secret_and_retried_until_2xx(fake: FakeTelegram, bot: Bot) -> None:
    received: list[tuple[int, str | None]] = []
    answers = iter([500, 200])

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((update["update_id"], request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response(status=next(answers, 200))

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.webhook_hosts["crm.example.com"] = f"http://127.0.0.1:{port}"
    try:
        await bot.set_webhook("https://crm.example.com/hook", secret_token="abc_123")
        with pytest.raises(TelegramConflictError):
            await bot.get_updates()
        update = fake.send_text(ALICE, "hello")
        await fake.wait_for(lambda: fake.pending_updates_count == 0, timeout=5)
        info = await bot.get_webhook_info()
        assert received == [(update["update_id"], "abc_123")] * 2  # refused once, then accepted
        assert info.url == "https://crm.example.com/hook" and info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        await bot.delete_webhook()
        fake.send_text(ALICE, "by polling now")
        polled = await bot.get_updates(timeout=1)
        assert [u.message.text for u in polled if u.message] == ["by polling now"]
        await asyncio.sleep(0.1)
        assert len(received) == 2  # nothing more was pushed
    finally:
        await runner.cleanup()
