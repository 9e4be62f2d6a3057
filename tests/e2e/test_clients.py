"""The bot as an open line: a client writes, a lead is made with an incoming activity, the
responsible is told and answers, both directions are logged."""

from __future__ import annotations

import pytest

from crm_core.models import ActivityDirection, MessageDirection
from crm_core.models.items import ItemType
from tests.e2e.clients_helpers import activities, client_chat, events, labels, leads_of, messages, switch_on
from tests.e2e.harness import Harness
from tests.e2e.people import add_member

CLIENT_ID = 7701
SALES_ID = 7702
SALES2_ID = 7703


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_new_client_becomes_a_lead_and_the_reply_reaches_them(bot: Harness, lang: str) -> None:
    await switch_on(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    await bot.say(SALES_ID, "/duty")
    bot.tg.add_user(CLIENT_ID, "Kate", "Client", username="kate_c", language_code=lang)

    replies = await bot.say(CLIENT_ID, "Hello, how much is the <b>sofa</b>?")
    # The client gets the greeting in their language with a button to share their phone, nothing else.
    assert len(replies) == 1
    greeting = replies[0]
    assert ("Hello!" if lang == "en" else "Здравствуйте") in (greeting.text or "")
    assert greeting.reply_keyboard == [
        ["📱 Share my phone number" if lang == "en" else "📱 Поделиться номером"]
    ]
    assert greeting.inline_keyboard == []
    # Their command menu shows no CRM command.
    commands = bot.tg.commands_for(scope={"type": "chat", "chat_id": CLIENT_ID}, language_code="")
    assert [c["command"] for c in commands] == ["start"]

    [lead] = await leads_of(bot, CLIENT_ID)
    assert lead.source == "telegram" and lead.responsible_id == sales.id
    assert lead.title == "Kate Client" and lead.name == "Kate" and lead.comment == "@kate_c"
    [activity] = await activities(bot, ItemType.LEAD, lead.id)
    assert activity.direction == ActivityDirection.INCOMING and not activity.completed
    [incoming] = await events(bot, ItemType.LEAD, lead.id, "message_in")
    assert incoming.payload["text"] == "Hello, how much is the <b>sofa</b>?"

    # The responsible is told, with Reply / Open / Take (the conversation waits in the queue).
    notice = bot.tg.last_bot_message(SALES_ID)
    assert notice is not None and "Kate Client" in (notice.text or "")
    assert "<b>sofa</b>" in (notice.text or "")  # the client's text shown as typed, escaped
    assert len(labels(notice)) == 3

    # Reply: the button, then the message; it reaches the client through the bot.
    [prompt] = await bot.press(SALES_ID, notice, "↩️")
    [sent] = await bot.say(SALES_ID, "It is 500 <EUR>")
    assert ("Sent" if lang == "en" else "Отправлено") in (sent.text or "")
    answer = bot.tg.last_bot_message(CLIENT_ID)
    assert answer is not None and answer.text == "It is 500 <EUR>"

    # Replying to the notice works too.
    bot.tg.send_text(SALES_ID, "We deliver tomorrow", reply_to_message_id=notice.message_id)
    await bot.settle()
    assert bot.tg.last_bot_message(CLIENT_ID).text == "We deliver tomorrow"  # type: ignore[union-attr]

    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None and chat.accepted  # answering took it
    logged = await messages(bot, chat.id)
    assert [m.direction for m in logged] == [MessageDirection.IN, MessageDirection.OUT, MessageDirection.OUT]
    assert [e.payload["text"] for e in await events(bot, ItemType.LEAD, lead.id, "message_out")] == [
        "It is 500 <EUR>",
        "We deliver tomorrow",
    ]

    # Close the conversation: the incoming activity is completed; the client writing again opens one.
    [done] = await bot.press(SALES_ID, sent, "✅")
    [activity] = await activities(bot, ItemType.LEAD, lead.id)
    assert activity.completed
    await bot.say(CLIENT_ID, "One more question")
    assert [a.completed for a in await activities(bot, ItemType.LEAD, lead.id)] == [True, False]
    assert len(await leads_of(bot, CLIENT_ID)) == 1  # same lead, no duplicate


async def test_client_media_land_in_the_timeline_by_file_id(bot: Harness) -> None:
    await switch_on(bot)
    await add_member(bot, SALES_ID, "Sam Seller")
    await bot.say(SALES_ID, "/duty")
    bot.tg.add_user(CLIENT_ID, "Kate", language_code="en")
    await bot.say(CLIENT_ID, "Hi")
    bot.tg.send_photo(CLIENT_ID, b"\xff\xd8\xff\xe0" + b"0" * 64, caption="this one")
    bot.tg.send_document(CLIENT_ID, "spec.pdf", b"%PDF-1.4 test", "application/pdf")
    bot.tg.send_voice(CLIENT_ID)
    bot.tg.send_sticker(CLIENT_ID, "👍")
    await bot.settle()
    chat = await client_chat(bot, CLIENT_ID)
    assert chat is not None
    logged = await messages(bot, chat.id)
    assert [m.kind for m in logged] == ["text", "photo", "document", "voice", "sticker"]
    assert all(m.file_id in bot.tg.files for m in logged[1:])
    notices = bot.tg.bot_messages(SALES_ID)[-4:]
    shown = "\n".join(n.text or "" for n in notices)
    for word in ("[photo] this one", "[document] spec.pdf", "[voice message]", "[sticker] 👍"):
        assert word in shown
    # The salesperson answers with a photo: sent by its file_id, never downloaded.
    [prompt] = await bot.press(SALES_ID, notices[-1], "Reply")
    photo = bot.tg.store_file(b"\xff\xd8\xff\xe0" + b"1" * 64, kind="photos", mime_type="image/jpeg")
    bot.tg._incoming(SALES_ID, None, caption="our sofa", content={"photo": bot.tg._photo_api(photo)})
    await bot.settle()
    sent = bot.tg.last_bot_message(CLIENT_ID)
    assert sent is not None and sent.content["photo"][0]["file_id"] == photo.file_id
    assert not bot.tg.calls("getFile")
    out = (await messages(bot, chat.id))[-1]
    assert out.direction == MessageDirection.OUT and out.kind == "photo" and out.file_id == photo.file_id


async def test_strangers_are_refused_while_the_channel_is_off(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    bot.tg.add_user(CLIENT_ID, "Kate", language_code="en")
    [refusal] = await bot.say(CLIENT_ID, "Hello")
    assert await client_chat(bot, CLIENT_ID) is None
    assert "invite" in (refusal.text or "").lower() or refusal.text
