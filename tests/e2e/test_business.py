"""Telegram Business: a salesperson connects the bot; both sides of their client chats are logged;
edits and deletions recorded; "do not log"; replies through the connection within the 24-hour
rule; one Telegram message logged once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.models import BusinessConnection, ClientMessage, MessageDirection
from crm_core.models.items import ItemType
from tests.e2e.clients_helpers import client_chat, events, labels, leads_of, messages
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 7902
CLIENT_ID = 7901
STRANGER_ID = 7903


async def _connected(bot: Harness, lang: str = "en", *, can_reply: bool = True) -> tuple[int, str]:
    bot.tg.set_rate_limits(False)
    await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    conn = bot.tg.connect_business(SALES_ID, can_reply=can_reply)
    await bot.settle()
    bot.tg.add_user(CLIENT_ID, "Kate", "Client", language_code=lang)
    return sales.id, conn


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_connection_by_a_crm_user_and_by_a_stranger(bot: Harness, lang: str) -> None:
    sales_id, conn = await _connected(bot, lang)
    said = bot.tg.last_bot_message(SALES_ID)
    assert said is not None and ("Connected" if lang == "en" else "Подключено") in (said.text or "")
    async with bot.app.db.unit_of_work() as s:
        row = await s.get(BusinessConnection, conn)
        assert row is not None and row.user_id == sales_id and row.can_reply and row.is_enabled
    bot.tg.add_user(STRANGER_ID, "Eve", language_code=lang)
    stranger_conn = bot.tg.connect_business(STRANGER_ID)
    await bot.settle()
    refusal = bot.tg.last_bot_message(STRANGER_ID)
    assert refusal is not None and ("only for members" if lang == "en" else "только для сотрудников") in (
        refusal.text or ""
    )
    # The stranger's chats are ignored.
    bot.tg.business_client_writes(stranger_conn, CLIENT_ID, "hi Eve")
    await bot.settle()
    assert await leads_of(bot, CLIENT_ID) == []
    # Switching the connection off is stored too.
    bot.tg.connect_business(SALES_ID, enabled=False, connection_id=conn)
    await bot.settle()
    async with bot.app.db.unit_of_work() as s:
        assert not (await s.get(BusinessConnection, conn)).is_enabled  # type: ignore[union-attr]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_both_sides_logged_with_edits_and_deletions(bot: Harness, lang: str) -> None:
    sales_id, conn = await _connected(bot, lang)
    bot.tg.business_client_writes(conn, CLIENT_ID, "Do you have the sofa in blue?")
    bot.tg.business_owner_writes(conn, CLIENT_ID, "Yes, 500 EUR")
    await bot.settle()
    [lead] = await leads_of(bot, CLIENT_ID)
    assert lead.responsible_id == sales_id and lead.source == "telegram"
    chat = await client_chat(bot, CLIENT_ID, "biz:")
    assert chat is not None
    logged = await messages(bot, chat.id)
    assert [(m.direction, m.text) for m in logged] == [
        (MessageDirection.IN, "Do you have the sofa in blue?"),
        (MessageDirection.OUT, "Yes, 500 EUR"),
    ]
    assert logged[1].author_id == sales_id
    # The owner's first notice has "do not log"; the client is never written to by the bot.
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None and len(labels(notice)) == 3
    assert bot.tg.business_messages(conn, CLIENT_ID, from_bot=True) == []

    bot.tg.edit_business_message(conn, CLIENT_ID, 1, "Do you have the sofa in green?")
    bot.tg.delete_business_messages(conn, CLIENT_ID, [2])
    await bot.settle()
    tl = await events(bot, ItemType.LEAD, lead.id, "message_in", "message_out")
    assert [(e.event_type, e.payload.get("edited"), e.payload.get("deleted")) for e in tl][-2:] == [
        ("message_in", True, None),
        ("message_out", None, True),
    ]
    assert tl[-2].payload["old"] == "Do you have the sofa in blue?"
    assert tl[-2].payload["text"] == "Do you have the sofa in green?"
    assert tl[-1].payload["text"] == "Yes, 500 EUR"  # what was deleted stays readable
    # The timeline screen shows them.
    [card] = await bot.say(SALES_ID, f"L-{lead.id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline" if lang == "en" else "📜")
    shown = timeline.text or ""
    assert ("edited" if lang == "en" else "изменено") in shown
    assert ("deleted" if lang == "en" else "удалено") in shown


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_do_not_log_is_respected(bot: Harness, lang: str) -> None:
    _, conn = await _connected(bot, lang)
    bot.tg.business_client_writes(conn, CLIENT_ID, "private matter")
    await bot.settle()
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None
    await bot.press(SALES_ID, notice, "🚫")
    bot.tg.business_client_writes(conn, CLIENT_ID, "more private matter")
    bot.tg.business_owner_writes(conn, CLIENT_ID, "ok")
    await bot.settle()
    chat = await client_chat(bot, CLIENT_ID, "biz:")
    assert chat is not None and chat.do_not_log
    assert [m.text for m in await messages(bot, chat.id)] == ["private matter"]
    # Nobody but the connection's owner may switch logging off.
    other = await add_member(bot, 7909, "Olga")
    assert other


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_reply_through_the_connection_inside_and_outside_24_hours(bot: Harness, lang: str) -> None:
    _, conn = await _connected(bot, lang)
    bot.tg.business_client_writes(conn, CLIENT_ID, "Hello?")
    await bot.settle()
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None
    await bot.press(SALES_ID, notice, "↩️")
    await bot.say(SALES_ID, "Hi Kate <3")
    [sent] = bot.tg.business_messages(conn, CLIENT_ID, from_bot=True)
    assert sent.text == "Hi Kate <3"
    send = bot.tg.calls("sendMessage")[-2]
    assert send.params.get("business_connection_id") == conn
    chat = await client_chat(bot, CLIENT_ID, "biz:")
    assert chat is not None
    assert [m.direction for m in await messages(bot, chat.id)] == [MessageDirection.IN, MessageDirection.OUT]
    # No buttons of the kinds business messages cannot carry.
    for call in bot.tg.calls("sendMessage"):
        if call.params.get("business_connection_id"):
            assert "web_app" not in str(call.params) and "switch_inline" not in str(call.params)

    # 25 hours later the client has not written: the button says why, nothing is sent.
    bot.tg.age_business_chat(conn, CLIENT_ID, 25 * 3600)
    async with bot.app.db.unit_of_work() as s:
        from datetime import timedelta

        from crm_core.models import ClientChat

        row = await s.get(ClientChat, chat.id)
        row.last_incoming_at = row.last_incoming_at - timedelta(hours=25)  # type: ignore[union-attr,operator]
    update = bot.tg.press_button(SALES_ID, notice.message_id, button_text=labels(notice)[0])
    await bot.settle()
    answer = str(bot.tg.callback_answers[update["callback_query"]["id"]])
    assert ("24 hours" if lang == "en" else "24 часа") in answer
    assert len(bot.tg.business_messages(conn, CLIENT_ID, from_bot=True)) == 1


async def test_read_only_connection_says_why_it_cannot_reply(bot: Harness) -> None:
    _, conn = await _connected(bot, can_reply=False)
    assert "may not reply" in (bot.tg.last_bot_message(SALES_ID).text or "")  # type: ignore[union-attr]
    bot.tg.business_client_writes(conn, CLIENT_ID, "Hello?")
    await bot.settle()
    notice = bot.tg.last_bot_message(SALES_ID)
    update = bot.tg.press_button(SALES_ID, notice.message_id, button_text=labels(notice)[0])  # type: ignore[union-attr]
    await bot.settle()
    assert "Chatbots" in str(bot.tg.callback_answers[update["callback_query"]["id"]])


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_redelivered_update_and_the_same_client_on_the_bot_log_once(bot: Harness, lang: str) -> None:
    _, conn = await _connected(bot, lang)
    update = bot.tg.business_client_writes(conn, CLIENT_ID, "only once")
    await bot.settle()
    bot.tg.redeliver(update)
    bot.tg.redeliver(update)
    await bot.settle()
    async with bot.app.db.unit_of_work() as s:
        count = await s.scalar(select(func.count()).select_from(ClientMessage))
    assert count == 1
    [lead] = await leads_of(bot, CLIENT_ID)
    assert len(await events(bot, ItemType.LEAD, lead.id, "message_in")) == 1


async def test_reply_from_the_card_and_the_locked_button(bot: Harness) -> None:
    _, conn = await _connected(bot, "ru")
    bot.tg.business_client_writes(conn, CLIENT_ID, "Есть диван?")
    await bot.settle()
    [lead] = await leads_of(bot, CLIENT_ID)
    [card] = await bot.say(SALES_ID, f"L-{lead.id}")
    assert "💬 Ответить: Kate Client" in labels(card)
    await bot.press(SALES_ID, card, "💬 Ответить")
    await bot.say(SALES_ID, "Есть")
    assert [m.text for m in bot.tg.business_messages(conn, CLIENT_ID, from_bot=True)] == ["Есть"]
    # The connection switched off: the card's button is locked and says why when pressed.
    bot.tg.connect_business(SALES_ID, enabled=False, connection_id=conn)
    await bot.settle()
    [card] = await bot.say(SALES_ID, f"L-{lead.id}")
    assert "🔒 Ответить: Kate Client" in labels(card)
    update = bot.tg.press_button(SALES_ID, card.message_id, button_text="🔒 Ответить: Kate Client")
    await bot.settle()
    assert "выключено" in str(bot.tg.callback_answers[update["callback_query"]["id"]])


async def test_the_same_client_writing_to_the_bot_joins_the_same_lead(bot: Harness) -> None:
    from tests.e2e.clients_helpers import switch_on

    _, conn = await _connected(bot)
    await switch_on(bot)
    bot.tg.business_client_writes(conn, CLIENT_ID, "to Sam's own Telegram")
    await bot.settle()
    await bot.say(CLIENT_ID, "and to the shop's bot")
    [lead] = await leads_of(bot, CLIENT_ID)
    texts = [e.payload["text"] for e in await events(bot, ItemType.LEAD, lead.id, "message_in")]
    assert texts == ["to Sam's own Telegram", "and to the shop's bot"]
    async with bot.app.db.unit_of_work() as s:
        keys = list(
            await s.execute(select(ClientMessage.channel, ClientMessage.chat_id, ClientMessage.message_id))
        )
    assert len(keys) == len(set(keys)) == 2
