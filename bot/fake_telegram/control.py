"""JSON control API under ``{base}/_control/...`` for out-of-process drivers (sandbox, benchmarks).

POST /_control/add_user      {"user_id", "first_name"?, "last_name"?, "username"?, "language_code"?}
POST /_control/send_text     {"user_id", "text", "chat_id"?}                       -> Update
POST /_control/press_button  {"user_id", "message_id", "data"?, "button_text"?, "chat_id"?} -> Update
GET  /_control/messages?chat_id=N[&include_deleted=1]                              -> [message]
GET  /_control/requests[?since=K]                                                  -> [request record]
GET  /_control/render?chat_id=N                                                    -> text/plain
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeTelegram


def add_control_routes(app: web.Application, fake: FakeTelegram) -> None:
    def reply(data: Any, status: int = 200) -> web.Response:
        return web.Response(
            text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
        )

    async def body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except ValueError:
            raise web.HTTPBadRequest(text="JSON body expected") from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="JSON object expected")
        return data

    def guarded(fn: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                return reply(await fn(request))
            except (KeyError, LookupError, ValueError, TypeError) as exc:
                return reply({"error": str(exc)}, 400)

        return handler

    async def add_user(request: web.Request) -> Any:
        d = await body(request)
        user = fake.add_user(
            int(d["user_id"]),
            d.get("first_name", "Test"),
            d.get("last_name"),
            d.get("username"),
            d.get("language_code", "en"),
        )
        return user.to_api()

    async def send_text(request: web.Request) -> Any:
        d = await body(request)
        chat_id = d.get("chat_id")
        return fake.send_text(
            int(d["user_id"]), str(d["text"]), int(chat_id) if chat_id is not None else None
        )

    async def press_button(request: web.Request) -> Any:
        d = await body(request)
        chat_id = d.get("chat_id")
        return fake.press_button(
            int(d["user_id"]),
            int(d["message_id"]),
            d.get("data"),
            chat_id=int(chat_id) if chat_id is not None else None,
            button_text=d.get("button_text"),
        )

    async def messages(request: web.Request) -> Any:
        chat_id = int(request.query["chat_id"])
        include_deleted = request.query.get("include_deleted") in ("1", "true")
        return [m.to_dict() for m in fake.messages(chat_id, include_deleted=include_deleted)]

    async def requests(request: web.Request) -> Any:
        since = int(request.query.get("since", 0))
        return [r.to_dict() for r in fake.requests[since:]]

    async def render(request: web.Request) -> web.Response:
        from .render import render_chat

        return web.Response(text=render_chat(fake, int(request.query["chat_id"])))

    app.router.add_post("/_control/add_user", guarded(add_user))
    app.router.add_post("/_control/send_text", guarded(send_text))
    app.router.add_post("/_control/press_button", guarded(press_button))
    app.router.add_get("/_control/messages", guarded(messages))
    app.router.add_get("/_control/requests", guarded(requests))
    app.router.add_get("/_control/render", render)
