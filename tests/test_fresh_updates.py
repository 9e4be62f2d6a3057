"""The poller's getUpdates answer: updates still in flight come back with every poll, and only the
new ones are turned into objects (parsing them all again cost more CPU than handling them)."""

from __future__ import annotations

import json

from aiogram.methods import GetUpdates

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
