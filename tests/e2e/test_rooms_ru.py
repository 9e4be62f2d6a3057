"""Deal rooms over HTTP, in Russian: the team forum (/setforum, a topic per deal, closed when the
deal is won and reopened), the chat picker (request_chat -> chat_shared), the room told and unbound
when the deal goes to the trash, /status for heads."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Comment, Deal, User
from crm_core.models.rooms import TeamForum
from crm_core.models.timeline import EventType
from crm_core.services import comments as comments_service
from crm_core.services import trash as trash_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.rooms_helpers import (
    GROUP_ID,
    HEAD_ID,
    OBSERVER_ID,
    SALES_ID,
    deal,
    events,
    open_offer,
    room_bot,
    room_of,
    team,
    wait_in_chat,
)

__all__ = ["room_bot"]
FORUM_ID = -1007001


async def _forum(bot: Harness) -> None:
    bot.tg.add_group(FORUM_ID, "Продажи", [ADMIN_ID, SALES_ID, OBSERVER_ID, HEAD_ID], is_forum=True)
    bot.tg.set_bot_rights(FORUM_ID, can_pin_messages=True, can_invite_users=True)  # no topics yet
    replies = await bot.say(ADMIN_ID, "/setforum", FORUM_ID)
    assert "управлять темами" in (replies[0].text or "")
    bot.tg.set_bot_rights(FORUM_ID, can_pin_messages=True, can_invite_users=True, can_manage_topics=True)
    replies = await bot.say(SALES_ID, "/setforum", FORUM_ID)
    assert "только администратор" in (replies[0].text or "")
    replies = await bot.say(ADMIN_ID, "/setforum", FORUM_ID)
    assert "форум команды" in (replies[0].text or "")
    async with bot.app.db.sessionmaker() as s:
        assert [f.chat_id for f in await s.scalars(select(TeamForum))] == [FORUM_ID]


async def test_forum_topic_per_deal_closed_when_won_and_reopened(room_bot: Harness) -> None:
    bot = room_bot
    people = await team(bot, "ru")
    await _forum(bot)
    item = await deal(bot, people["sales"], "Поставка станков", [people["observer"].id])
    offer = await open_offer(bot, SALES_ID, item.ref, "Обсудить в группе", "Ещё")
    await bot.press(SALES_ID, offer, "Тема на форуме команды")
    [created] = [r for r in bot.tg.calls("createForumTopic") if r.ok]
    assert created.params["name"] == f"{item.ref} Поставка станков"
    room = await room_of(bot, item.id)
    thread = created.result["message_thread_id"]
    assert room is not None and (room.chat_id, room.thread_id) == (FORUM_ID, thread)
    card = bot.tg.get_message(FORUM_ID, room.card_message_id)
    assert card.content.get("message_thread_id") == thread and "Поставка станков" in (card.text or "")
    assert bot.tg.chats[FORUM_ID].pinned == [card.message_id]
    [invite] = await wait_in_chat(bot, OBSERVER_ID, 0, lambda m: "приглашают" in (m.text or ""))
    assert invite.inline_keyboard[0][0][2].startswith("https://t.me/+")
    # An event from elsewhere lands in the topic, not in the forum's general chat.
    marker = bot.tg.mark()
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, people["sales"].id)
        await comments_service.add_comment(s, actor, "deal", item.id, "Счёт отправлен")
    [told] = await wait_in_chat(bot, FORUM_ID, marker, lambda m: "Счёт отправлен" in (m.text or ""))
    assert told.content.get("message_thread_id") == thread
    # A reply in the topic is a comment by its author.
    bot.tg.send_in_topic(
        OBSERVER_ID, FORUM_ID, thread, "Клиент подтвердил", reply_to_message_id=card.message_id
    )
    await bot.settle()
    async with bot.app.db.sessionmaker() as s:
        rows = await s.execute(select(Comment.text, Comment.author_id).where(Comment.owner_id == item.id))
        authors = {text: author for text, author in rows}
    assert authors["Клиент подтвердил"] == people["observer"].id
    # Won from the card in the topic: the topic is closed; back in progress: reopened.
    await bot.press(SALES_ID, card, "Стадия", chat_id=FORUM_ID)
    await bot.press(SALES_ID, card, "Сделка успешна", chat_id=FORUM_ID)
    topic = bot.tg.topics[FORUM_ID][thread]
    await bot.tg.wait_for(lambda: topic.closed)  # by the delivery engine, from the outbox
    await bot.press(SALES_ID, card, "Стадия", chat_id=FORUM_ID)
    await bot.press(SALES_ID, card, "Финальный счёт", chat_id=FORUM_ID)
    await bot.tg.wait_for(lambda: not topic.closed)
    assert [r.method for r in bot.tg.requests if r.method.endswith("ForumTopic") and r.ok] == [
        "createForumTopic",
        "closeForumTopic",
        "reopenForumTopic",
    ]


async def test_chat_picker_binds_the_chosen_group(room_bot: Harness) -> None:
    bot = room_bot
    people = await team(bot, "ru")
    bot.tg.add_group(GROUP_ID, "Станки", [SALES_ID], bot_is_member=False, owner_id=SALES_ID)
    item = await deal(bot, people["sales"], "Станки", [])
    offer = await open_offer(bot, SALES_ID, item.ref, "Обсудить в группе", "Ещё")
    marker = bot.tg.mark()
    await bot.press(SALES_ID, offer, "Выбрать из моих групп")
    [prompt] = [m for m in bot.tg.bot_messages(SALES_ID) if m.seq > marker]
    request = prompt.reply_markup["keyboard"][0][0]["request_chat"]
    assert request["bot_administrator_rights"]["can_pin_messages"] is True
    marker = bot.tg.mark()
    bot.tg.share_chat(SALES_ID, request["request_id"], GROUP_ID)
    await bot.settle()
    assert any(
        "теперь обсуждается" in (m.text or "") for m in bot.tg.bot_messages(SALES_ID) if m.seq > marker
    )
    room = await room_of(bot, item.id)
    assert room is not None and room.chat_id == GROUP_ID
    assert bot.tg.chats[GROUP_ID].pinned == [room.card_message_id]
    # The same group cannot be the room of a second deal.
    other = await deal(bot, people["sales"], "Другая", [])
    offer = await open_offer(bot, SALES_ID, other.ref, "Обсудить в группе", "Ещё")
    await bot.press(SALES_ID, offer, "Выбрать из моих групп")
    request = bot.tg.last_bot_message(SALES_ID).reply_markup["keyboard"][0][0]["request_chat"]
    replies_marker = bot.tg.mark()
    bot.tg.share_chat(SALES_ID, request["request_id"], GROUP_ID)
    await bot.settle()
    assert any(
        "другой сделке" in (m.text or "") for m in bot.tg.bot_messages(SALES_ID) if m.seq > replies_marker
    )
    assert await room_of(bot, other.id) is None
    # The responsible unbinds the room with a command; the timeline says who did it.
    replies = await bot.say(SALES_ID, "/unbind", GROUP_ID)
    assert "больше не привязан" in (replies[0].text or "")
    assert await room_of(bot, item.id) is None
    [gone] = await events(bot, item.id, EventType.ROOM_UNBOUND)
    assert gone.payload["reason"] == "command" and gone.author_id == people["sales"].id


async def test_trashed_deal_room_is_told_and_unbound_and_status_for_heads(room_bot: Harness) -> None:
    bot = room_bot
    people = await team(bot, "ru")
    bot.tg.add_group(GROUP_ID, "Станки", [SALES_ID, HEAD_ID], bot_is_member=False, owner_id=SALES_ID)
    item = await deal(bot, people["sales"], "Станки", [])
    offer = await open_offer(bot, SALES_ID, item.ref, "Обсудить в группе", "Ещё")
    await bot.press(SALES_ID, offer, "Выбрать из моих групп")
    request = bot.tg.last_bot_message(SALES_ID).reply_markup["keyboard"][0][0]["request_chat"]
    bot.tg.share_chat(SALES_ID, request["request_id"], GROUP_ID)
    await bot.settle()
    replies = await bot.say(SALES_ID, "/status", GROUP_ID)
    assert "руководителей" in (replies[0].text or "")
    replies = await bot.say(HEAD_ID, "/status", GROUP_ID)
    assert item.ref in (replies[0].text or "") and "Новая" in (replies[0].text or "")
    assert "Дел не запланировано" in (replies[0].text or "")
    marker = bot.tg.mark()
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, people["sales"].id)
        await trash_service.delete_item(s, actor, await s.get(Deal, item.id))
    [told] = await wait_in_chat(bot, GROUP_ID, marker, lambda m: item.ref in (m.text or ""))
    assert "корзин" in (told.text or "").lower()
    assert await room_of(bot, item.id) is None
    [gone] = await events(bot, item.id, EventType.ROOM_UNBOUND)
    assert gone.payload["reason"] == "trashed"
