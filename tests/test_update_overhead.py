"""Per-update overhead outside the handlers. The poller's getUpdates answer: updates still in flight
come back with every poll, and only the new ones are turned into objects (parsing them all again
cost more CPU than handling them). Filters and handlers run on the event loop, not in threads."""

from __future__ import annotations

import json

from aiogram.methods import EditMessageText, GetUpdates, SendMessage

from bot.app import create_bot
from bot.polling import FreshUpdates


def _answer(ids: list[int]) -> str:
    chat = {"id": 7, "type": "private", "first_name": "Ivan"}
    user = {"id": 7, "is_bot": False, "first_name": "Ivan"}
    return json.dumps(
        {
            "ok": True,
            "result": [
                {
                    "update_id": i,
                    "message": {"message_id": i, "date": 0, "chat": chat, "from": user, "text": "x"},
                }
                for i in ids
            ],
        }
    )


def test_only_updates_after_the_last_seen_are_parsed() -> None:
    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    method = FreshUpdates(offset=10, timeout=0)
    method._seen = 12
    response = bot.session.check_response(bot, method, 200, _answer([10, 11, 12, 13, 14]))
    assert [u.update_id for u in response.result] == [13, 14]
    assert "_seen" not in json.dumps(method.model_dump())  # not sent to the server


def test_first_poll_and_plain_get_updates_parse_everything() -> None:
    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    first = bot.session.check_response(bot, FreshUpdates(timeout=0), 200, _answer([1, 2]))
    plain = bot.session.check_response(bot, GetUpdates(timeout=0), 200, _answer([1, 2]))
    assert [u.update_id for u in first.result] == [1, 2]
    assert [u.update_id for u in plain.result] == [1, 2]


def test_no_filter_or_handler_of_the_dispatcher_runs_in_a_thread() -> None:
    """aiogram runs plain-function callbacks through asyncio.to_thread; ours run on the event loop."""
    from aiogram import Router

    from bot.app import build_dispatcher
    from crm_core.db import Database
    from handlers.context import HandlerOptions

    db = Database("sqlite+aiosqlite:///:memory:")
    dp = build_dispatcher(
        db, HandlerOptions(admin_ids=frozenset(), default_timezone="UTC", phone_region="RU")
    )

    def routers(router: Router) -> list[Router]:
        return [router, *(r for sub in router.sub_routers for r in routers(sub))]

    callables = [
        obj
        for router in routers(dp)
        for observer in router.observers.values()
        for handler in [*observer.handlers, observer._handler]
        for obj in [handler, *(handler.filters or [])]
    ]
    assert len(callables) > 100
    assert [obj.callback for obj in callables if not obj.awaitable] == []


def test_a_call_without_files_is_one_json_body_and_one_with_files_a_form() -> None:
    import orjson
    from aiogram.methods import SendDocument, SendMessage
    from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup
    from aiohttp import FormData

    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Stage", callback_data="cs:1")]]
    )
    body = bot.session.build_form_data(bot, SendMessage(chat_id=7, text="<b>L-1</b>", reply_markup=markup))
    assert body.content_type == "application/json"
    sent = orjson.loads(body._value)
    assert sent == {
        "chat_id": 7,
        "text": "<b>L-1</b>",
        "parse_mode": "HTML",  # the bot's default, resolved as the form resolved it
        "reply_markup": {"inline_keyboard": [[{"text": "Stage", "callback_data": "cs:1"}]]},
    }
    document = SendDocument(chat_id=7, document=BufferedInputFile(b"x", filename="a.txt"))
    assert isinstance(bot.session.build_form_data(bot, document), FormData)


def test_settling_the_heap_collects_garbage_and_freezes_what_lives() -> None:
    """A bot process freezes what start-up built, so that collections during updates do not walk
    it again and again; garbage left over from start-up is collected first, not frozen."""
    import gc
    import weakref

    from bot.app import YOUNG_COLLECTION, settle_heap

    class Node:
        pass

    garbage = Node()
    garbage.self = garbage  # type: ignore[attr-defined]  # a cycle: only the collector frees it
    gone = weakref.ref(garbage)
    del garbage
    alive = [Node()]
    thresholds = gc.get_threshold()
    try:
        assert settle_heap() > 0
        assert gone() is None
        assert not any(o is alive for o in gc.get_objects())  # out of the collector's generations
        assert gc.get_threshold()[0] == YOUNG_COLLECTION  # young objects collected less often
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert any(o is alive for o in gc.get_objects())  # unfrozen, back in the oldest generation


