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
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from . import formatting
from .errors import (
    GET_UPDATES_CONFLICT,
    NOT_MODIFIED,
    QUERY_TOO_OLD,
    ApiError,
    BadRequest,
    Forbidden,
    TooManyRequests,
)
from .formatting import EntityParseError, utf16_len
from .keyboards import validate_reply_markup
from .models import (
    EarlyRetry,
    FakeChat,
    FakeUser,
    Fault,
    RequestRecord,
    StoredFile,
    StoredMessage,
)
from .ratelimit import RateLimitConfig, RateLimiter
from .schema import ApiSchema, coerce_param, load_schema

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
CALLBACK_QUERY_TTL = 15.0
DOWNLOAD_LIMIT = 20 * 1024 * 1024

# Updates delivered when allowed_updates is empty/unspecified (Telegram's default set).
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Methods subject to flood control (they create messages); value = cost in private/group chats.
_SENDING_METHODS = {
    "sendmessage",
    "senddocument",
    "sendphoto",
    "copymessage",
    "forwardmessage",
    "sendcontact",
    "sendlocation",
    "sendsticker",
    "sendvideo",
    "sendaudio",
    "sendvoice",
    "sendanimation",
    "sendmediagroup",
}
_EDIT_METHODS = {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SCOPE_TYPES = {
    "default": (),
    "all_private_chats": (),
    "all_group_chats": (),
    "all_chat_administrators": (),
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}


class ManualClock:
    """A controllable monotonic clock for tests: ``clock.advance(16)``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _PendingQuery:
    created: float
    answer: dict[str, Any] | None = None
    answered: bool = False


class FakeTelegram:
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

        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._callback_queries: dict[str, _PendingQuery] = {}
        self._inline_queries: dict[str, _PendingQuery] = {}
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

    def add_user(
        self,
        user_id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        *,
        is_bot: bool = False,
    ) -> FakeUser:
        """Register a Telegram user. They have not started the bot until they write to it."""
        user = FakeUser(user_id, first_name, last_name, username, language_code, is_bot=is_bot)
        self.users[user_id] = user
        self.chats[user_id] = FakeChat(user_id, "private", user=user)
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        member_ids: Iterable[int] = (),
        *,
        supergroup: bool = False,
        is_forum: bool = False,
        username: str | None = None,
        owner_id: int | None = None,
        bot_is_admin: bool = False,
        bot_is_member: bool = True,
    ) -> FakeChat:
        """Register a group (or supergroup) the bot is a member of (``bot_is_member``)."""
        members = set(member_ids)
        for uid in members:
            self._user(uid)
        status = "administrator" if bot_is_admin else "member" if bot_is_member else "left"
        chat = FakeChat(
            chat_id,
            "supergroup" if supergroup or is_forum else "group",
            title=title,
            username=username,
            members=members,
            owner_id=owner_id,
            bot_status=status,
            is_forum=is_forum,
        )
        self.chats[chat_id] = chat
        return chat

    def set_bot_admin(self, chat_id: int, is_admin: bool = True) -> None:
        self._chat(chat_id).bot_status = "administrator" if is_admin else "member"

    def set_rate_limits(self, enabled: bool) -> None:
        self.rate_limiter.enabled = enabled

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str | None,
        times: int | None = 1,
        *,
        chat_id: int | str | None = None,
        error_code: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None = any; for ``chat_id`` if given) fail."""
        parameters: dict[str, Any] | None = None
        if retry_after is not None:
            error_code = 429 if error_code == 500 else error_code
            parameters = {"retry_after": retry_after}
            description = description or f"Too Many Requests: retry after {retry_after}"
        if migrate_to_chat_id is not None:
            error_code = 400 if error_code == 500 else error_code
            parameters = {"migrate_to_chat_id": migrate_to_chat_id}
            description = description or "Bad Request: group chat was upgraded to a supergroup chat"
        default_texts = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            400: "Bad Request",
            403: "Forbidden",
        }
        self._faults.append(
            Fault(
                method.lower() if method else None,
                chat_id,
                times,
                error_code,
                description or default_texts.get(error_code, "Internal Server Error"),
                parameters,
            )
        )

    def delay_next(
        self, method: str | None, seconds: float, times: int | None = 1, *, chat_id: int | str | None = None
    ) -> None:
        """Delay the responses of the next ``times`` calls of ``method`` by ``seconds`` (real time)."""
        self._delays.append(Fault(method.lower() if method else None, chat_id, times, 200, "", None, seconds))

    def clear_faults(self) -> None:
        self._faults.clear()
        self._delays.clear()

    @staticmethod
    def _take(rules: list[Fault], method: str, chat_id: Any) -> Fault | None:
        for rule in rules:
            if rule.method not in (None, method):
                continue
            if rule.chat_id is not None and str(rule.chat_id) != str(chat_id):
                continue
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
            return rule
        return None

    # ------------------------------------------------------------------ inspection

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a chat in order, edits applied; deleted ones only with ``include_deleted``."""
        msgs = sorted(self._messages.get(chat_id, {}).values(), key=lambda m: m.message_id)
        return [m for m in msgs if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id, include_deleted=include_deleted) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> StoredMessage | None:
        msgs = self.bot_messages(chat_id)
        return msgs[-1] if msgs else None

    def get_message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        return self._messages.get(chat_id, {}).get(message_id)

    def errors(self, status: int | None = None) -> list[RequestRecord]:
        return [r for r in self.requests if not r.ok and (status is None or r.status == status)]

    def calls(self, method: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.method.lower() == method.lower()]

    @property
    def callback_answers(self) -> dict[str, dict[str, Any] | None]:
        """callback_query_id -> answerCallbackQuery params, or None while unanswered."""
        return {qid: q.answer if q.answered else None for qid, q in self._callback_queries.items()}

    @property
    def pending_updates_count(self) -> int:
        return len(self._updates)

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        return list(self.commands.get((self._scope_key(scope), language_code), []))

    def mark(self) -> int:
        """A marker for :meth:`wait_bot_messages` (messages created after this call count as new)."""
        return self._last_seq

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every state change); returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._changed
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.25))
            except TimeoutError:
                pass

    async def wait_bot_messages(
        self, chat_id: int, count: int = 1, timeout: float = 5.0, *, since: int | None = None
    ) -> list[StoredMessage]:
        """Wait until ``count`` new bot messages exist in ``chat_id``.

        "New" means created after ``since`` (a :meth:`mark` value); by default after the most recent
        injected update, so ``fake.send_text(...); await fake.wait_bot_messages(uid)`` does what it says.
        """
        marker = self._inject_marker if since is None else since

        def new() -> list[StoredMessage]:
            msgs = [m for m in self.bot_messages(chat_id) if m.seq > marker]
            return msgs if len(msgs) >= count else []

        try:
            return await self.wait_for(new, timeout)
        except TimeoutError:
            got = [m.text or m.caption for m in self.bot_messages(chat_id) if m.seq > marker]
            raise TimeoutError(
                f"expected {count} new bot message(s) in chat {chat_id} within {timeout}s, got {got}"
            ) from None

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
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES:
            raise BadRequest("can't parse BotCommandScope: unsupported type")
        kind = scope["type"]
        return (kind, *[scope.get(k) for k in _SCOPE_TYPES[kind]])

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
            return kind not in _OPT_IN_UPDATES
        return kind in self._allowed_updates

    # ------------------------------------------------------------------ injectors (user side)

    def _incoming(
        self,
        user_id: int,
        chat_id: int | None,
        *,
        text: str | None = None,
        caption: str | None = None,
        content: dict[str, Any] | None = None,
        reply_to_message_id: int | None = None,
    ) -> dict[str, Any]:
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        if chat.type == "private":
            if chat.id != user_id:
                raise ValueError("a user can only write to the bot in their own private chat")
            # Writing to the bot (or pressing "Restart") starts/unblocks it, exactly as in Telegram.
            user.started = True
            user.blocked = False
        else:
            if chat.migrated_to is not None:
                raise ValueError(f"group {chat.id} was migrated to {chat.migrated_to}")
            chat.members.add(user_id)
        reply_to = self.get_message(chat.id, reply_to_message_id) if reply_to_message_id else None
        msg = self._store(
            chat,
            user,
            text=text,
            entities=formatting.detect_entities(text, phone_numbers=True) if text else None,
            caption=caption,
            caption_entities=formatting.detect_entities(caption, phone_numbers=True) if caption else None,
            content=content,
            reply_to=reply_to,
        )
        if chat.is_group and not self._group_message_visible(chat, msg):
            self._inject_marker = self._last_seq
            return {"update_id": None, "message": msg.to_api()}
        return self._enqueue("message", msg.to_api())

    def _group_message_visible(self, chat: FakeChat, msg: StoredMessage) -> bool:
        if chat.bot_status not in ("member", "administrator"):
            return False
        if not self.privacy_mode or chat.bot_status == "administrator":
            return True
        text = msg.text or msg.caption or ""
        if text.startswith("/") or f"@{self.bot_username}".lower() in text.lower():
            return True
        return msg.reply_to is not None and msg.reply_to.from_bot

    def send_text(
        self, user_id: int, text: str, chat_id: int | None = None, *, reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """The user sends ``text`` (private chat when ``chat_id`` is None). Returns the Update."""
        return self._incoming(user_id, chat_id, text=text, reply_to_message_id=reply_to_message_id)

    def press_button(
        self,
        user_id: int,
        message_id: int,
        data: str | None = None,
        *,
        chat_id: int | None = None,
        button_text: str | None = None,
    ) -> dict[str, Any]:
        """The user presses an inline button (by callback ``data`` or visible ``button_text``)."""
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        msg = self.get_message(chat.id, message_id)
        if msg is None or msg.deleted:
            raise LookupError(f"message {message_id} not found in chat {chat.id}")
        buttons = [b for row in msg.inline_keyboard for b in row]
        if not buttons:
            raise LookupError(f"message {message_id} in chat {chat.id} has no inline keyboard")
        if data is None and button_text is None:
            raise ValueError("pass callback data or button_text")
        match = [
            b
            for b in buttons
            if (data is None or b[1] == data) and (button_text is None or b[0] == button_text)
        ]
        if not match:
            raise LookupError(
                f"message {message_id} has no button with data={data!r} text={button_text!r}; "
                f"buttons: {[(b[0], b[1] or b[2]) for b in buttons]}"
            )
        text, callback_data, url = match[0]
        if callback_data is None:
            raise LookupError(f"button {text!r} is not a callback button (url={url!r})")
        query_id = str(secrets.randbits(63))
        self._callback_queries[query_id] = _PendingQuery(self.clock())
        query = {
            "id": query_id,
            "from": user.to_api(),
            "message": msg.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, chat.id))) % 10**19),
            "data": callback_data,
        }
        return self._enqueue("callback_query", query)

    def forge_callback(
        self, user_id: int, data: str, *, message_id: int | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        """A hostile client sends callback ``data`` of its choosing, whatever buttons exist.

        Telegram does not check callback data against the keyboard, so neither does this.
        """
        user = self._user(user_id)
        chat = self._chat(user_id if chat_id is None else chat_id)
        query_id = str(secrets.randbits(63))
        self._callback_queries[query_id] = _PendingQuery(self.clock())
        query: dict[str, Any] = {
            "id": query_id,
            "from": user.to_api(),
            "chat_instance": str(abs(hash((self.bot_id, chat.id))) % 10**19),
            "data": data,
        }
        msg = self.get_message(chat.id, message_id) if message_id is not None else None
        if msg is not None:
            query["message"] = msg.to_api()
        return self._enqueue("callback_query", query)

    def forward_message(
        self,
        user_id: int,
        text: str,
        origin_user: int | dict[str, Any] | None = None,
        origin_name: str | None = None,
        origin_chat: dict[str, Any] | None = None,
        *,
        origin_date: int | None = None,
        origin_message_id: int | None = None,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The user forwards a text message to the bot (Bot API 7 ``forward_origin``)."""
        date = origin_date if origin_date is not None else self._now() - 3600
        origin: dict[str, Any]
        if origin_user is not None:
            sender = self._user(origin_user).to_api() if isinstance(origin_user, int) else origin_user
            origin = {"type": "user", "date": date, "sender_user": sender}
        elif origin_name is not None:
            origin = {"type": "hidden_user", "date": date, "sender_user_name": origin_name}
        elif origin_chat is not None:
            if origin_chat.get("type") == "channel":
                origin = {
                    "type": "channel",
                    "date": date,
                    "chat": origin_chat,
                    "message_id": origin_message_id or 1,
                }
            else:
                origin = {"type": "chat", "date": date, "sender_chat": origin_chat}
        else:
            raise ValueError("pass origin_user, origin_name or origin_chat")
        return self._incoming(user_id, chat_id, text=text, content={"forward_origin": origin})

    def send_contact(
        self,
        user_id: int,
        phone_number: str,
        first_name: str,
        last_name: str | None = None,
        contact_user_id: int | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if contact_user_id is not None:
            contact["user_id"] = contact_user_id
        return self._incoming(user_id, chat_id, content={"contact": contact})

    def send_document(
        self,
        user_id: int,
        file_name: str,
        data: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        stored = self.store_file(data, file_name=file_name, mime_type=mime_type, kind="documents")
        return self._incoming(
            user_id, chat_id, caption=caption, content={"document": self._document_api(stored)}
        )

    def send_photo(
        self,
        user_id: int,
        data: bytes,
        caption: str | None = None,
        *,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        stored = self.store_file(data, kind="photos", mime_type="image/jpeg")
        return self._incoming(user_id, chat_id, caption=caption, content={"photo": self._photo_api(stored)})

    def inline_query(self, user_id: int, query: str, offset: str = "") -> dict[str, Any]:
        user = self._user(user_id)
        query_id = str(secrets.randbits(63))
        self._inline_queries[query_id] = _PendingQuery(self.clock())
        self.inline_answers[query_id] = None
        return self._enqueue(
            "inline_query",
            {"id": query_id, "from": user.to_api(), "query": query, "offset": offset, "chat_type": "sender"},
        )

    def _member_api(self, chat: FakeChat, user: FakeUser, status: str | None = None) -> dict[str, Any]:
        if status is None:
            status = self._status_of(chat, user.id)
        if status == "administrator":
            # The real server lists every right. Newer clients (aiogram 3.31) also require
            # can_send_welcome_messages, which the bundled schema may not know yet.
            spec = self.schema.types.get("ChatMemberAdministrator", {})
            rights = [n for n, f in spec.items() if f.types == ("Boolean",)] + ["can_send_welcome_messages"]
            channel_only = ("can_post_messages", "can_edit_messages", "can_manage_direct_messages")
            data: dict[str, Any] = {
                r: True for r in rights if chat.type == "channel" or r not in channel_only
            }
            data.update({"can_be_edited": False, "is_anonymous": False})
            data.update({"status": status, "user": user.to_api()})
            return data
        if status == "creator":
            return {"status": status, "user": user.to_api(), "is_anonymous": False}
        if status == "kicked":
            return {"status": status, "user": user.to_api(), "until_date": 0}
        return {"status": status, "user": user.to_api()}

    def _status_of(self, chat: FakeChat, user_id: int) -> str:
        if user_id == self.bot_id:
            if chat.type == "private":
                return "kicked" if chat.user and chat.user.blocked else "member"
            return chat.bot_status
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        if user_id == chat.owner_id:
            return "creator"
        if user_id in chat.admin_ids:
            return "administrator"
        return "member" if user_id in chat.members else "left"

    def _my_chat_member(self, chat: FakeChat, actor: FakeUser, old: str, new: str) -> dict[str, Any]:
        return self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": actor.to_api(),
                "date": self._now(),
                "old_chat_member": self._member_api(chat, self.bot_user, old),
                "new_chat_member": self._member_api(chat, self.bot_user, new),
            },
        )

    def add_member_event(self, chat_id: int, actor_id: int, new_user_ids: Iterable[int]) -> dict[str, Any]:
        """``actor_id`` adds users (possibly the bot itself) to a group; returns the message Update."""
        chat = self._chat(chat_id)
        actor = self._user(actor_id)
        users = [self._user(uid) for uid in new_user_ids]
        for user in users:
            if user.id == self.bot_id:
                old = chat.bot_status
                chat.bot_status = "member"
                self._my_chat_member(chat, actor, old, "member")
            else:
                chat.members.add(user.id)
        msg = self._store(chat, actor, content={"new_chat_members": [u.to_api() for u in users]})
        return self._enqueue("message", msg.to_api())

    def remove_member_event(self, chat_id: int, actor_id: int, user_id: int) -> dict[str, Any]:
        """``actor_id`` removes ``user_id`` from the group (a user leaving: actor_id == user_id)."""
        chat = self._chat(chat_id)
        actor = self._user(actor_id)
        user = self._user(user_id)
        if user_id == self.bot_id:
            old = chat.bot_status
            chat.bot_status = "kicked" if actor_id != self.bot_id else "left"
            # Telegram does not deliver the service message to a bot that is no longer in the group.
            return self._my_chat_member(chat, actor, old, chat.bot_status)
        chat.members.discard(user_id)
        msg = self._store(chat, actor, content={"left_chat_member": user.to_api()})
        return self._enqueue("message", msg.to_api())

    def kick_bot(self, chat_id: int, actor_id: int | None = None) -> dict[str, Any]:
        chat = self._chat(chat_id)
        actor = actor_id if actor_id is not None else (chat.owner_id or next(iter(chat.members), None))
        if actor is None:
            raise ValueError("pass actor_id: the group has no members")
        return self.remove_member_event(chat_id, actor, self.bot_id)

    def migrate_group(self, chat_id: int, new_supergroup_id: int) -> FakeChat:
        """Upgrade a group to a supergroup; sends to the old id fail with migrate_to_chat_id."""
        old = self._chat(chat_id)
        if old.type != "group":
            raise ValueError("only basic groups can be migrated")
        new = FakeChat(
            new_supergroup_id,
            "supergroup",
            title=old.title,
            members=set(old.members),
            owner_id=old.owner_id,
            admin_ids=set(old.admin_ids),
            bot_status=old.bot_status,
        )
        self.chats[new_supergroup_id] = new
        old.migrated_to = new_supergroup_id
        actor = self._user(old.owner_id) if old.owner_id in self.users else self.bot_user
        m1 = self._store(old, actor, content={"migrate_to_chat_id": new_supergroup_id})
        self._enqueue("message", m1.to_api())
        m2 = self._store(new, actor, content={"migrate_from_chat_id": chat_id})
        self._enqueue("message", m2.to_api())
        return new

    def block_bot(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        user.blocked = True
        return self._my_chat_member(self._chat(user_id), user, "member", "kicked")

    def unblock_bot(self, user_id: int) -> dict[str, Any]:
        user = self._user(user_id)
        user.blocked = False
        return self._my_chat_member(self._chat(user_id), user, "kicked", "member")

    # ------------------------------------------------------------------ files

    def store_file(
        self,
        data: bytes,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        kind: str = "documents",
    ) -> StoredFile:
        n = next(self._file_counter)
        ext = ""
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        elif kind == "photos":
            ext = ".jpg"
        stored = StoredFile(
            file_id=f"BQACAgIAAx{secrets.token_urlsafe(24)}",
            file_unique_id=f"AgAD{secrets.token_urlsafe(8)}",
            data=bytes(data),
            file_path=f"{kind}/file_{n}{ext}",
            file_name=file_name,
            mime_type=mime_type,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_bytes(self, file_id: str) -> bytes:
        return self.files[file_id].data

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
        width, height = _image_size(f.data) or (320, 320)
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
                if fault.parameters and "retry_after" in fault.parameters and record.chat_id is not None:
                    self._retry_not_before[record.chat_id] = self.clock() + fault.parameters["retry_after"]
                raise ApiError(fault.error_code, fault.description, fault.parameters)
            self._check_required(key, params)
            result = await handler(params)
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

    async def api_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        data = self.bot_user.to_api()
        data.update(
            can_join_groups=True,
            can_read_all_group_messages=not self.privacy_mode,
            supports_inline_queries=True,
            can_connect_to_business=False,
            has_main_web_app=False,
        )
        return data

    async def api_logOut(self, params: dict[str, Any]) -> bool:
        return True

    async def api_close(self, params: dict[str, Any]) -> bool:
        return True

    async def api_setWebhook(self, params: dict[str, Any]) -> bool:
        url = params.get("url") or ""
        if url and not url.lower().startswith("https://"):
            raise BadRequest("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def api_deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def api_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def api_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        limit = min(max(limit, 1), 100)  # Telegram clamps instead of failing
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else None

        # A newer getUpdates terminates the one that is still waiting (it gets 409), like Telegram.
        if self._poller is not None and not self._poller.done():
            self._poller.set_result(None)
        me: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._poller = me

        # Confirmation: every update with id < offset is forgotten forever.
        before = len(self._updates)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:] if -offset < len(self._updates) else self._updates
        if len(self._updates) != before:
            self._touch()  # waiters on "all confirmed" wake now, not when this long poll ends

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                # Updates the bot did not subscribe to are never delivered (dropped from the queue).
                self._updates = [u for u in self._updates if self._allowed(u)]
                batch = [u for u in self._updates if offset <= 0 or u["update_id"] >= offset][:limit]
                remaining = deadline - loop.time()
                if batch or remaining <= 0:
                    return batch
                changed = asyncio.ensure_future(self._changed.wait())
                try:
                    await asyncio.wait({me, changed}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    changed.cancel()
                if me.done():
                    raise ApiError(409, GET_UPDATES_CONFLICT)
        finally:
            if self._poller is me:
                self._poller = None

    # --- messages

    async def api_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(params["chat_id"])
        text, entities = self._format(params.get("text"), params.get("parse_mode"), params.get("entities"))
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("sendMessage", chat)
        msg = self._store(
            chat,
            self.bot_user,
            text=text,
            entities=entities,
            reply_markup=markup,
            source=params.get("text"),
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
        )
        return msg.to_api()

    async def _send_media(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        chat = self._writable_chat(params["chat_id"])
        media = params.get(kind)
        if isinstance(media, FileField):
            data = media.file.read()
            if not data:
                raise BadRequest("file must be non-empty")
            mime = media.content_type if kind == "document" else "image/jpeg"
            if kind == "photo":
                if _image_size(data) is None and not data.startswith((b"GIF8", b"RIFF")):
                    raise BadRequest("IMAGE_PROCESS_FAILED")
                mime = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
            stored = self.store_file(
                data,
                file_name=media.filename if kind == "document" else None,
                mime_type=mime if mime != "application/octet-stream" else _guess_mime(media.filename),
                kind="documents" if kind == "document" else "photos",
            )
        elif isinstance(media, str) and media in self.files:
            stored = self.files[media]
        elif isinstance(media, str) and media.lower().startswith(("http://", "https://")):
            # The fake has no internet; Telegram would fetch the URL.
            raise BadRequest("failed to get HTTP URL content")
        else:
            raise BadRequest("wrong file identifier/HTTP URL specified")
        caption, caption_entities = None, []
        if params.get("caption"):
            caption, caption_entities = self._format(
                params["caption"], params.get("parse_mode"), params.get("caption_entities"), caption=True
            )
            caption = caption or None
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("send" + kind.title(), chat)
        content = (
            {"document": self._document_api(stored)}
            if kind == "document"
            else {"photo": self._photo_api(stored)}
        )
        msg = self._store(
            chat,
            self.bot_user,
            caption=caption,
            caption_entities=caption_entities,
            reply_markup=markup,
            content=content,
            source=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            reply_to=reply_to,
        )
        return msg.to_api()

    async def api_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "document")

    async def api_sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._send_media(params, "photo")

    async def api_editMessageText(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        if params.get("chat_id") is None:
            raise BadRequest("chat_id is empty")
        chat = self._writable_chat(params["chat_id"])
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        if msg.text is None:
            raise BadRequest("there is no text in the message to edit")
        text, entities = self._format(params.get("text"), params.get("parse_mode"), params.get("entities"))
        # Omitting reply_markup in an edit removes the inline keyboard, as in Telegram.
        markup = validate_reply_markup(params.get("reply_markup"))
        if (text, entities, markup) == (msg.text, msg.entities, msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        if chat.is_group:
            self._flood_check("editMessageText", chat, cost=self.rate_limiter.config.group_edit_cost)
        msg.text, msg.entities, msg.reply_markup = text, entities, markup
        msg.source, msg.parse_mode = params.get("text"), params.get("parse_mode")
        self._mark_edited(msg)
        return msg.to_api()

    async def api_editMessageCaption(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params.get("chat_id"))
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        if msg.text is not None:
            raise BadRequest("there is no caption in the message to edit")
        caption, entities = self._format(
            params.get("caption"), params.get("parse_mode"), params.get("caption_entities"), caption=True
        )
        markup = validate_reply_markup(params.get("reply_markup"))
        if (caption or None, entities, markup) == (msg.caption, msg.caption_entities, msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        msg.caption, msg.caption_entities, msg.reply_markup = caption or None, entities, markup
        self._mark_edited(msg)
        return msg.to_api()

    async def api_editMessageReplyMarkup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            raise BadRequest("MESSAGE_ID_INVALID")
        chat = self._writable_chat(params.get("chat_id"))
        msg = self._bot_message(chat, params.get("message_id"), "message to edit not found")
        if not msg.from_bot:
            raise BadRequest("message can't be edited")
        markup = validate_reply_markup(params.get("reply_markup"))
        if markup is not None and "inline_keyboard" not in markup:
            raise BadRequest("inline keyboard expected")
        if markup == msg.reply_markup or (not markup and not msg.reply_markup):
            raise BadRequest(NOT_MODIFIED)
        if chat.is_group:
            self._flood_check("editMessageReplyMarkup", chat, cost=self.rate_limiter.config.group_edit_cost)
        msg.reply_markup = markup
        self._mark_edited(msg)
        return msg.to_api()

    def _mark_edited(self, msg: StoredMessage) -> None:
        msg.edit_date = self._now()
        msg.edit_count += 1
        self._touch()

    async def api_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        if chat.is_group and chat.bot_status in ("kicked", "left"):
            self._writable_chat(chat.id)
        msg = self._bot_message(chat, params.get("message_id"), "message to delete not found")
        if chat.is_group and not msg.from_bot and chat.bot_status != "administrator":
            raise BadRequest("message can't be deleted")
        msg.deleted = True
        self._touch()
        return True

    async def api_deleteMessages(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        for message_id in params.get("message_ids") or []:
            msg = self.get_message(chat.id, int(message_id))
            if msg is not None and (msg.from_bot or not chat.is_group or chat.bot_status == "administrator"):
                msg.deleted = True
        self._touch()
        return True

    async def api_copyMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        source_chat = self._resolve_chat(params["from_chat_id"])
        src = self.get_message(source_chat.id, int(params["message_id"]))
        if src is None or src.deleted:
            raise BadRequest("message to copy not found")
        if src.text is None and not any(k in src.content for k in ("document", "photo", "contact")):
            raise BadRequest("message can't be copied")
        chat = self._writable_chat(params["chat_id"])
        caption, caption_entities = src.caption, src.caption_entities
        if params.get("caption") is not None and src.text is None:
            caption, caption_entities = self._format(
                params["caption"], params.get("parse_mode"), params.get("caption_entities"), caption=True
            )
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        self._flood_check("copyMessage", chat)
        content = {k: v for k, v in src.content.items() if k in ("document", "photo", "contact")}
        msg = self._store(
            chat,
            self.bot_user,
            text=src.text,
            entities=list(src.entities),
            caption=caption,
            caption_entities=list(caption_entities),
            reply_markup=markup,
            content=content,
            reply_to=reply_to,
        )
        return {"message_id": msg.message_id}

    async def api_forwardMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        source_chat = self._resolve_chat(params["from_chat_id"])
        src = self.get_message(source_chat.id, int(params["message_id"]))
        if src is None or src.deleted:
            raise BadRequest("message to forward not found")
        chat = self._writable_chat(params["chat_id"])
        self._flood_check("forwardMessage", chat)
        origin = src.content.get("forward_origin")
        if origin is None:
            if source_chat.type == "private" or source_chat.type in ("group", "supergroup"):
                origin = {"type": "user", "date": src.date, "sender_user": src.sender}
            else:
                origin = {
                    "type": "channel",
                    "date": src.date,
                    "chat": source_chat.to_api(),
                    "message_id": src.message_id,
                }
        content = {k: v for k, v in src.content.items() if k in ("document", "photo", "contact")}
        content["forward_origin"] = origin
        msg = self._store(
            chat,
            self.bot_user,
            text=src.text,
            entities=list(src.entities),
            caption=src.caption,
            caption_entities=list(src.caption_entities),
            content=content,
        )
        return msg.to_api()

    async def api_sendChatAction(self, params: dict[str, Any]) -> bool:
        self._writable_chat(params["chat_id"])
        if params.get("action") not in _CHAT_ACTIONS:
            raise BadRequest("wrong parameter action in request")
        return True

    # --- callback & inline queries

    async def api_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        query = self._callback_queries.get(str(params["callback_query_id"]))
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise BadRequest(QUERY_TOO_OLD)
        text = params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise BadRequest("MESSAGE_TOO_LONG")
        query.answered = True
        query.answer = {k: v for k, v in params.items() if k != "callback_query_id"}
        self._touch()
        return True

    async def api_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        query_id = str(params["inline_query_id"])
        query = self._inline_queries.get(query_id)
        if query is None or query.answered or self.clock() - query.created > CALLBACK_QUERY_TTL:
            raise BadRequest(QUERY_TOO_OLD)
        results = params.get("results")
        if not isinstance(results, list):
            raise BadRequest("can't parse JSON encoded inline query results")
        if len(results) > 50:
            raise BadRequest("RESULTS_TOO_MUCH")
        query.answered = True
        self.inline_answers[query_id] = {k: v for k, v in params.items() if k != "inline_query_id"}
        self._touch()
        return True

    # --- commands & menu

    async def api_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BadRequest("can't parse commands JSON object")
        if len(commands) > 100:
            raise BadRequest("too many commands specified")
        cleaned: list[dict[str, str]] = []
        for cmd in commands:
            if not isinstance(cmd, dict) or not isinstance(cmd.get("command"), str):
                raise BadRequest('can\'t parse BotCommand: Field "command" must be of type String')
            if not isinstance(cmd.get("description"), str):
                raise BadRequest('can\'t parse BotCommand: Field "description" must be of type String')
            name = cmd["command"].strip()
            if not _COMMAND_RE.match(name):
                raise BadRequest("BOT_COMMAND_INVALID")
            description = cmd["description"].strip()
            if not 1 <= len(description) <= 256:
                raise BadRequest("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        scope = params.get("scope")
        key = (self._scope_key(scope), params.get("language_code") or "")
        self._check_scope_chat(scope)
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _check_scope_chat(self, scope: Any) -> None:
        if isinstance(scope, dict) and "chat_id" in scope:
            chat = self._resolve_chat(scope["chat_id"])
            if scope["type"] == "chat_member" and int(scope.get("user_id", 0)) not in chat.members:
                raise BadRequest("user not found")

    async def api_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        key = (self._scope_key(params.get("scope")), params.get("language_code") or "")
        return list(self.commands.get(key, []))

    async def api_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        key = (self._scope_key(params.get("scope")), params.get("language_code") or "")
        self.commands.pop(key, None)
        return True

    async def api_setChatMenuButton(self, params: dict[str, Any]) -> bool:
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise BadRequest("can't parse menu button: unsupported type")
        if params.get("chat_id") is not None:
            self._resolve_chat(params["chat_id"]).menu_button = button
        else:
            self.default_menu_button = button
        return True

    async def api_getChatMenuButton(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") is not None:
            chat = self._resolve_chat(params["chat_id"])
            if chat.menu_button:
                return chat.menu_button
        return self.default_menu_button

    # --- chats

    async def api_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        data = chat.to_api()
        data.update(accent_color_id=0, max_reaction_count=11)
        data["accepted_gift_types"] = {f: False for f in self.schema.required_fields("AcceptedGiftTypes")}
        if chat.pinned:
            pinned = self.get_message(chat.id, chat.pinned[-1])
            if pinned is not None:
                data["pinned_message"] = pinned.to_api(with_reply=False)
        if chat.type == "supergroup" or chat.type == "group":
            data["permissions"] = {"can_send_messages": True}
        return data

    async def api_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._resolve_chat(params["chat_id"])
        user_id = int(params["user_id"])
        if user_id != self.bot_id and user_id not in self.users:
            raise BadRequest("user not found")
        return self._member_api(chat, self._user(user_id))

    async def api_getChatMemberCount(self, params: dict[str, Any]) -> int:
        chat = self._resolve_chat(params["chat_id"])
        if chat.type == "private":
            return 2
        return len(chat.members) + (1 if chat.bot_status in ("member", "administrator") else 0)

    async def api_getChatAdministrators(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        chat = self._resolve_chat(params["chat_id"])
        ids = ([chat.owner_id] if chat.owner_id else []) + sorted(chat.admin_ids)
        result = [self._member_api(chat, self._user(uid)) for uid in ids if uid in self.users]
        if chat.bot_status == "administrator":
            result.append(self._member_api(chat, self.bot_user))
        return result

    async def api_leaveChat(self, params: dict[str, Any]) -> bool:
        chat = self._resolve_chat(params["chat_id"])
        if chat.type == "private":
            raise BadRequest("chat member status can't be changed in private chats")
        chat = self._writable_chat(chat.id)
        old = chat.bot_status
        chat.bot_status = "left"
        self._my_chat_member(chat, self.bot_user, old, "left")
        return True

    async def api_pinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        msg = self._bot_message(chat, params.get("message_id"), "message to pin not found")
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        if msg.message_id in chat.pinned:
            chat.pinned.remove(msg.message_id)
        chat.pinned.append(msg.message_id)
        self._touch()
        return True

    async def api_unpinChatMessage(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        message_id = params.get("message_id")
        if message_id is None:
            if chat.pinned:
                chat.pinned.pop()
            return True
        msg = self._bot_message(chat, message_id, "message to unpin not found")
        if msg.message_id in chat.pinned:
            chat.pinned.remove(msg.message_id)
        self._touch()
        return True

    async def api_unpinAllChatMessages(self, params: dict[str, Any]) -> bool:
        chat = self._writable_chat(params["chat_id"])
        if chat.is_group and chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage pinned messages in the chat")
        chat.pinned.clear()
        return True

    async def api_createChatInviteLink(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._writable_chat(params["chat_id"])
        if chat.type == "private":
            raise BadRequest("can't invite members to a private chat")
        if chat.bot_status != "administrator":
            raise BadRequest("not enough rights to manage chat invite links")
        name = params.get("name")
        if name is not None and len(str(name)) > 32:
            raise BadRequest("invite link name is too long")
        member_limit = params.get("member_limit")
        if member_limit is not None and not 1 <= int(member_limit) <= 99999:
            raise BadRequest("member limit must be between 1 and 99999")
        creates_join_request = bool(params.get("creates_join_request"))
        if creates_join_request and member_limit:
            raise BadRequest("member limit can't be specified for links requiring administrator approval")
        link: dict[str, Any] = {
            "invite_link": f"https://t.me/+{secrets.token_urlsafe(12)}",
            "creator": self.bot_user.to_api(),
            "creates_join_request": creates_join_request,
            "is_primary": False,
            "is_revoked": False,
        }
        for optional in ("name", "expire_date", "member_limit"):
            if params.get(optional) is not None:
                link[optional] = params[optional]
        self.invite_links.append({"chat_id": chat.id, **link})
        return link

    # --- files

    async def api_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(params["file_id"]))
        if stored is None:
            raise BadRequest("invalid file_id")
        if stored.size > DOWNLOAD_LIMIT:
            raise BadRequest("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }


def _image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of a PNG or JPEG (enough to fill PhotoSize realistically)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + seg_len
        return 1, 1
    return None


def _guess_mime(file_name: str | None) -> str | None:
    import mimetypes

    if not file_name:
        return None
    return mimetypes.guess_type(file_name)[0]


__all__ = ["FakeTelegram", "ManualClock"]
