"""The scheduler's port over HTTP: each of Telegram's answers maps to the right outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import create_bot
from bot.fake_telegram import FakeTelegram
from bot.sender import TelegramSender
from scheduler.ports import DeliveryStatus


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def sender(tg: FakeTelegram) -> AsyncIterator[TelegramSender]:
    bot = create_bot(tg.token, tg.base_url, wait_out_flood_control=False)  # as the scheduler uses it
    yield TelegramSender(bot)
    await bot.session.close()


async def test_sent_with_buttons(tg: FakeTelegram, sender: TelegramSender) -> None:
    tg.add_user(1, "Anna")
    tg.send_text(1, "hi")  # the user has started the bot
    result = await sender.send(
        1, "<b>Call</b> &amp; more", buttons=[[{"text": "Done", "callback_data": "a:1"}]]
    )
    assert result.status is DeliveryStatus.SENT
    msg = tg.get_message(1, result.message_id)  # type: ignore[arg-type]
    assert msg is not None and msg.text == "Call & more"
    assert msg.inline_keyboard == [[("Done", "a:1", None)]]


async def test_failures_are_classified(tg: FakeTelegram, sender: TelegramSender) -> None:
    tg.add_user(1, "Anna")
    tg.add_user(2, "Never started")
    tg.send_text(1, "hi")
    assert (await sender.send(2, "x")).status is DeliveryStatus.UNDELIVERABLE
    tg.block_bot(1)
    assert (await sender.send(1, "x")).status is DeliveryStatus.UNDELIVERABLE
    tg.unblock_bot(1)
    tg.fail_next("sendMessage", retry_after=7)
    result = await sender.send(1, "x")
    assert result.status is DeliveryStatus.RETRY_AFTER and result.retry_after == 7
    tg.fail_next("sendMessage", error_code=502)
    assert (await sender.send(1, "x")).status is DeliveryStatus.TEMPORARY
    assert (await sender.send(1, "<b>unclosed")).status is DeliveryStatus.REJECTED
    assert (await sender.send(424242, "x")).status is DeliveryStatus.UNDELIVERABLE


async def test_migrated_group_points_to_the_supergroup(tg: FakeTelegram, sender: TelegramSender) -> None:
    tg.add_user(1, "Anna")
    tg.add_group(-100, "Deal D-7", [1])
    tg.migrate_group(-100, -1001234)
    result = await sender.send(-100, "x")
    assert result.status is DeliveryStatus.MIGRATED and result.migrate_to_chat_id == -1001234
    assert (await sender.send(-1001234, "x")).status is DeliveryStatus.SENT