def test_a_sent_message_comes_back_without_what_the_bot_wrote_into_it() -> None:
    """Parsing a sent card's entities and keyboard into objects cost most of its answer; nothing
    reads them. Messages that arrive in updates keep theirs."""
    from aiogram.methods import SendMessage

    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    keyboard = {"inline_keyboard": [[{"text": "Stage", "callback_data": "c:1"}]]}
    bold = [{"type": "bold", "offset": 0, "length": 4}]
    message = {
        "message_id": 5,
        "date": 0,
        "chat": {"id": 7, "type": "private", "first_name": "Ivan"},
        "text": "Card text",
        "entities": bold,
        "reply_markup": keyboard,
    }
    sent = bot.session.check_response(
        bot, SendMessage(chat_id=7, text="x"), 200, json.dumps({"ok": True, "result": message})
    ).result
    assert (sent.message_id, sent.chat.id, sent.text) == (5, 7, "Card text")
    assert sent.entities is None and sent.reply_markup is None

    person = {"id": 7, "is_bot": False, "first_name": "Ivan"}
    press = {"id": "q", "from": person, "chat_instance": "c", "data": "c:1", "message": message}
    incoming = {"update_id": 1, "callback_query": press}
    method = FreshUpdates(offset=1, timeout=0)
    [update] = bot.session.check_response(
        bot, method, 200, json.dumps({"ok": True, "result": [incoming]})
    ).result
    assert update.callback_query.message.reply_markup.inline_keyboard[0][0].callback_data == "c:1"
    assert update.callback_query.message.entities[0].type == "bold"


