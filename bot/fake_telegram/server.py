"""A faithful in-process fake of the Telegram Bot API (an aiohttp app).

Point a real ``aiogram.Bot`` at it with
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))`` and drive the conversation from
the user's side with the injector methods (``send_text``, ``press_button``, ...).  Everything the bot
did is inspectable (``requests``, ``messages``, ``callback_answers``, ``commands``...).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from . import formatting
from .business import BusinessMixin
from .constants import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    OPT_IN_UPDATES,
    SCOPE_TYPES,
    Handler,
    PendingQuery,
)
from .control_api import ControlMixin
from .errors import (
    ApiError,
    BadRequest,
    Forbidden,
    TooManyRequests,
)
from .faults import FaultsMixin, add_fault_routes
from .files import image_size
from .formatting import EntityParseError, utf16_len
from .groups import GroupsMixin
from .methods_chats import ChatMethods
from .methods_messages import MessageMethods
from .methods_updates import UpdatesMethods
from .models import (
    EarlyRetry,
    FakeChat,
    FakeUser,
    Fault,
    RequestRecord,
    StoredFile,
    StoredMessage,
)
from .people import PeopleMixin
from .ratelimit import RateLimitConfig, RateLimiter
from .schema import ApiSchema, coerce_param, load_schema
from .webhooks import WebhookMixin


class FakeTelegram(
    FaultsMixin,
    GroupsMixin,
    ControlMixin,
    PeopleMixin,
    WebhookMixin,
    BusinessMixin,
    UpdatesMethods,
    MessageMethods,
    ChatMethods,
):
    """Fake Telegram Bot API server with a Python control API.

    :param token: bot token; the numeric part is the bot's user id.
    :param bot_username: the bot's @username (without @).
    :param clock: monotonic seconds source (flood control, callback query expiry); inject a
        :class:`ManualClock` to fake time.
    :param wall_clock: unix time source used for ``date`` fields.
    :param rate_limits: enable flood control (429 Too Many Requests).
    :param privacy_mode: if True, group messages reach the bot only if they are commands, mention
        the bot or reply to it (Telegram's default for bots); False = bot sees all group messages.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_username: str = "crm_test_bot",
        bot_first_name: str = "CRM Test Bot",
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
        rate_limits: bool = True,
        rate_limit_config: RateLimitConfig | None = None,
        privacy_mode: bool = False,
        first_update_id: int = 100_000_001,
        schema: ApiSchema | None = None,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username = bot_username
        self.bot_user = FakeUser(
            self.bot_id, bot_first_name, username=bot_username, is_bot=True, language_code=None
        )
        self.clock: Callable[[], float] = clock or time.monotonic
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.rate_limiter = RateLimiter(
            self.clock, rate_limit_config or RateLimitConfig(), enabled=rate_limits
        )
        self.privacy_mode = privacy_mode
        self.schema = schema or load_schema()

        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.files: dict[str, StoredFile] = {}
        self.requests: list[RequestRecord] = []
        self.early_retries: list[EarlyRetry] = []
        self.commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self.inline_answers: dict[str, dict[str, Any] | None] = {}
        self.invite_links: list[dict[str, Any]] = []
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.webhook_url: str = ""
        self.webhook_hosts: dict[str, str] = {}  # webhook host -> the http:// address serving it

        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._callback_queries: dict[str, PendingQuery] = {}
        self._inline_queries: dict[str, PendingQuery] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = first_update_id
        self._allowed_updates: frozenset[str] | None = None  # None = Telegram's default set
        self._poller: asyncio.Future[None] | None = None
        self._changed = asyncio.Event()  # pulsed on any state change (updates, messages, requests)
        self._stopping = asyncio.Event()  # ends held (delayed) requests when the server stops
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._inject_marker = 0
        self._retry_not_before: dict[int | str, float] = {}
        self._faults: list[Fault] = []
        self._delays: list[Fault] = []
        self._file_counter = itertools.count(1)

        self._runner: web.AppRunner | None = None
        self.base_url: str = ""
        self.app = self._build_app()
        self._handlers: dict[str, Handler] = self._collect_handlers()

    # ------------------------------------------------------------------ lifecycle

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        from .control import add_control_routes

        add_control_routes(app, self)
        add_fault_routes(app, self)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Start serving; returns and sets ``base_url`` (e.g. ``http://127.0.0.1:54321``)."""
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        real_port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{host}:{real_port}"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()
        await self._stop_pusher()
        if self._poller is not None and not self._poller.done():
            self._poller.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ world setup

    # ------------------------------------------------------------------ fault injection

    # ------------------------------------------------------------------ inspection

    def _touch(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    # ------------------------------------------------------------------ helpers

    def _user(self, user_id: int) -> FakeUser:
        if user_id == self.bot_id:
            return self.bot_user
        try:
            return self.users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}; call add_user() first") from None

    def _chat(self, chat_id: int) -> FakeChat:
        try:
            return self.chats[chat_id]
        except KeyError:
            raise KeyError(f"unknown chat {chat_id}; call add_user()/add_group() first") from None

    def _now(self) -> int:
        return int(self.wall_clock())

    def _store(
        self,
        chat: FakeChat,
        sender: FakeUser,
        *,
        text: str | None = None,
        entities: list[dict[str, Any]] | None = None,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        reply_markup: dict[str, Any] | None = None,
        content: dict[str, Any] | None = None,
        source: str | None = None,
        parse_mode: str | None = None,
        reply_to: StoredMessage | None = None,
    ) -> StoredMessage:
        seq = next(self._seq)
        self._last_seq = seq
        msg = StoredMessage(
            chat=chat,
            message_id=chat.next_message_id,
            from_bot=sender.id == self.bot_id,
            sender=sender.to_api(),
            date=self._now(),
            seq=seq,
            text=text,
            entities=entities or [],
            caption=caption,
            caption_entities=caption_entities or [],
            reply_markup=reply_markup,
            content=content or {},
            source=source,
            parse_mode=parse_mode,
            reply_to=reply_to,
        )
        chat.next_message_id += 1
        self._messages.setdefault(chat.id, {})[msg.message_id] = msg
        self._touch()
        return msg

    def _scope_key(self, scope: Any) -> tuple[Any, ...]:
        if not scope:
            return ("default",)
        if not isinstance(scope, dict) or scope.get("type") not in SCOPE_TYPES:
            raise BadRequest("can't parse BotCommandScope: unsupported type")
        kind = scope["type"]
        return (kind, *[scope.get(k) for k in SCOPE_TYPES[kind]])

    # ------------------------------------------------------------------ update queue

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._inject_marker = self._last_seq
        self._touch()
        return update

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self._allowed_updates is None:
            return kind not in OPT_IN_UPDATES
        return kind in self._allowed_updates

    # ------------------------------------------------------------------ injectors (user side)

    # ------------------------------------------------------------------ files

    @staticmethod
    def _document_api(f: StoredFile) -> dict[str, Any]:
        doc: dict[str, Any] = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size}
        if f.file_name:
            doc["file_name"] = f.file_name
        if f.mime_type:
            doc["mime_type"] = f.mime_type
        return doc

    @staticmethod
    def _photo_api(f: StoredFile) -> list[dict[str, Any]]:
        width, height = image_size(f.data) or (320, 320)
        return [
            {
                "file_id": f.file_id,
                "file_unique_id": f.file_unique_id,
                "file_size": f.size,
                "width": width,
                "height": height,
            }
        ]

    # ------------------------------------------------------------------ HTTP layer

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> web.Response:
        return web.Response(
            text=json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
        )

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, FileField]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, FileField] = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise BadRequest("can't parse JSON encoded request body") from None
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, FileField):
                        files[key] = value
                    else:
                        params[key] = value
        return params, files

    def _decode(self, method: str, params: dict[str, Any], files: dict[str, FileField]) -> dict[str, Any]:
        spec = self.schema.method(method)
        decoded: dict[str, Any] = {}
        for key, value in params.items():
            field_spec = spec.fields.get(key) if spec else None
            if isinstance(value, str) and value.startswith("attach://"):
                part = files.get(value[len("attach://") :])
                if part is None:
                    raise BadRequest(f"file {value} not found in the request")
                decoded[key] = part
                continue
            decoded[key] = coerce_param(field_spec, value)
        for key, part in files.items():
            if spec and key in spec.fields and key not in decoded:
                decoded[key] = part
        return decoded

    def _check_required(self, method: str, params: dict[str, Any]) -> None:
        spec = self.schema.method(method)
        if spec is None:
            return
        for name, field_spec in spec.fields.items():
            if not field_spec.required:
                continue
            value = params.get(name)
            if value is None or value == "":
                if name == "chat_id":
                    raise BadRequest("chat_id is empty")
                if name == "text":
                    raise BadRequest("message text is empty")
                if name in ("document", "photo"):
                    raise BadRequest(f"there is no {name} in the request")
                raise BadRequest(f'parameter "{name}" is required')

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method_name = request.match_info["method"]
        key = method_name.lower()
        record = RequestRecord(method=method_name, params={}, time=self.clock())
        self.requests.append(record)
        self._touch()  # a waiter on "the bot has called X" wakes now, even if X is a long poll
        try:
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            raw, files = await self._read_params(request)
            handler = self._handlers.get(key)
            spec = self.schema.method(key)
            if spec is not None:
                record.method = spec.name
            if handler is None:
                raise ApiError(404, "Not Found")
            params = self._decode(key, raw, files)
            record.params = {
                k: (f"<file {v.filename}>" if isinstance(v, FileField) else v) for k, v in params.items()
            }
            record.chat_id = params.get("chat_id")
            delay = self._take(self._delays, key, record.chat_id)
            if delay is not None:
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay.delay)
                except TimeoutError:
                    pass
                else:  # the server is going down: a held request is not carried out
                    raise ApiError(502, "Bad Gateway")
            fault = self._take(self._faults, key, record.chat_id)
            if fault is not None:
                self._fault_fired(fault)
                if fault.parameters and "retry_after" in fault.parameters and record.chat_id is not None:
                    self._retry_not_before[record.chat_id] = self.clock() + fault.parameters["retry_after"]
                raise ApiError(fault.error_code, fault.description, fault.parameters)
            self._check_required(key, params)
            if self._drop_before(key, record, request):
                return web.Response()  # the connection is gone: nothing is sent
            result = await handler(params)
            if self._drop_after(key, record, request):
                return web.Response()
        except ApiError as exc:
            record.status = record.error_code = exc.code
            record.ok = False
            record.description = exc.description
            if exc.parameters:
                record.retry_after = exc.parameters.get("retry_after")
            self._touch()
            return self._json(exc.payload(), exc.code)
        record.result = result
        self._touch()
        return self._json({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._json({"ok": False, "error_code": 401, "description": "Unauthorized"}, 401)
        path = request.match_info["path"]
        for f in self.files.values():
            if f.file_path == path:
                return web.Response(body=f.data, content_type=f.mime_type or "application/octet-stream")
        return self._json({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    def _collect_handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {}
        for attr in dir(self):
            if attr.startswith("api_"):
                handlers[attr[4:].replace("_", "").lower()] = getattr(self, attr)
        return handlers

    # ------------------------------------------------------------------ validation helpers

    def _resolve_chat(self, chat_id: Any) -> FakeChat:
        """Find a chat by id or @username (``chat not found`` otherwise)."""
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                for chat in self.chats.values():
                    if chat.username and chat.username.lower() == chat_id[1:].lower():
                        return chat
                raise BadRequest("chat not found")
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise BadRequest("chat not found") from None
        chat = self.chats.get(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise BadRequest("chat not found")
        return chat

    def _writable_chat(self, chat_id: Any) -> FakeChat:
        """Resolve a chat the bot wants to act in, with Telegram's 400/403 errors."""
        chat = self._resolve_chat(chat_id)
        if chat.type == "private":
            user = chat.user
            assert user is not None
            if user.is_bot:
                raise Forbidden("bot can't send messages to bots")
            if user.blocked:
                raise Forbidden("bot was blocked by the user")
            if not user.started:
                raise Forbidden("bot can't initiate conversation with a user")
            return chat
        if chat.migrated_to is not None:
            raise BadRequest(
                "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": chat.migrated_to}
            )
        kind = "group chat" if chat.type == "group" else f"{chat.type} chat"
        if chat.bot_status == "kicked":
            raise Forbidden(f"bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise Forbidden(f"bot is not a member of the {kind}")
        return chat

    def _flood_check(self, method: str, chat: FakeChat, *, cost: float = 1.0) -> None:
        now = self.clock()
        not_before = self._retry_not_before.get(chat.id)
        if not_before is not None:
            if now < not_before:
                self.early_retries.append(EarlyRetry(method, chat.id, now, not_before))
            else:
                del self._retry_not_before[chat.id]
        retry_after = self.rate_limiter.acquire(chat.id, is_group=chat.is_group, cost=cost)
        if retry_after is not None:
            self._retry_not_before[chat.id] = max(self._retry_not_before.get(chat.id, 0.0), now + retry_after)
            raise TooManyRequests(retry_after)

    def _format(
        self,
        text: Any,
        parse_mode: Any,
        entities: Any,
        *,
        caption: bool = False,
    ) -> tuple[str, list[dict[str, Any]]]:
        """Parse text the way Telegram does; returns (plain text, entities)."""
        if text is None:
            text = ""
        if not isinstance(text, str):
            text = str(text)
        mode = (parse_mode or "").lower() if isinstance(parse_mode, str) else ""
        if mode == "html":
            try:
                plain, ents = formatting.parse_html(text, self._user_api_or_none)
            except EntityParseError as exc:
                raise BadRequest(f"can't parse entities: {exc}") from None
        elif mode in ("markdownv2", "markdown"):
            from .markdown import parse_markdown_v2

            try:
                plain, ents = parse_markdown_v2(text, legacy=mode == "markdown")
            except EntityParseError as exc:
                raise BadRequest(f"can't parse entities: {exc}") from None
        elif mode:
            raise BadRequest(f"unsupported parse_mode: {parse_mode}")
        else:
            plain = text
            ents = self._validate_entities(text, entities)
        plain, ents = formatting.strip_text(plain, ents)
        if caption:
            if utf16_len(plain) > MAX_CAPTION_LENGTH:
                raise BadRequest("message caption is too long")
        else:
            if not plain:
                raise BadRequest("message text is empty")
            if utf16_len(plain) > MAX_TEXT_LENGTH:
                raise BadRequest("message is too long")
        return plain, formatting.merge_auto_entities(plain, ents)

    def _user_api_or_none(self, user_id: int) -> dict[str, Any] | None:
        user = self.users.get(user_id)
        return user.to_api() if user else None

    @staticmethod
    def _validate_entities(text: str, entities: Any) -> list[dict[str, Any]]:
        if not entities:
            return []
        if not isinstance(entities, list):
            raise BadRequest("can't parse entities JSON object")
        total = utf16_len(text)
        result = []
        for ent in entities:
            if not isinstance(ent, dict) or not isinstance(ent.get("type"), str):
                raise BadRequest('can\'t parse MessageEntity: Field "type" must be of type String')
            offset, length = ent.get("offset"), ent.get("length")
            if not isinstance(offset, int) or not isinstance(length, int):
                raise BadRequest('can\'t parse MessageEntity: Field "offset" must be of type Number')
            if length <= 0 or offset < 0 or offset >= total:
                continue  # Telegram silently drops entities outside of the text
            result.append({**ent, "length": min(length, total - offset)})
        return formatting.sort_entities(result)

    def _reply_target(self, chat: FakeChat, params: dict[str, Any]) -> StoredMessage | None:
        reply = params.get("reply_parameters")
        message_id = None
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
        elif params.get("reply_to_message_id") is not None:
            message_id = int(params["reply_to_message_id"])
        if message_id is None:
            return None
        target = self.get_message(chat.id, int(message_id))
        if target is None or target.deleted:
            if allow_missing:
                return None
            raise BadRequest("message to be replied not found")
        return target

    def _bot_message(self, chat: FakeChat, message_id: Any, missing: str) -> StoredMessage:
        if message_id is None:
            raise BadRequest("message identifier is not specified")
        msg = self.get_message(chat.id, int(message_id))
        if msg is None or msg.deleted:
            raise BadRequest(missing)
        return msg

    # ------------------------------------------------------------------ Bot API methods
    # Each ``api_<name>`` handles the Bot API method with that (case-insensitive) name.

    # --- messages

    # --- callback & inline queries

    # --- commands & menu

    # --- chats

    # --- files
