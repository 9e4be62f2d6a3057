"""Clients and Telegram Business in the fake: voice notes and stickers from a client, business
connections (with rights), business messages both ways, edits and deletions, and the bot's sends
through a connection (``business_connection_id``) under Telegram's rules: the connection must be
enabled, the bot must have ``can_reply``, the chat must have had an incoming message within the
last 24 hours, and no ``web_app`` / ``switch_inline_query*`` buttons.

A business chat is the owner's private chat with a client: it is kept apart from the bot's own
private chat with that client (its own message ids), in ``business_chats``.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any

from .errors import BadRequest, Forbidden
from .keyboards import validate_reply_markup
from .models import FakeChat, FakeUser, StoredMessage

REPLY_WINDOW = 24 * 3600
FORBIDDEN_BUSINESS_BUTTONS = (
    "web_app",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
)


@dataclass
class FakeBusinessConnection:
    id: str
    user: FakeUser
    date: int
    rights: dict[str, Any] = field(default_factory=dict)
    is_enabled: bool = True

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "user": self.user.to_api(),
            "user_chat_id": self.user.id,
            "date": self.date,
            "is_enabled": self.is_enabled,
        }
        if self.rights:
            data["rights"] = dict(self.rights)
        return data


@dataclass
class BusinessChat:
    chat: FakeChat  # the client's private chat as the business account sees it
    messages: list[StoredMessage] = field(default_factory=list)
    last_incoming: int | None = None  # unix time of the client's last message
    ids: Any = field(default_factory=lambda: itertools.count(1))


class BusinessMixin:
    # --- clients -------------------------------------------------------------------------------

    def send_voice(self, user_id: int, duration: int = 3, *, chat_id: int | None = None) -> dict[str, Any]:
        stored = self.store_file(b"OggS" + secrets.token_bytes(64), kind="voice", mime_type="audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": stored.size,
        }
        return self._incoming(user_id, chat_id, content={"voice": voice})

    def send_sticker(self, user_id: int, emoji: str = "👍", *, chat_id: int | None = None) -> dict[str, Any]:
        return self._incoming(user_id, chat_id, content={"sticker": self._sticker_api(emoji)})

    def _sticker_api(self, emoji: str) -> dict[str, Any]:
        stored = self.store_file(b"RIFF" + secrets.token_bytes(32), kind="stickers", mime_type="image/webp")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }

    # --- connections ----------------------------------------------------------------------------

    @property
    def business_connections(self) -> dict[str, FakeBusinessConnection]:
        if not hasattr(self, "_business_connections"):
            self._business_connections: dict[str, FakeBusinessConnection] = {}
            self.business_chats: dict[tuple[str, int], BusinessChat] = {}
        return self._business_connections

    def connect_business(
        self, user_id: int, *, can_reply: bool = True, enabled: bool = True, connection_id: str | None = None
    ) -> str:
        """The user connects the bot in Telegram Business -> Chatbots (or changes or ends that)."""
        user = self._user(user_id)
        conn_id = connection_id or f"biz{secrets.token_hex(6)}"
        rights = {"can_reply": True, "can_read_messages": True} if can_reply else {"can_read_messages": True}
        conn = self.business_connections.get(conn_id)
        if conn is None:
            conn = FakeBusinessConnection(conn_id, user, self._now(), rights, enabled)
            self.business_connections[conn_id] = conn
        conn.rights, conn.is_enabled = rights, enabled
        user.started = True  # the bot may write to the owner's private chat (user_chat_id)
        self._enqueue("business_connection", conn.to_api())
        return conn_id

    def _business_chat(self, conn: FakeBusinessConnection, client_id: int) -> BusinessChat:
        self.business_connections  # noqa: B018 - makes the dicts
        key = (conn.id, client_id)
        if key not in self.business_chats:
            self.business_chats[key] = BusinessChat(
                FakeChat(client_id, "private", user=self._user(client_id))
            )
        return self.business_chats[key]

    def _business_message(
        self,
        conn: FakeBusinessConnection,
        chat: BusinessChat,
        sender: FakeUser,
        *,
        text: str | None = None,
        content: dict[str, Any] | None = None,
        reply_markup: dict[str, Any] | None = None,
        caption: str | None = None,
        from_bot: bool = False,
    ) -> StoredMessage:
        seq = next(self._seq)
        self._last_seq = seq
        msg = StoredMessage(
            chat=chat.chat,
            message_id=next(chat.ids),
            from_bot=from_bot,
            sender=sender.to_api(),
            date=self._now(),
            seq=seq,
            text=text,
            caption=caption,
            content=dict(content or {}),
            reply_markup=reply_markup,
        )
        msg.content["business_connection_id"] = conn.id
        if from_bot:
            msg.content["sender_business_bot"] = self.bot_user.to_api()
        chat.messages.append(msg)
        self._touch()
        return msg

    def _live_connection(self, conn_id: str) -> FakeBusinessConnection:
        conn = self.business_connections.get(conn_id)
        if conn is None:
            raise KeyError(f"unknown business connection {conn_id}")
        return conn

    def business_client_writes(
        self, conn_id: str, client_id: int, text: str | None = None, *, content: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A client writes to the connected business account (delivered unless the connection is off)."""
        conn = self._live_connection(conn_id)
        chat = self._business_chat(conn, client_id)
        msg = self._business_message(conn, chat, self._user(client_id), text=text, content=content)
        chat.last_incoming = msg.date
        return self._business_update("business_message", conn, msg)

    def business_owner_writes(self, conn_id: str, client_id: int, text: str) -> dict[str, Any]:
        """The account's owner writes to a client from their own Telegram app."""
        conn = self._live_connection(conn_id)
        chat = self._business_chat(conn, client_id)
        msg = self._business_message(conn, chat, conn.user, text=text)
        return self._business_update("business_message", conn, msg)

    def edit_business_message(
        self, conn_id: str, client_id: int, message_id: int, text: str
    ) -> dict[str, Any]:
        conn = self._live_connection(conn_id)
        chat = self._business_chat(conn, client_id)
        msg = next(m for m in chat.messages if m.message_id == message_id)
        msg.text = text
        msg.edit_date = self._now()
        msg.edit_count += 1
        return self._business_update("edited_business_message", conn, msg)

    def delete_business_messages(
        self, conn_id: str, client_id: int, message_ids: list[int]
    ) -> dict[str, Any]:
        conn = self._live_connection(conn_id)
        chat = self._business_chat(conn, client_id)
        for msg in chat.messages:
            if msg.message_id in message_ids:
                msg.deleted = True
        payload = {
            "business_connection_id": conn.id,
            "chat": chat.chat.to_api(),
            "message_ids": list(message_ids),
        }
        if not conn.is_enabled:
            return {"update_id": None, "deleted_business_messages": payload}
        return self._enqueue("deleted_business_messages", payload)

    def _business_update(self, kind: str, conn: FakeBusinessConnection, msg: StoredMessage) -> dict[str, Any]:
        if not conn.is_enabled:  # an ended connection delivers nothing
            return {"update_id": None, kind: msg.to_api()}
        return self._enqueue(kind, msg.to_api())

    def redeliver(self, update: dict[str, Any]) -> dict[str, Any]:
        """Telegram sends the same event again (under a new update id, as after a failed webhook)."""
        kind = next(k for k in update if k != "update_id")
        return self._enqueue(kind, update[kind])

    def age_business_chat(self, conn_id: str, client_id: int, seconds: int) -> None:
        """Pretend the client's last message was `seconds` earlier (the 24-hour rule)."""
        chat = self._business_chat(self._live_connection(conn_id), client_id)
        if chat.last_incoming is not None:
            chat.last_incoming -= seconds

    def business_messages(
        self, conn_id: str, client_id: int, *, from_bot: bool | None = None
    ) -> list[StoredMessage]:
        chat = (
            self.business_chats.get((conn_id, client_id)) if self.business_connections is not None else None
        )
        msgs = list(chat.messages) if chat else []
        return [m for m in msgs if from_bot is None or m.from_bot == from_bot]

    # --- the bot sends through a connection ----------------------------------------------------------

    def _business_send(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        conn = self.business_connections.get(str(params["business_connection_id"]))
        if conn is None or not conn.is_enabled:
            raise BadRequest("BUSINESS_CONNECTION_INVALID")
        if not conn.rights.get("can_reply"):
            raise Forbidden("BOT_BUSINESS_MISSING")
        try:
            client_id = int(params["chat_id"])
        except (TypeError, ValueError):
            raise BadRequest("chat not found") from None
        chat = self.business_chats.get((conn.id, client_id))
        if chat is None:
            raise BadRequest("chat not found")
        if chat.last_incoming is None or self._now() - chat.last_incoming > REPLY_WINDOW:
            raise BadRequest("BUSINESS_PEER_USAGE_MISSING")
        markup = validate_reply_markup(params.get("reply_markup"))
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if any(k in button for k in FORBIDDEN_BUSINESS_BUTTONS):
                    raise BadRequest("BUTTON_TYPE_INVALID")
        if kind == "text":
            text, entities = self._format(
                params.get("text"), params.get("parse_mode"), params.get("entities")
            )
            msg = self._business_message(conn, chat, conn.user, text=text, reply_markup=markup, from_bot=True)
            msg.entities = entities
            msg.source = params.get("text")
        else:
            media = params.get(kind)
            if not isinstance(media, str) or media not in self.files:
                raise BadRequest("wrong file identifier/HTTP URL specified")
            stored = self.files[media]
            content = (
                {"document": self._document_api(stored)}
                if kind == "document"
                else {"photo": self._photo_api(stored)}
            )
            caption = None
            if params.get("caption"):
                caption, _ = self._format(params["caption"], params.get("parse_mode"), None, caption=True)
            msg = self._business_message(
                conn,
                chat,
                conn.user,
                content=content,
                caption=caption or None,
                reply_markup=markup,
                from_bot=True,
            )
        return msg.to_api()
