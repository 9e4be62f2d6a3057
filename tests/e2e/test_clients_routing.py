"""Known clients are not duplicated (by Telegram id, by a shared phone), sticky and round-robin
routing, the queue timeout, flood control, blocking, and clients never reaching CRM data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from crm_core.clock import utcnow
from crm_core.models import ClientChat, Deal, Lead, User
from crm_core.models.items import ItemType
from crm_core.services import items as items_service
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB
from handlers.clients_notify import TalkAction, TalkCB
from scheduler.jobs import pass_on_queued_clients
from tests.e2e.clients_helpers import activities, client_chat, events, labels, leads_of, messages, switch_on
from tests.e2e.harness import Harness
from tests.e2e.people import add_member

CLIENT_ID = 7801
SALES_ID = 7802
SALES2_ID = 7803
SALES3_ID = 7804


async def _responsible(bot: Harness, lead_id: int) -> int:
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        assert lead is not None
        return lead.responsible_id


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_known_client_by_shared_phone_joins_their_open_deal(bot: Harness, lang: str) -> None:
    await switch_on(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        contact = await items_service.create_contact(s, actor, name="Kate", phones=["+7 916 123-45-67"])
        deal = await items_service.create_deal(s, actor, title="Sofa order", contact_id=contact.id)
        deal_id = deal.id
    bot.tg.add_user(CLIENT_ID, "Kate", language_code=lang)
    [greeting] = await bot.say(CLIENT_ID, "/start")
    assert greeting.reply_keyboard  # the phone button
    # Sharing their own phone with the button: they are the known contact; their deal gets it.
    bot.tg.send_contact(CLIENT_ID, "+79161234567", "Kate", contact_user_id=CLIENT_ID)
    await bot.settle()
    await bot.say(CLIENT_ID, "Where is my sofa?")
    assert await leads_of(bot, CLIENT_ID) == []  # no duplicate lead
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None and (chat.owner_type, chat.owner_id) == (ItemType.DEAL, deal_id)
    texts = [e.payload["text"] for e in await events(bot, ItemType.DEAL, deal_id, "message_in")]
    assert texts[-1] == "Where is my sofa?"
    [activity] = await activities(bot, ItemType.DEAL, deal_id)
    assert activity.responsible_id == sales.id  # sticky: their own responsible
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None and "Where is my sofa?" in (notice.text or "")


async def test_known_client_by_telegram_id_gets_a_repeat_lead_after_the_deal_closed(bot: Harness) -> None:
    await switch_on(bot)
    sales = await add_member(bot, SALES_ID, "Sam Seller")
    other = await add_member(bot, SALES2_ID, "Olga Other")
    await bot.say(SALES2_ID, "/duty")
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        contact = await items_service.create_contact(s, actor, name="Kate")
        contact_id = contact.id
    bot.tg.add_user(CLIENT_ID, "Kate", language_code="en")
    await bot.say(CLIENT_ID, "Hi, first time")
    [lead] = await leads_of(bot, CLIENT_ID)
    assert lead.responsible_id == other.id  # new client: round robin among those on duty
    # Later the lead is linked to the contact and lost; the client writes again.
    async with bot.app.db.unit_of_work() as s:
        await s.execute(update(Lead).where(Lead.id == lead.id).values(contact_id=contact_id, closed=True))
        await s.execute(update(ClientChat).values(contact_id=contact_id))
        from crm_core.models import Contact

        await s.execute(update(Contact).where(Contact.id == contact_id).values(responsible_id=sales.id))
    await bot.say(CLIENT_ID, "Back again")
    leads = await leads_of(bot, CLIENT_ID)
    assert len(leads) == 2
    repeat = leads[1]
    assert repeat.contact_id == contact_id and repeat.is_return_customer
    assert repeat.responsible_id == sales.id  # sticky: the contact's own responsible


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_round_robin_skips_deactivated_and_the_queue_passes_it_on(bot: Harness, lang: str) -> None:
    admin = await switch_on(bot, lang)
    a = await add_member(bot, SALES_ID, "Ann", lang=lang)
    b = await add_member(bot, SALES2_ID, "Bob", lang=lang)
    c = await add_member(bot, SALES3_ID, "Cid", lang=lang)
    for tg in (SALES_ID, SALES2_ID, SALES3_ID):
        await bot.say(tg, "/duty")
    async with bot.app.db.unit_of_work() as s:
        (await s.get(User, b.id)).is_active = False  # type: ignore[union-attr]
    clients = [7811, 7812, 7813]
    for tg in clients:
        bot.tg.add_user(tg, f"Client{tg}", language_code=lang)
        await bot.say(tg, "hello")
    owners = [(await leads_of(bot, tg))[0].responsible_id for tg in clients]
    assert owners == [a.id, c.id, a.id]

    # Nobody took the first client within the queue time: it passes to the next person on duty.
    first = await client_chat(bot, clients[0])
    assert first is not None and not first.accepted
    async with bot.app.db.unit_of_work() as s:
        await s.execute(
            update(ClientChat)
            .where(ClientChat.id == first.id)
            .values(routed_at=utcnow() - timedelta(minutes=11))
        )
    assert await pass_on_queued_clients(bot.app.db) == 1
    await bot.settle()
    lead = (await leads_of(bot, clients[0]))[0]
    assert lead.responsible_id == c.id
    [activity] = await activities(bot, ItemType.LEAD, lead.id)
    assert activity.responsible_id == c.id
    notice = bot.tg.last_bot_message(SALES3_ID)
    assert notice is not None and ("Nobody took" if lang == "en" else "никто не взял") in (notice.text or "")
    # Cid takes it: it stays.
    await bot.press(SALES3_ID, notice, "🙋")
    assert (await client_chat(bot, clients[0])).accepted  # type: ignore[union-attr]
    async with bot.app.db.unit_of_work() as s:
        await s.execute(update(ClientChat).values(routed_at=utcnow() - timedelta(hours=1)))
    await pass_on_queued_clients(bot.app.db)
    assert (await leads_of(bot, clients[0]))[0].responsible_id == c.id
    assert admin.is_admin


async def test_fixed_person_rule_from_the_admin_screen(bot: Harness) -> None:
    await switch_on(bot, "ru")
    await add_member(bot, SALES_ID, "Ann", lang="ru")
    bob = await add_member(bot, SALES2_ID, "Bob", lang="ru")
    await bot.say(SALES_ID, "/duty")
    [home] = await bot.say(1001, "/admin")
    [screen] = await bot.press(1001, home, "Клиенты")
    [people] = await bot.press(1001, screen, "Один сотрудник")
    [screen] = await bot.press(1001, people, "Bob")
    assert "Bob" in (screen.text or "")
    # The greeting typed by the admin (escaped when sent).
    [prompt] = await bot.press(1001, screen, "Приветствие RU")
    await bot.say(1001, "Добрый день! <Магазин>")
    bot.tg.add_user(CLIENT_ID, "Катя", language_code="ru")
    [greeting] = await bot.say(CLIENT_ID, "Здравствуйте")
    assert greeting.text == "Добрый день! <Магазин>"
    assert (await leads_of(bot, CLIENT_ID))[0].responsible_id == bob.id


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_flooding_client_is_throttled_and_nothing_is_lost(bot: Harness, lang: str) -> None:
    await switch_on(bot, lang)
    await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    await bot.say(SALES_ID, "/duty")
    bot.tg.add_user(CLIENT_ID, "Kate", language_code=lang)
    before = len(bot.tg.bot_messages(SALES_ID))
    for i in range(20):
        bot.tg.send_text(CLIENT_ID, f"message {i}")
    # A staff member's update is not held up behind the client's.
    bot.tg.send_text(SALES_ID, "/help")
    await bot.settle()
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None
    logged = await messages(bot, chat.id)
    assert [m.text for m in logged] == [f"message {i}" for i in range(20)]
    to_client = [m.text for m in bot.tg.bot_messages(CLIENT_ID)]
    slow = [t for t in to_client if t and ("received all your messages" if lang == "en" else "Все ваши") in t]
    assert len(slow) == 1  # one polite note
    # The staff member's own answer came at once; the notices are paced to their chat (Telegram's
    # limit), so wait for the last of them.
    await bot.tg.wait_for(lambda: len(bot.tg.bot_messages(SALES_ID)) >= before + 7, timeout=30)
    notices = bot.tg.bot_messages(SALES_ID)[before:]
    # Five notices, then one collapsed "writing a lot", and the staff member's own answer.
    wrote, lot, helped = (
        ("wrote", "writing a lot", "/duty") if lang == "en" else ("пишет\n", "много", "/duty")
    )
    assert len([n for n in notices if wrote in (n.text or "")]) == 5
    assert len([n for n in notices if lot in (n.text or "")]) == 1
    assert any(helped in (n.text or "") for n in notices)  # /help answered meanwhile


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.telegram_errors_expected(reason="the client blocked the bot: Telegram answers 403 to the reply")
async def test_client_who_blocks_the_bot_is_marked_unreachable(bot: Harness, lang: str) -> None:
    await switch_on(bot, lang)
    await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    await bot.say(SALES_ID, "/duty")
    bot.tg.add_user(CLIENT_ID, "Kate", language_code=lang)
    await bot.say(CLIENT_ID, "hello")
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None
    await bot.press(SALES_ID, notice, "↩️")
    bot.tg.users[CLIENT_ID].blocked = True  # blocked, and the my_chat_member update not seen yet
    [answer] = await bot.say(SALES_ID, "Are you there?")
    assert ("blocked the bot" if lang == "en" else "заблокировал бота") in (answer.text or "")
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None and chat.unreachable
    lead = (await leads_of(bot, CLIENT_ID))[0]
    assert any(e.payload.get("kind") == "unreachable" for e in await events(bot, ItemType.LEAD, lead.id))
    # The Reply button now says why, and nothing is sent.
    sent_before = len(bot.tg.calls("sendMessage"))
    update_ = bot.tg.press_button(SALES_ID, notice.message_id, button_text=labels(notice)[0])
    await bot.settle()
    assert ("blocked" if lang == "en" else "заблокировал") in str(
        bot.tg.callback_answers[update_["callback_query"]["id"]]
    )
    assert len(bot.tg.calls("sendMessage")) == sent_before


async def test_blocking_update_marks_unreachable(bot: Harness) -> None:
    await switch_on(bot)
    await add_member(bot, SALES_ID, "Sam Seller")
    bot.tg.add_user(CLIENT_ID, "Kate", language_code="en")
    await bot.say(CLIENT_ID, "hello")
    bot.tg.block_bot(CLIENT_ID)
    await bot.settle()
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None and chat.unreachable
    await bot.say(CLIENT_ID, "sorry, unblocked")  # writing again: reachable
    assert not (await client_chat(bot, CLIENT_ID)).unreachable  # type: ignore[union-attr]


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_client_never_sees_crm_data_even_with_forged_buttons(bot: Harness, lang: str) -> None:
    await switch_on(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    async with bot.app.db.unit_of_work() as s:
        secret = await items_service.create_deal(s, await s.get(User, sales.id), title="Secret deal")
        secret_id = secret.id
    bot.tg.add_user(CLIENT_ID, "Mallory", language_code=lang)
    await bot.say(CLIENT_ID, "hello")
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None
    for text in ("/menu", "/today", f"/start D-{secret_id}", f"D-{secret_id}", "/admin"):
        replies = await bot.say(CLIENT_ID, text)
        assert all("Secret" not in (m.text or "") and not m.inline_keyboard for m in replies)
    forged = [
        CardCB(type=ItemType.DEAL, id=secret_id, action=CardAction.OPEN).pack(),
        MenuCB(action=MenuAction.MAIN).pack(),
        TalkCB(action=TalkAction.TAKE, chat=chat.id).pack(),
        TalkCB(action=TalkAction.REPLY, chat=chat.id).pack(),
        TalkCB(action=TalkAction.CLOSE, chat=chat.id).pack(),
    ]
    before = len(bot.tg.bot_messages(CLIENT_ID))
    for data in forged:
        bot.tg.forge_callback(CLIENT_ID, data)
    await bot.settle()
    assert len(bot.tg.bot_messages(CLIENT_ID)) == before  # no screen, no card
    async with bot.app.db.unit_of_work() as s:
        deal = await s.get(Deal, secret_id)
        assert deal is not None and deal.title == "Secret deal"
        chat_now = await s.scalar(select(ClientChat).where(ClientChat.id == chat.id))
        assert chat_now is not None and chat_now.accepted == chat.accepted
    # Everything the client typed is only logged as their messages.
    assert len(await messages(bot, chat.id)) == 6
