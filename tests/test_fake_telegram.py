"""Behavioural tests of the fake Telegram Bot API, driven through a real aiogram Bot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.fake_telegram import FakeTelegram, ManualClock
from bot.fake_telegram.errors import NOT_MODIFIED, QUERY_TOO_OLD

pytestmark = pytest.mark.asyncio

ALICE = 1001
BOB = 1002
GROUP = -4001


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(clock=clock)
    server.add_user(ALICE, "Alice", "Smith", username="alice")
    server.add_user(BOB, "Bob")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def make_bot(fake: FakeTelegram, token: str | None = None, parse_mode: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    return Bot(token or fake.token, session=session, default=DefaultBotProperties(parse_mode=parse_mode))


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    b = make_bot(fake)
    try:
        yield b
    finally:
        await b.session.close()


def kb(*buttons: InlineKeyboardButton) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[list(buttons)])


# ---------------------------------------------------------------------------------------- basics


async def test_get_me_and_auth(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "crm_test_bot"

    wrong = make_bot(fake, token="999:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await wrong.get_me()
    finally:
        await wrong.session.close()

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/bot{fake.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        # Method names are case-insensitive; JSON bodies are accepted too.
        async with http.post(f"{fake.base_url}/bot{fake.token}/GETME", json={}) as resp:
            assert (await resp.json())["result"]["id"] == 123456


# ---------------------------------------------------------------------------------------- updates


async def test_get_updates_offset_semantics(fake: FakeTelegram, bot: Bot) -> None:
    ids = [fake.send_text(ALICE, f"m{i}")["update_id"] for i in range(4)]
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == ids
    assert updates[0].message is not None and updates[0].message.text == "m0"
    # Without an offset nothing is confirmed.
    assert len(await bot.get_updates()) == 4
    # limit works, and offset confirms everything below it forever.
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=2)] == ids[1:3]
    assert fake.pending_updates_count == 3
    assert [u.update_id for u in await bot.get_updates()] == ids[1:]
    # Negative offset: only the last N remain; the rest are forgotten.
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[-1:]
    assert fake.pending_updates_count == 1
    assert await bot.get_updates(offset=ids[-1] + 1) == []
    assert fake.pending_updates_count == 0


async def test_injected_message_is_realistic(fake: FakeTelegram, bot: Bot) -> None:
    update = fake.send_text(ALICE, "/start@crm_test_bot hi, mail me at a@b.com or +7 999 123-45-67")
    msg = update["message"]
    assert msg["chat"] == {
        "id": ALICE,
        "type": "private",
        "first_name": "Alice",
        "last_name": "Smith",
        "username": "alice",
    }
    assert msg["from"]["id"] == ALICE and msg["from"]["is_bot"] is False
    types = [e["type"] for e in msg["entities"]]
    assert types == ["bot_command", "email", "phone_number"]
    assert msg["entities"][0] == {"type": "bot_command", "offset": 0, "length": 19}
    second = fake.send_text(ALICE, "again")
    assert second["update_id"] == update["update_id"] + 1
    assert second["message"]["message_id"] == msg["message_id"] + 1
    parsed = await bot.get_updates()
    assert parsed[0].message.entities[0].type == "bot_command"  # type: ignore[union-attr,index]


async def test_long_poll_wakes_up_on_injected_update(fake: FakeTelegram, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    fake.send_text(ALICE, "wake up")
    updates = await asyncio.wait_for(poll, 3)
    assert [u.message.text for u in updates] == ["wake up"]  # type: ignore[union-attr]
    assert loop.time() - started < 3
    # A long poll with nothing to deliver returns an empty list after the timeout.
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1) == []


async def test_concurrent_get_updates_conflict(fake: FakeTelegram, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError) as err:
        await asyncio.wait_for(first, 3)
    assert err.value.message == (
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    )
    assert await second == []
    assert fake.errors(409)[0].method == "getUpdates"


async def test_allowed_updates_filter(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "hello")
    sent = await fake_send_start_and_keyboard(fake, bot)
    fake.press_button(ALICE, sent.message_id, "yes")
    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert [u.callback_query.data for u in updates] == ["yes"]  # type: ignore[union-attr]


async def fake_send_start_and_keyboard(fake: FakeTelegram, bot: Bot) -> Message:
    return await bot.send_message(
        ALICE,
        "Proceed?",
        reply_markup=kb(
            InlineKeyboardButton(text="Yes", callback_data="yes"),
            InlineKeyboardButton(text="Site", url="https://example.com"),
        ),
    )


# ---------------------------------------------------------------------------------------- sending


async def test_send_message_html(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    sent = await bot.send_message(
        ALICE,
        '<b>Deal</b> #7 &lt;new&gt; for <a href="https://crm.example.com/d/7">ACME</a>\n'
        '<pre><code class="language-python">x = 1</code></pre>',
        parse_mode="HTML",
    )
    assert sent.text == "Deal #7 <new> for ACME\nx = 1"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 4),
        ("text_link", 18, 4),
        ("pre", 23, 5),
    ]
    assert sent.entities[1].url == "https://crm.example.com/d/7"  # type: ignore[index]
    assert sent.entities[2].language == "python"  # type: ignore[index]
    stored = fake.last_bot_message(ALICE)
    assert (
        stored is not None
        and stored.text == sent.text
        and stored.source is not None
        and "<b>" in stored.source
    )
    assert stored.html is not None and stored.html.startswith("<b>Deal</b>")


@pytest.mark.parametrize(
    ("html", "detail"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("hi <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 3'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("ok</b>", "Unexpected end tag at byte offset 2"),
        ("Привет <x>", 'Unsupported start tag "x" at byte offset 13'),
    ],
)
async def test_send_message_bad_html(fake: FakeTelegram, bot: Bot, html: str, detail: str) -> None:
    fake.send_text(ALICE, "/start")
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(ALICE, html, parse_mode="HTML")
    assert err.value.message == f"Bad Request: can't parse entities: {detail}"
    assert fake.bot_messages(ALICE) == []


async def test_text_length_limits_in_utf16(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    emoji = "\U0001f600"  # two UTF-16 code units
    ok = await bot.send_message(ALICE, emoji * 2048)
    assert ok.text == emoji * 2048
    with pytest.raises(
        TelegramBadRequest, match=r"^Telegram server says - Bad Request: message is too long$"
    ):
        await bot.send_message(ALICE, emoji * 2048 + "a")
    # Markup does not count: the limit applies after entity parsing.
    await bot.send_message(ALICE, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(ALICE, "  \n ")
    assert err.value.message == "Bad Request: message text is empty"
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(ALICE, "<b></b>", parse_mode="HTML")
    assert err.value.message == "Bad Request: message text is empty"


async def test_edit_not_modified_and_missing(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    markup = kb(InlineKeyboardButton(text="Go", callback_data="go"))
    sent = await bot.send_message(ALICE, "<b>Status</b>: new", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(TelegramBadRequest) as err:
        await bot.edit_message_text(
            text="<b>Status</b>: new",
            chat_id=ALICE,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    assert err.value.message == f"Bad Request: {NOT_MODIFIED}"
    edited = await bot.edit_message_text(
        text="<b>Status</b>: won",
        chat_id=ALICE,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert isinstance(edited, Message) and edited.text == "Status: won" and edited.edit_date is not None
    # Omitting reply_markup removes the keyboard, like Telegram does.
    await bot.edit_message_text(text="Status: won", chat_id=ALICE, message_id=sent.message_id)
    assert fake.messages(ALICE)[-1].reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=ALICE, message_id=999)
    assert await bot.delete_message(ALICE, sent.message_id) is True
    assert fake.messages(ALICE, include_deleted=True)[-1].deleted
    with pytest.raises(TelegramBadRequest) as err:
        await bot.delete_message(ALICE, sent.message_id)
    assert err.value.message == "Bad Request: message to delete not found"


async def test_inline_keyboard_validation(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    await bot.send_message(
        ALICE, "ok", reply_markup=kb(InlineKeyboardButton(text="x", callback_data="é" * 32))
    )
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(
            ALICE, "65", reply_markup=kb(InlineKeyboardButton(text="x", callback_data="a" * 65))
        )
    assert err.value.message == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(ALICE, "url", reply_markup=kb(InlineKeyboardButton(text="x", url="not a url")))
    assert err.value.message == "Bad Request: BUTTON_URL_INVALID"
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(ALICE, "bare", reply_markup=kb(InlineKeyboardButton(text="x")))
    assert err.value.message.startswith("Bad Request: can't parse inline keyboard button:")
    many = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=str(i), callback_data=str(i))] for i in range(101)]
    )
    with pytest.raises(TelegramBadRequest):
        await bot.send_message(ALICE, "many", reply_markup=many)


async def test_chat_errors(fake: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest) as err:
        await bot.send_message(777, "hi")
    assert err.value.message == "Bad Request: chat not found"
    with pytest.raises(TelegramForbiddenError) as forbidden:
        await bot.send_message(BOB, "hi")
    assert forbidden.value.message == "Forbidden: bot can't initiate conversation with a user"
    fake.send_text(BOB, "/start")
    await bot.send_message(BOB, "welcome")
    fake.block_bot(BOB)
    with pytest.raises(TelegramForbiddenError) as forbidden:
        await bot.send_message(BOB, "still there?")
    assert forbidden.value.message == "Forbidden: bot was blocked by the user"
    fake.add_group(GROUP, "Sales", [ALICE])
    await bot.send_message(GROUP, "hello group")
    fake.kick_bot(GROUP, ALICE)
    with pytest.raises(TelegramForbiddenError) as forbidden:
        await bot.send_message(GROUP, "hi")
    assert forbidden.value.message == "Forbidden: bot was kicked from the group chat"
    assert [e.status for e in fake.errors()] == [400, 403, 403, 403]


async def test_migrated_group(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Sales", [ALICE], owner_id=ALICE)
    fake.migrate_group(GROUP, -1001234567890)
    with pytest.raises(TelegramMigrateToChat) as err:
        await bot.send_message(GROUP, "hi")
    assert err.value.migrate_to_chat_id == -1001234567890
    assert (
        "Original description: Bad Request: group chat was upgraded to a supergroup chat" in err.value.message
    )
    sent = await bot.send_message(-1001234567890, "hi")
    assert sent.chat.type == "supergroup"
    service = [u.message for u in await bot.get_updates() if u.message]
    assert service[0].migrate_to_chat_id == -1001234567890  # type: ignore[union-attr]
    assert service[1].migrate_from_chat_id == GROUP  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------- flood control


async def test_rate_limit_and_early_retry(fake: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    fake.send_text(ALICE, "/start")
    for i in range(3):  # burst capacity
        await bot.send_message(ALICE, f"#{i}")
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(ALICE, "too fast")
    assert err.value.retry_after == 1
    assert err.value.message.endswith("Original description: Too Many Requests: retry after 1")
    assert fake.early_retries == []
    # Retrying before retry_after has elapsed is recorded (and refused again).
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(ALICE, "impatient")
    assert len(fake.early_retries) == 1 and fake.early_retries[0].chat_id == ALICE
    clock.advance(1.0)
    await bot.send_message(ALICE, "patient")
    assert len(fake.early_retries) == 1
    # Other chats are not affected by Alice's bucket.
    fake.send_text(BOB, "/start")
    await bot.send_message(BOB, "hi Bob")
    fake.set_rate_limits(False)
    for i in range(10):
        await bot.send_message(ALICE, f"unlimited {i}")


async def test_group_and_global_limits(fake: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    fake.add_group(GROUP, "Sales", [ALICE])
    for i in range(20):
        await bot.send_message(GROUP, f"g{i}")
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(GROUP, "g20")
    # No more than 20 in any 60 s: refused until the first of them leaves the minute.
    assert err.value.retry_after == 60
    clock.advance(30)
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(GROUP, "g20")
    assert err.value.retry_after == 30
    clock.advance(29)
    with pytest.raises(TelegramRetryAfter) as err:  # 59 s: still within the first one's minute
        await bot.send_message(GROUP, "g20")
    assert err.value.retry_after == 1
    clock.advance(1)
    for i in range(20, 40):
        await bot.send_message(GROUP, f"g{i}")
    # Global limit: 30 messages per second across chats.
    for uid in range(2000, 2011):
        fake.add_user(uid, f"U{uid}")
        fake.send_text(uid, "/start")
    clock.advance(60)
    sent = 0
    with pytest.raises(TelegramRetryAfter):
        for uid in range(2000, 2011):
            for _ in range(3):
                await bot.send_message(uid, "broadcast")
                sent += 1
    assert sent == 30


async def test_fault_injection(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    fake.fail_next("sendMessage", 2, chat_id=ALICE)
    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Internal Server Error"):
            await bot.send_message(ALICE, "x")
    await bot.send_message(ALICE, "x")
    fake.fail_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as err:
        await bot.send_message(ALICE, "y")
    assert err.value.retry_after == 7
    fake.delay_next("getMe", 0.3)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await bot.get_me()
    assert loop.time() - t0 >= 0.3


# ---------------------------------------------------------------------------------------- callbacks


async def test_callback_queries(fake: FakeTelegram, bot: Bot, clock: ManualClock) -> None:
    fake.send_text(ALICE, "/start")
    sent = await fake_send_start_and_keyboard(fake, bot)
    update = fake.press_button(ALICE, sent.message_id, button_text="Yes")
    query = update["callback_query"]
    assert query["data"] == "yes" and query["message"]["message_id"] == sent.message_id
    assert fake.callback_answers == {query["id"]: None}
    parsed = [u for u in await bot.get_updates() if u.callback_query]
    assert parsed[0].callback_query.message.reply_markup is not None  # type: ignore[union-attr]
    assert await bot.answer_callback_query(query["id"], text="Done") is True
    assert fake.callback_answers[query["id"]] == {"text": "Done"}
    with pytest.raises(TelegramBadRequest) as err:
        await bot.answer_callback_query(query["id"])
    assert err.value.message == f"Bad Request: {QUERY_TOO_OLD}"

    late = fake.press_button(ALICE, sent.message_id, "yes")["callback_query"]
    clock.advance(16)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(late["id"])
    assert fake.callback_answers[late["id"]] is None
    with pytest.raises(LookupError, match="no button"):
        fake.press_button(ALICE, sent.message_id, "nope")

    # A forged press carries any data, but only on a message the chat still has.
    forged = fake.forge_callback(ALICE, "anything", message_id=sent.message_id)["callback_query"]
    assert forged["data"] == "anything" and forged["message"]["message_id"] == sent.message_id
    assert await bot.delete_message(ALICE, sent.message_id) is True
    pending = len(fake.callback_answers)
    with pytest.raises(LookupError, match="not found"):
        fake.press_button(ALICE, sent.message_id, "yes")
    with pytest.raises(LookupError, match="not found"):
        fake.forge_callback(ALICE, "yes", message_id=sent.message_id)
    assert len(fake.callback_answers) == pending


# ---------------------------------------------------------------------------------------- files


async def test_document_upload_and_download(fake: FakeTelegram, bot: Bot) -> None:
    fake.send_text(ALICE, "/start")
    payload = b"id,name\n1,ACME\n" * 100
    sent = await bot.send_document(
        ALICE, BufferedInputFile(payload, filename="deals.csv"), caption="<i>Export</i>", parse_mode="HTML"
    )
    assert sent.document is not None and sent.document.file_name == "deals.csv"
    assert sent.document.file_size == len(payload)
    assert sent.caption == "Export" and sent.caption_entities[0].type == "italic"  # type: ignore[index]
    file = await bot.get_file(sent.document.file_id)
    assert file.file_path and file.file_size == len(payload)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == payload
    # Re-sending by file_id works; a caption over 1024 characters does not.
    again = await bot.send_document(ALICE, sent.document.file_id)
    assert again.document.file_id == sent.document.file_id  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(ALICE, sent.document.file_id, caption="c" * 1025)
    # A user's upload can be fetched by the bot.
    user_doc = fake.send_document(ALICE, "contract.pdf", b"%PDF-1.4 test", "application/pdf")
    file_id = user_doc["message"]["document"]["file_id"]
    got = await bot.download(file_id)
    assert got is not None and got.read() == b"%PDF-1.4 test"


# ---------------------------------------------------------------------------------------- commands


async def test_my_commands_per_scope_and_language(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Sales", [ALICE])
    default = [
        BotCommand(command="start", description="Start"),
        BotCommand(command="deals", description="Deals"),
    ]
    await bot.set_my_commands(default)
    await bot.set_my_commands([BotCommand(command="start", description="Старт")], language_code="ru")
    await bot.set_my_commands(
        [BotCommand(command="report", description="Report")], scope=BotCommandScopeAllGroupChats()
    )
    await bot.set_my_commands(
        [BotCommand(command="pipeline", description="Pipeline")], scope=BotCommandScopeChat(chat_id=GROUP)
    )
    assert [c.command for c in await bot.get_my_commands()] == ["start", "deals"]
    assert [c.description for c in await bot.get_my_commands(language_code="ru")] == ["Старт"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())] == ["report"]
    assert fake.commands_for({"type": "chat", "chat_id": GROUP}) == [
        {"command": "pipeline", "description": "Pipeline"}
    ]
    assert fake.commands_for(language_code="ru") == [{"command": "start", "description": "Старт"}]

    for bad in ("Start", "with-dash", "x" * 33, ""):
        with pytest.raises(TelegramBadRequest) as err:
            await bot.set_my_commands([BotCommand(command=bad, description="d")])
        assert err.value.message == "Bad Request: BOT_COMMAND_INVALID"
    assert await bot.delete_my_commands(language_code="ru")
    assert await bot.get_my_commands(language_code="ru") == []


# ---------------------------------------------------------------------------------------- misc methods


async def test_misc_methods_shapes(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Sales", [ALICE, BOB], owner_id=ALICE, bot_is_admin=True)
    fake.send_text(ALICE, "/start")
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Sales" and chat.type == "group"
    member = await bot.get_chat_member(GROUP, BOB)
    assert member.status == "member"
    me = await bot.get_chat_member(GROUP, fake.bot_id)
    assert me.status == "administrator"
    link = await bot.create_chat_invite_link(GROUP, name="crm")
    assert link.invite_link.startswith("https://t.me/+") and link.name == "crm"
    sent = await bot.send_message(GROUP, "pin me")
    assert await bot.pin_chat_message(GROUP, sent.message_id)
    assert (await bot.get_chat(GROUP)).pinned_message.message_id == sent.message_id  # type: ignore[union-attr]
    assert await bot.unpin_chat_message(GROUP, message_id=sent.message_id)
    assert await bot.send_chat_action(ALICE, "typing")
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(ALICE, "dancing")
    copied = await bot.copy_message(ALICE, GROUP, sent.message_id)
    assert fake.get_message(ALICE, copied.message_id).text == "pin me"  # type: ignore[union-attr]
    forwarded = await bot.forward_message(ALICE, GROUP, sent.message_id)
    assert forwarded.forward_origin is not None and forwarded.text == "pin me"
    inline = fake.inline_query(ALICE, "acme")["inline_query"]
    assert await bot.answer_inline_query(inline["id"], results=[])
    assert fake.inline_answers[inline["id"]] == {"results": []}
    assert await bot.leave_chat(GROUP)
    with pytest.raises(TelegramForbiddenError, match="not a member"):
        await bot.send_message(GROUP, "gone")


async def test_results_match_api_schema(fake: FakeTelegram, bot: Bot) -> None:
    """Every object the fake returns carries the fields api.json marks as required."""
    # The project's sibling checkout of the Bot API description; a clean clone must have it too.
    schema_path = Path(__file__).resolve().parents[1].parent / "shared" / "telegram-bot-api" / "api.json"
    assert schema_path.exists(), f"the Bot API schema is missing: {schema_path}"
    types = json.loads(schema_path.read_text())["types"]

    def required(name: str) -> set[str]:
        return {f["name"] for f in types[name]["fields"] if f["required"]}

    fake.add_group(GROUP, "Sales", [ALICE], bot_is_admin=True)
    fake.send_text(ALICE, "/start")
    msg = await bot.send_message(
        ALICE, "x", reply_markup=kb(InlineKeyboardButton(text="a", callback_data="a"))
    )
    query = fake.press_button(ALICE, msg.message_id, "a")["callback_query"]
    record = fake.calls("sendMessage")[-1]
    assert required("Message") <= set(record.result)
    assert required("User") <= set(record.result["from"])
    assert required("Chat") <= set(record.result["chat"])
    assert required("CallbackQuery") <= set(query)
    await bot.get_chat(ALICE)
    assert required("ChatFullInfo") <= set(fake.calls("getChat")[-1].result)
    await bot.get_chat_member(GROUP, fake.bot_id)
    assert required("ChatMemberAdministrator") <= set(fake.calls("getChatMember")[-1].result)
    await bot.create_chat_invite_link(GROUP)
    assert required("ChatInviteLink") <= set(fake.calls("createChatInviteLink")[-1].result)


# ---------------------------------------------------------------------------------------- end to end


async def test_dispatcher_polling_end_to_end(fake: FakeTelegram, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"<b>echo</b>: {message.text}", parse_mode="HTML")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        fake.send_text(ALICE, "hello")
        replies = await fake.wait_bot_messages(ALICE, 1, timeout=5)
        assert replies[0].text == "echo: hello"
        assert replies[0].entities == [{"type": "bold", "offset": 0, "length": 4}]
        marker = fake.mark()
        fake.send_text(ALICE, "second")
        replies = await fake.wait_bot_messages(ALICE, since=marker)
        assert [m.text for m in replies] == ["echo: second"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)


async def test_control_http_api(fake: FakeTelegram, bot: Bot) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{fake.base_url}/_control/send_text", json={"user_id": ALICE, "text": "hi"}
        ) as resp:
            assert resp.status == 200
            update = await resp.json()
        assert update["message"]["text"] == "hi"
        sent = await bot.send_message(
            ALICE, "pick", reply_markup=kb(InlineKeyboardButton(text="A", callback_data="a"))
        )
        async with http.post(
            f"{fake.base_url}/_control/press_button",
            json={"user_id": ALICE, "message_id": sent.message_id, "button_text": "A"},
        ) as resp:
            assert (await resp.json())["callback_query"]["data"] == "a"
        async with http.get(f"{fake.base_url}/_control/messages", params={"chat_id": ALICE}) as resp:
            msgs = await resp.json()
        assert [(m["from_bot"], m["text"]) for m in msgs] == [(False, "hi"), (True, "pick")]
        assert msgs[1]["buttons"] == [[["A", "a", None]]]
        async with http.get(f"{fake.base_url}/_control/requests") as resp:
            assert [r["method"] for r in await resp.json()] == ["sendMessage"]
        async with http.post(
            f"{fake.base_url}/_control/press_button", json={"user_id": ALICE, "message_id": 99}
        ) as resp:
            assert resp.status == 400


async def test_user_side_injectors_parse_in_aiogram(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_group(GROUP, "Sales", [ALICE], owner_id=ALICE, bot_is_member=False)
    fake.forward_message(ALICE, "fwd user", origin_user=BOB)
    fake.forward_message(ALICE, "fwd hidden", origin_name="Hidden Guy")
    fake.forward_message(
        ALICE, "fwd channel", origin_chat={"id": -100777, "type": "channel", "title": "News"}
    )
    fake.send_contact(ALICE, "+15550001111", "Carol", contact_user_id=3003)
    png = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (640).to_bytes(4, "big")
        + (480).to_bytes(4, "big")
        + b"\x08"
    )
    fake.send_photo(ALICE, png, caption="receipt")
    fake.add_member_event(GROUP, ALICE, [fake.bot_id, BOB])
    fake.send_text(ALICE, "hello group", chat_id=GROUP)
    updates = await bot.get_updates()
    msgs = [u.message for u in updates if u.message]
    assert [m.forward_origin.type for m in msgs[:3]] == ["user", "hidden_user", "channel"]  # type: ignore[union-attr]
    assert msgs[3].contact.user_id == 3003  # type: ignore[union-attr]
    assert (msgs[4].photo[-1].width, msgs[4].photo[-1].height) == (640, 480)  # type: ignore[index]
    assert [u.id for u in msgs[5].new_chat_members or []] == [fake.bot_id, BOB]
    assert msgs[6].text == "hello group" and msgs[6].chat.type == "group"
    member_updates = [u.my_chat_member for u in updates if u.my_chat_member]
    assert member_updates[0].new_chat_member.status == "member"  # type: ignore[union-attr]
    sent = await bot.send_message(ALICE, "*bold* and \\_underscore\\_", parse_mode="MarkdownV2")
    assert sent.text == "bold and _underscore_" and sent.entities[0].type == "bold"  # type: ignore[index]
    with pytest.raises(TelegramBadRequest, match="Character '.' is reserved"):
        await bot.send_message(ALICE, "v1.2", parse_mode="MarkdownV2")


async def test_privacy_mode_filters_group_messages(clock: ManualClock) -> None:
    server = FakeTelegram(clock=clock, privacy_mode=True)
    server.add_user(ALICE, "Alice")
    server.add_group(GROUP, "Sales", [ALICE])
    assert server.send_text(ALICE, "just chatting", chat_id=GROUP)["update_id"] is None
    assert server.send_text(ALICE, "/deals", chat_id=GROUP)["update_id"] is not None
    assert server.send_text(ALICE, "hey @crm_test_bot", chat_id=GROUP)["update_id"] is not None
    assert server.pending_updates_count == 2
    assert len(server.messages(GROUP)) == 3