def test_the_json_body_holds_what_aiogram_form_would_send() -> None:
    """bot.api_body reads the method's fields itself; for every kind of value a call carries it
    sends what aiogram's own `prepare_value` makes of the method's dump, leaving out what a form
    leaves out."""
    from datetime import UTC, datetime

    import orjson
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode
    from aiogram.methods import (
        AnswerCallbackQuery,
        BanChatMember,
        CreateForumTopic,
        EditMessageText,
        RestrictChatMember,
        SendMessage,
        SendPoll,
        SetMyCommands,
    )
    from aiogram.types import (
        BotCommand,
        BotCommandScopeAllGroupChats,
        CallbackGame,
        ChatPermissions,
        CopyTextButton,
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        LinkPreviewOptions,
        LoginUrl,
        ReplyParameters,
        SwitchInlineQueryChosenChat,
        WebAppInfo,
    )

    from bot.api_body import json_body

    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    bot.default = DefaultBotProperties(parse_mode=ParseMode.HTML, protect_content=True)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Stage", callback_data="cs:1")],
            [InlineKeyboardButton(text="Site", url="https://example.com/a?b=1")],
            [
                InlineKeyboardButton(text="App", web_app=WebAppInfo(url="https://example.com/app")),
                InlineKeyboardButton(
                    text="Log in", login_url=LoginUrl(url="https://e.com/l", forward_text="")
                ),
                InlineKeyboardButton(text="Copy", copy_text=CopyTextButton(text="+7 912"), style="primary"),
            ],
            [
                InlineKeyboardButton(
                    text="Pick", switch_inline_query_chosen_chat=SwitchInlineQueryChosenChat(query="L-")
                ),
                InlineKeyboardButton(text="Play", callback_game=CallbackGame()),
                InlineKeyboardButton(text="Pay", pay=True, icon_custom_emoji_id="5368324170671202286"),
            ],
        ]
    )
    methods = [
        SendMessage(chat_id=7, text="<b>L-1</b>", reply_markup=markup),
        SendMessage(
            chat_id=-100123,
            message_thread_id=5,
            text="x",
            parse_mode=None,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=ReplyParameters(message_id=3, allow_sending_without_reply=True),
            disable_notification=False,
        ),
        SendMessage(chat_id="@channel", text="", business_connection_id="b1"),
        EditMessageText(chat_id=7, message_id=9, text="t", reply_markup=markup),
        AnswerCallbackQuery(callback_query_id="42", text="Done", show_alert=False, cache_time=0),
        SendPoll(chat_id=7, question="Q?", options=["a", "b"], is_anonymous=False),
        CreateForumTopic(chat_id=-100123, name="L-1 Windows", icon_color=0x6FB9F0),
        SetMyCommands(
            commands=[BotCommand(command="today", description="Today")], scope=BotCommandScopeAllGroupChats()
        ),
        BanChatMember(chat_id=-100123, user_id=7, until_date=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        RestrictChatMember(
            chat_id=-100123,
            user_id=7,
            permissions=ChatPermissions(can_send_messages=False),
            until_date=datetime(2031, 5, 6, tzinfo=UTC),
        ),
    ]
    for method in methods:
        files: dict[str, object] = {}
        expected = {}
        for key, value in method.model_dump(warnings=False).items():
            value = bot.session.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            if value is not None and value != "":
                expected[key] = value
        assert not files
        sent = orjson.loads(orjson.dumps(json_body(bot, method)))
        assert sent == orjson.loads(orjson.dumps(expected)), type(method).__name__
    first = orjson.loads(orjson.dumps(json_body(bot, methods[0])))
    assert first["parse_mode"] == "HTML" and first["protect_content"] is True  # defaults resolved
    assert "text" not in json_body(bot, methods[2])  # an empty text is left out, as by the form


def test_a_screens_keyboard_is_dumped_once_for_its_digest_record_and_calls(monkeypatch) -> None:
    """A shown screen's keyboard is read for its digest, for the update's record of held replies and
    for the bodies of the edit and of the message sent when the edit cannot be made: one dump of it
    serves them all, and each gets the keyboard whole."""
    import orjson
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from bot.api_body import json_body
    from handlers import keyboard_data as kept
    from handlers.held_replies import HeldReplies
    from handlers.ui import _digest

    def keyboard(n: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=f"Stage {n}", callback_data=f"cs:{n}")],
                [InlineKeyboardButton(text="Site", url="https://example.com/")],
            ]
        )

    dumps: list[int] = []
    dump = InlineKeyboardMarkup.model_dump

    def counting(self: InlineKeyboardMarkup, **kwargs: object) -> dict:
        dumps.append(id(self))
        return dump(self, **kwargs)

    monkeypatch.setattr(InlineKeyboardMarkup, "model_dump", counting)
    bot = create_bot("1:TEST", "http://127.0.0.1:9")
    markup = keyboard(1)
    whole = {
        "inline_keyboard": [
            [{"text": "Stage 1", "callback_data": "cs:1"}],
            [{"text": "Site", "url": "https://example.com/"}],
        ]
    }
    send = SendMessage(chat_id=7, text="L-1", reply_markup=markup)
    edit = EditMessageText(chat_id=7, message_id=9, text="L-1", reply_markup=markup)
    digest = _digest("L-1", markup)
    held = HeldReplies()
    held.hold(_nothing, send, edit)
    [item] = orjson.loads(held.stored() or "")
    bodies = [orjson.loads(orjson.dumps(json_body(bot, method))) for method in (edit, send)]
    assert dumps == [id(markup)]
    assert item["send"]["reply_markup"] == item["edit"]["reply_markup"] == whole
    assert [body["reply_markup"] for body in bodies] == [whole, whole]
    # The digest is the one the screen memory kept before (a dump without defaults): unchanged.
    assert _digest("L-1", keyboard(1)) == digest
    assert kept.keyboard_data(keyboard(1)) == dump(markup, exclude_none=True, exclude_defaults=True)

    # Only the last few keyboards are kept: an old one is dumped again.
    others = [keyboard(n) for n in range(2, kept.KEPT + 3)]
    for other in others:
        kept.keyboard_data(other)
    assert len(kept._recent) == kept.KEPT
    dumps.clear()
    assert kept.keyboard_data(markup) == whole
    assert dumps == [id(markup)]


async def _nothing() -> None:
    return None
