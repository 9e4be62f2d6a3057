"""The fake Bot API of the throughput benchmark, in a process of its own.

    python -m bench.bench_fake --port-file PATH --token ECHO_TOKEN --token CRM_TOKEN

One fake per bot token (each bot sees only its own chats), rate limits off. Besides the fake's own
control API each serves ``POST /_bench/act``: inject one update (a text, or the press of the button
with the given callback data on the latest bot message in the chat that has it) and answer once the
bot has answered it, with the latency measured here, next to the bot, and the bot's reply.

A reply is credited to its update exactly: a button press by the answerCallbackQuery of its query
id; a text by the first sendMessage/editMessageText to its chat after the bot has fetched that
update (getUpdates returned it) and while it is the chat's oldest update waiting (the driver keeps
one update in flight per person; the CRM handles a chat's updates in order). Anything the bot sends
to a chat with no text update of it waiting there is counted as stray (`GET /_bench/stats`): a
non-zero count means some reply could not be attributed, and the run says so.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.fake_telegram import FakeTelegram


@dataclass
class Waiting:
    update_id: int
    chat_id: int
    query_id: str | None
    t0: float
    delivered: bool = False  # the bot has fetched it
    done: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BenchFake(FakeTelegram):
    def __init__(self, token: str) -> None:
        super().__init__(token, rate_limits=False)
        self._waiting: dict[int, collections.deque[Waiting]] = collections.defaultdict(collections.deque)
        self._current: Waiting | None = None
        self._by_update: dict[int, Waiting] = {}
        self.strays = 0  # bot messages to a chat with no text update waiting there
        self.polls = 0  # getUpdates calls (the first marks the end of a bot's start-up)
        self.app.router.add_post("/_bench/act", self._act)
        self.app.router.add_post("/_bench/users", self._add_users)
        self.app.router.add_get("/_bench/stats", self._stats)

    # ---------------------------------------------------------------- bookkeeping

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = super()._enqueue(kind, payload)
        chat = (payload["message"] if kind == "callback_query" else payload)["chat"]["id"]
        query_id = payload["id"] if kind == "callback_query" else None
        self._current = Waiting(update["update_id"], chat, query_id, time.perf_counter())
        self._waiting[chat].append(self._current)
        self._by_update[update["update_id"]] = self._current
        return update

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.polls += 1
        batch = await super().api_getUpdates(params)
        for update in batch:
            waiting = self._by_update.pop(update["update_id"], None)
            if waiting is not None:
                waiting.delivered = True
        return batch

    def _answered(self, chat_id: Any, query_id: str | None, message: dict[str, Any] | None) -> None:
        queue = self._waiting.get(_int(chat_id)) if chat_id is not None else None
        head = queue[0] if queue else None
        if query_id is None:
            if head is not None and head.query_id is not None:
                return  # a button press is answered by its answerCallbackQuery, not by the edit before it
            if head is None or not head.delivered:
                self.strays += 1  # sent for no text update of this chat the bot has seen
                return
        elif head is None or head.query_id != query_id:
            return
        queue.popleft()
        if not head.done.done():
            head.done.set_result({"ms": (time.perf_counter() - head.t0) * 1000, "message": message})

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        result = await super().api_sendMessage(params)
        self._answered(params.get("chat_id"), None, result)
        return result

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        result = await super().api_editMessageText(params)
        self._answered(params.get("chat_id"), None, result if isinstance(result, dict) else None)
        return result

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        chat_id = next((w.chat_id for q in self._waiting.values() for w in q if w.query_id == query_id), None)
        result = await super().api_answerCallbackQuery(params)
        if chat_id is not None:
            queue = self._waiting[chat_id]
            head = queue[0] if queue else None
            message = None
            if head is not None and head.query_id == query_id:
                latest = self._latest_with_buttons(chat_id)
                message = latest.to_api() if latest is not None else None
            self._answered(chat_id, query_id, message)
        return result

    # ---------------------------------------------------------------- driver endpoints

    def _latest_with_buttons(self, chat_id: int, data: str | None = None) -> Any:
        for msg in reversed(self.bot_messages(chat_id)):
            buttons = [b for row in msg.inline_keyboard for b in row]
            if buttons and (data is None or any(b[1] == data for b in buttons)):
                return msg
        return None

    async def _add_users(self, request: web.Request) -> web.Response:
        body = await request.json()
        for user in body["users"]:
            self.add_user(int(user["user_id"]), user.get("first_name", "Test"), language_code="en")
        return web.json_response({"ok": True})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"strays": self.strays, "polls": self.polls})

    async def _act(self, request: web.Request) -> web.Response:
        body = await request.json()
        user_id = int(body["user_id"])
        timeout = float(body.get("timeout", 60))
        if "data" in body:
            msg = self._latest_with_buttons(user_id, body["data"])
            if msg is None:
                return web.json_response({"error": f"no message with button {body['data']!r}"}, status=400)
            self.press_button(user_id, msg.message_id, body["data"])
        else:
            self.send_text(user_id, str(body["text"]))
        waiting = self._current
        assert waiting is not None
        try:
            outcome = await asyncio.wait_for(asyncio.shield(waiting.done), timeout)
        except TimeoutError:
            return web.json_response({"unanswered": True, "update_id": waiting.update_id})
        return web.json_response(outcome)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def serve(tokens: list[str], port_file: str, latency_ms: float = 0.0) -> None:
    fakes = [BenchFake(token) for token in tokens]
    if latency_ms > 0:  # Telegram's round trip: every call is answered that much later
        for fake in fakes:
            fake.delay_next(None, latency_ms / 1000, times=None)
    urls = [await fake.start() for fake in fakes]
    with open(port_file + ".tmp", "w") as f:
        json.dump(urls, f)
    import os

    os.replace(port_file + ".tmp", port_file)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--token", action="append", required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="ms before each call is answered")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.token, args.port_file, args.latency))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
