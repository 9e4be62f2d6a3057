"""State objects of the fake: users, chats, stored messages, files, request log records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .formatting import Entity, to_html
from .keyboards import inline_buttons


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_bot: bool = False
    started: bool = False  # has ever written to the bot in private (so the bot may message them)
    blocked: bool = False  # has blocked the bot

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name


@dataclass
class FakeChat:
    id: int
    type: str  # "private" | "group" | "supergroup" | "channel"
    title: str | None = None
    username: str | None = None
    user: FakeUser | None = None  # the peer of a private chat
    members: set[int] = field(default_factory=set)
    owner_id: int | None = None
    admin_ids: set[int] = field(default_factory=set)
    bot_status: str = "member"  # member | administrator | left | kicked (groups only)
    is_forum: bool = False
    migrated_to: int | None = None
    next_message_id: int = 1
    pinned: list[int] = field(default_factory=list)
    menu_button: dict[str, Any] | None = None

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup", "channel")

    def to_api(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
            return data
        data = {"id": self.id, "type": self.type, "title": self.title or ""}
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data


@dataclass
class StoredMessage:
    """A message as the fake keeps it, with edits and deletions applied."""

    chat: FakeChat
    message_id: int
    from_bot: bool
    sender: dict[str, Any]  # User object of the author
    date: int
    seq: int  # global creation order, used by wait_bot_messages markers
    text: str | None = None
    entities: list[Entity] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[Entity] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    source: str | None = None  # text/caption exactly as the bot sent it (e.g. with HTML tags)
    parse_mode: str | None = None
    content: dict[str, Any] = field(default_factory=dict)  # document/photo/contact/forward_origin/service
    reply_to: StoredMessage | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False

    @property
    def chat_id(self) -> int:
        return self.chat.id

    @property
    def html(self) -> str | None:
        """Text (or caption) re-rendered as Telegram HTML from plain text + entities."""
        if self.text is not None:
            return to_html(self.text, self.entities)
        if self.caption is not None:
            return to_html(self.caption, self.caption_entities)
        return None

    @property
    def inline_keyboard(self) -> list[list[tuple[str, str | None, str | None]]]:
        """Rows of (text, callback_data, url)."""
        return inline_buttons(self.reply_markup)

    @property
    def reply_keyboard(self) -> list[list[str]]:
        markup = self.reply_markup or {}
        return [
            [b if isinstance(b, str) else b.get("text", "") for b in row]
            for row in markup.get("keyboard", [])
        ]

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        """The Bot API ``Message`` object."""
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat.to_api(),
            "date": self.date,
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        data.update(self.content)
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        # Only inline keyboards are part of the Message object; reply keyboards live on the client.
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            data["reply_markup"] = self.reply_markup
        return data

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for the control API and the sandbox."""
        return {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "from_bot": self.from_bot,
            "from": self.sender,
            "date": self.date,
            "text": self.text,
            "caption": self.caption,
            "entities": self.entities,
            "caption_entities": self.caption_entities,
            "html": self.html,
            "source": self.source,
            "parse_mode": self.parse_mode,
            "reply_markup": self.reply_markup,
            "buttons": [[list(b) for b in row] for row in self.inline_keyboard],
            "reply_keyboard": self.reply_keyboard,
            "content": self.content,
            "edited": self.edit_count > 0,
            "deleted": self.deleted,
        }


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class RequestRecord:
    """One Bot API call as the fake saw it."""

    method: str
    params: dict[str, Any]
    status: int = 200
    ok: bool = True
    error_code: int | None = None
    description: str | None = None
    chat_id: int | str | None = None
    time: float = 0.0
    result: Any = None
    retry_after: int | None = None

    def to_dict(self) -> dict[str, Any]:
        params = {
            k: (f"<file {len(v)} bytes>" if isinstance(v, bytes | bytearray) else v)
            for k, v in self.params.items()
        }
        return {
            "method": self.method,
            "params": params,
            "status": self.status,
            "ok": self.ok,
            "error_code": self.error_code,
            "description": self.description,
            "chat_id": self.chat_id,
            "time": self.time,
            "retry_after": self.retry_after,
        }


@dataclass
class EarlyRetry:
    """A request to a chat made before the retry_after we announced for it had elapsed."""

    method: str
    chat_id: int | str
    time: float
    allowed_at: float


@dataclass
class Fault:
    method: str | None  # lower-case method name, None = any
    chat_id: int | str | None
    remaining: int | None  # None = forever
    error_code: int
    description: str
    parameters: dict[str, Any] | None = None
    delay: float = 0.0
