"""Replies sent after the commit (handlers.held_replies): a slow Telegram does not hold the
database for other chats, what an update shows is kept with its changes until it is sent, and what
a rolled-back update showed is never sent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest
from aiogram.types import Chat, Message
from sqlalchemy import select

from bot.app import create_bot
from bot.fake_telegram import FakeTelegram
from crm_core.models import ProcessedUpdate, UpdateInbox
from handlers.held_replies import replies_held
from handlers.ui import reply, show
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 4402


def _sends_to(tg: FakeTelegram, chat_id: int, since: int) -> int:
    return sum(1 for r in tg.requests[since:] if r.method == "sendMessage" and str(r.chat_id) == str(chat_id))


async def test_a_slow_reply_does_not_hold_up_other_chats(bot: Harness) -> None:
    """Telegram takes 2 s to take one person's reply. Another person's update meanwhile is handled
    and answered at once: on SQLite, where units of work take turns, the slow call held the turn
    when replies went out inside the unit of work."""
    await admin_user(bot)
    await add_member(bot, SALES_ID, "Sam Seller")
    loop = asyncio.get_running_loop()
    marker, since = bot.tg.mark(), len(bot.tg.requests)
    bot.tg.delay_next("sendMessage", 2.0, chat_id=ADMIN_ID)
    bot.tg.send_text(ADMIN_ID, "/today")
    await bot.tg.wait_for(lambda: _sends_to(bot.tg, ADMIN_ID, since) == 1)  # on its way, slowly
    started = loop.time()
    bot.tg.send_text(SALES_ID, "/today")
    await bot.tg.wait_for(lambda: bot.new_bot_messages(SALES_ID, marker), timeout=1.5)
    assert loop.time() - started < 1.0
    assert bot.new_bot_messages(ADMIN_ID, marker) == []  # the slow one is still in Telegram's hands
    await bot.settle()
    assert len(bot.new_bot_messages(ADMIN_ID, marker)) == 1


async def test_what_an_update_shows_is_kept_with_its_changes_until_sent(bot: Harness) -> None:
    await admin_user(bot)
    since = len(bot.tg.requests)
    bot.tg.delay_next("sendMessage", 1.5, chat_id=ADMIN_ID)
    update = bot.tg.send_text(ADMIN_ID, "/today")
    await bot.tg.wait_for(lambda: _sends_to(bot.tg, ADMIN_ID, since) == 1)
    # The reply is on its way: the update is committed, and its inbox row holds the reply.
    async with bot.app.db.sessionmaker() as s:
        done = await s.scalar(
            select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id == update["update_id"])
        )
        kept = await s.scalar(select(UpdateInbox.replies).where(UpdateInbox.update_id == update["update_id"]))
    assert done == update["update_id"]
    assert kept is not None
    [item] = orjson.loads(kept)
    assert item["send"]["chat_id"] == ADMIN_ID and "My activities" in item["send"]["text"]
    await bot.settle()
    for _ in range(40):  # the finished update leaves the inbox (the sweeper runs every second)
        async with bot.app.db.sessionmaker() as s:
            if (
                await s.scalar(
                    select(UpdateInbox.update_id).where(UpdateInbox.update_id == update["update_id"])
                )
                is None
            ):
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the finished update stayed in the inbox")


async def test_held_replies_go_after_the_block_in_order_and_never_after_a_failure() -> None:
    async with FakeTelegram() as tg:
        tg.add_user(ADMIN_ID, "Anna", language_code="en")
        tg.send_text(ADMIN_ID, "/start")  # the person has started the bot: it may write to them
        bot = create_bot(tg.token, tg.base_url)
        try:
            message = Message(
                message_id=1, date=datetime.now(UTC), chat=Chat(id=ADMIN_ID, type="private"), text="/x"
            ).as_(bot)
            since = len(tg.requests)
            with pytest.raises(RuntimeError), replies_held():
                await show(message, "rolled back")
                raise RuntimeError("the unit of work failed")
            assert tg.calls("sendMessage") == []

            with replies_held() as held:
                await show(message, "first")
                await reply(message, "second")
                assert tg.calls("sendMessage") == []  # held
                stored = orjson.loads(held.stored() or "[]")
                assert [item["send"]["text"] for item in stored] == ["first", "second"]
                # Another call of the update sends what is held first: the order stays.
                await bot.send_chat_action(ADMIN_ID, "typing")
                await reply(message, "third")
            await held.send()
            assert [(r.method, r.params.get("text")) for r in tg.requests[since:]] == [
                ("sendMessage", "first"),
                ("sendMessage", "second"),
                ("sendChatAction", None),
                ("sendMessage", "third"),
            ]
            await show(message, "outside")  # no update holding: sent at once
            assert tg.calls("sendMessage")[-1].params.get("text") == "outside"
        finally:
            await bot.session.close()
