"""The fake Bot API's groups as deal rooms use them, driven through a real aiogram Bot: forum topics
with Telegram's refusals and rights, message_thread_id on sends, closed topics, startgroup links,
the chat picker, privacy mode in topics, and the per-group limit (topic creation included)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import ChatAdministratorRights

from bot.fake_telegram import FakeTelegram, ManualClock

ALICE = 1001
FORUM = -1005001
GROUP = -4001


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(clock=ManualClock())
    server.add_user(ALICE, "Alice")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    b = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url)))
    try:
        yield b
    finally:
        await b.session.close()


def _required(name: str) -> set[str]:
    path = Path(__file__).resolve().parents[1].parent / "shared" / "telegram-bot-api" / "api.json"
    types = json.loads(path.read_text())["types"]
    return {f["name"] for f in types[name]["fields"] if f["required"]}


async def test_forum_topics_need_a_forum_and_the_right(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Plain", [ALICE], bot_is_admin=True)
    with pytest.raises(TelegramBadRequest, match="the chat is not a forum"):
        await bot.create_forum_topic(GROUP, "D-1")
    fake.add_group(FORUM, "Sales", [ALICE], is_forum=True)
    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(FORUM, "D-1")  # a member, not an administrator
    fake.set_bot_rights(FORUM, can_pin_messages=True)
    with pytest.raises(TelegramBadRequest, match="not enough rights to create a topic"):
        await bot.create_forum_topic(FORUM, "D-1")
    member = await bot.get_chat_member(FORUM, fake.bot_id)
    assert member.status == "administrator" and member.can_manage_topics is False
    fake.set_bot_rights(FORUM, can_manage_topics=True)
    with pytest.raises(TelegramBadRequest, match="TOPIC_TITLE_EMPTY"):
        await bot.create_forum_topic(FORUM, "  ")
    topic = await bot.create_forum_topic(FORUM, "D-1 ACME")
    assert _required("ForumTopic") <= set(fake.calls("createForumTopic")[-1].result)
    assert topic.name == "D-1 ACME"
    created = fake.get_message(FORUM, topic.message_thread_id)
    assert created is not None and created.content["forum_topic_created"]["name"] == "D-1 ACME"


async def test_sends_into_topics_and_closed_topics(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(FORUM, "Sales", [ALICE], is_forum=True, bot_is_admin=True)
    topic = await bot.create_forum_topic(FORUM, "D-1")
    sent = await bot.send_message(FORUM, "card", message_thread_id=topic.message_thread_id)
    assert sent.message_thread_id == topic.message_thread_id and sent.is_topic_message
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(FORUM, "x", message_thread_id=99_999)
    fake.add_group(GROUP, "Plain", [ALICE])
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(GROUP, "x", message_thread_id=5)
    assert await bot.close_forum_topic(FORUM, topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(FORUM, topic.message_thread_id)
    # The bot manages topics, so it may still write there; without that right it may not.
    await bot.send_message(FORUM, "still here", message_thread_id=topic.message_thread_id)
    fake.set_bot_rights(FORUM, can_pin_messages=True)
    with pytest.raises(TelegramBadRequest, match="TOPIC_CLOSED"):
        await bot.send_message(FORUM, "x", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="not enough rights to manage topics"):
        await bot.reopen_forum_topic(FORUM, topic.message_thread_id)
    fake.set_bot_rights(FORUM, can_manage_topics=True)
    assert await bot.reopen_forum_topic(FORUM, topic.message_thread_id)
    assert await bot.edit_forum_topic(FORUM, topic.message_thread_id, name="D-1 won")
    assert fake.topics[FORUM][topic.message_thread_id].name == "D-1 won"


async def test_people_in_topics_and_privacy_mode(fake: FakeTelegram, bot: Bot) -> None:
    fake.privacy_mode = True
    fake.add_group(FORUM, "Sales", [ALICE], is_forum=True)
    fake.set_bot_rights(FORUM, can_manage_topics=True)
    topic = await bot.create_forum_topic(FORUM, "D-1")
    card = await bot.send_message(FORUM, "card", message_thread_id=topic.message_thread_id)
    fake.set_bot_admin(FORUM, False)  # a plain member: privacy mode applies
    plain = fake.send_in_topic(ALICE, FORUM, topic.message_thread_id, "chat about lunch")
    assert plain["update_id"] is None  # in the topic, "replying" to its first message: not seen
    reply = fake.send_in_topic(
        ALICE, FORUM, topic.message_thread_id, "agreed", reply_to_message_id=card.message_id
    )
    assert reply["message"]["message_thread_id"] == topic.message_thread_id
    assert reply["message"]["reply_to_message"]["message_id"] == card.message_id
    command = fake.send_in_topic(ALICE, FORUM, topic.message_thread_id, "/card")
    assert command["update_id"] is not None


async def test_startgroup_and_chat_picker(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    update = fake.start_group(ALICE, "room_abc", GROUP, "New room")
    assert update["message"]["text"] == f"/start@{fake.bot_username} room_abc"
    assert fake.chats[GROUP].bot_status == "administrator" and fake.chats[GROUP].owner_id == ALICE
    kinds = [next(k for k in u if k != "update_id") for u in fake._updates]
    assert kinds[-2:] == ["my_chat_member", "message"]
    fake.add_group(GROUP - 1, "Existing", [ALICE], bot_is_member=False)
    rights = ChatAdministratorRights(
        is_anonymous=False, can_manage_chat=False, can_delete_messages=False, can_manage_video_chats=False,
        can_restrict_members=False, can_promote_members=False, can_change_info=False, can_invite_users=True,
        can_post_stories=False, can_edit_stories=False, can_delete_stories=False,
        can_send_welcome_messages=False, can_pin_messages=True,
    )  # fmt: skip
    from aiogram.types import KeyboardButton, KeyboardButtonRequestChat, ReplyKeyboardMarkup

    button = KeyboardButton(
        text="Pick",
        request_chat=KeyboardButtonRequestChat(
            request_id=7, chat_is_channel=False, bot_administrator_rights=rights, request_title=True
        ),
    )
    await bot.send_message(ALICE, "pick one", reply_markup=ReplyKeyboardMarkup(keyboard=[[button]]))
    with pytest.raises(LookupError):
        fake.share_chat(ALICE, 8, GROUP - 1)
    shared = fake.share_chat(ALICE, 7, GROUP - 1)
    assert shared["message"]["chat_shared"] == {"request_id": 7, "chat_id": GROUP - 1, "title": "Existing"}
    assert fake.chats[GROUP - 1].bot_status == "administrator"
    assert await bot.set_my_default_administrator_rights(rights)
    assert (await bot.get_my_default_administrator_rights()).can_pin_messages is True


async def test_about_twenty_messages_a_minute_per_group_topics_included(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(FORUM, "Sales", [ALICE], is_forum=True, bot_is_admin=True)
    topic = await bot.create_forum_topic(FORUM, "D-1")  # counts as a message of the group
    for n in range(19):
        await bot.send_message(FORUM, f"m{n}", message_thread_id=topic.message_thread_id if n % 2 else None)
    with pytest.raises(TelegramRetryAfter) as refused:
        await bot.send_message(FORUM, "one too many")
    assert refused.value.retry_after >= 1
    assert fake.errors(429)[-1].description == f"Too Many Requests: retry after {refused.value.retry_after}"
