"""The fake's clients and Telegram Business (bot/fake_telegram/business.py) behave like Telegram:
updates carry what api.json requires and parse in aiogram; sends through a connection follow the
rules (enabled, can_reply, 24 hours, no web_app buttons); a blocked client answers 403."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, WebAppInfo

from bot.fake_telegram import FakeTelegram
from tests.test_fake_telegram import ALICE, BOB, bot, clock, fake  # noqa: F401 - fixtures

TYPES = json.loads(
    (Path(__file__).resolve().parents[1].parent / "shared" / "telegram-bot-api" / "api.json").read_text()
)["types"]


def required(name: str) -> set[str]:
    return {f["name"] for f in TYPES[name]["fields"] if f["required"]}


async def test_business_updates_match_the_schema_and_parse(fake: FakeTelegram, bot: Bot) -> None:  # noqa: F811
    conn = fake.connect_business(ALICE)
    fake.business_client_writes(conn, BOB, "hi")
    fake.business_owner_writes(conn, BOB, "hello")
    fake.edit_business_message(conn, BOB, 1, "hi!")
    fake.delete_business_messages(conn, BOB, [2])
    fake.send_voice(BOB)
    fake.send_sticker(BOB, "🔥")
    raw = fake._updates
    assert required("BusinessConnection") <= set(raw[0]["business_connection"])
    assert required("Message") <= set(raw[1]["business_message"])
    assert required("BusinessMessagesDeleted") <= set(raw[4]["deleted_business_messages"])
    assert required("Voice") <= set(raw[5]["message"]["voice"])
    assert required("Sticker") <= set(raw[6]["message"]["sticker"])
    updates = await bot.get_updates()
    assert updates[0].business_connection.rights.can_reply  # type: ignore[union-attr]
    first = updates[1].business_message
    assert first is not None and first.business_connection_id == conn and first.from_user.id == BOB  # type: ignore[union-attr]
    assert updates[2].business_message.from_user.id == ALICE  # type: ignore[union-attr]
    assert updates[3].edited_business_message.text == "hi!"  # type: ignore[union-attr]
    assert updates[4].deleted_business_messages.message_ids == [2]  # type: ignore[union-attr]
    assert updates[5].message.voice is not None and updates[6].message.sticker.emoji == "🔥"  # type: ignore[union-attr]


async def test_sends_through_a_connection_follow_telegram_rules(fake: FakeTelegram, bot: Bot) -> None:  # noqa: F811
    conn = fake.connect_business(ALICE)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(BOB, "first", business_connection_id=conn)
    fake.business_client_writes(conn, BOB, "hi")
    sent = await bot.send_message(BOB, "<b>hello</b>", parse_mode="HTML", business_connection_id=conn)
    assert sent.business_connection_id == conn and sent.text == "hello"
    assert sent.sender_business_bot is not None and sent.sender_business_bot.id == fake.bot_id
    # The bot's own private chat with BOB is untouched: BOB never started it.
    assert fake.bot_messages(BOB) == []
    web_app = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="app", web_app=WebAppInfo(url="https://example.org"))]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_TYPE_INVALID"):
        await bot.send_message(BOB, "x", business_connection_id=conn, reply_markup=web_app)
    with pytest.raises(TelegramBadRequest, match="BUSINESS_CONNECTION_INVALID"):
        await bot.send_message(BOB, "x", business_connection_id="nope")
    fake.age_business_chat(conn, BOB, 24 * 3600 + 1)
    with pytest.raises(TelegramBadRequest, match="BUSINESS_PEER_USAGE_MISSING"):
        await bot.send_message(BOB, "late", business_connection_id=conn)
    fake.business_client_writes(conn, BOB, "again")
    await bot.send_message(BOB, "in time", business_connection_id=conn)
    fake.connect_business(ALICE, can_reply=False, connection_id=conn)
    with pytest.raises(TelegramForbiddenError, match="BOT_BUSINESS_MISSING"):
        await bot.send_message(BOB, "x", business_connection_id=conn)
    fake.connect_business(ALICE, enabled=False, connection_id=conn)
    with pytest.raises(TelegramBadRequest, match="BUSINESS_CONNECTION_INVALID"):
        await bot.send_message(BOB, "x", business_connection_id=conn)
    # An ended connection delivers nothing more.
    assert fake.business_client_writes(conn, BOB, "anyone?")["update_id"] is None


async def test_a_client_who_blocked_the_bot_answers_403(fake: FakeTelegram, bot: Bot) -> None:  # noqa: F811
    fake.send_text(BOB, "hi")
    await bot.send_message(BOB, "hello")
    fake.block_bot(BOB)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(BOB, "still there?")
