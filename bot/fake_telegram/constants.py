"""Limits, method sets and small types shared by the fake server's parts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[Any]]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
CALLBACK_QUERY_TTL = 15.0
DOWNLOAD_LIMIT = 20 * 1024 * 1024

# Updates delivered when allowed_updates is empty/unspecified (Telegram's default set).
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

# Methods subject to flood control (they create messages); value = cost in private/group chats.
SENDING_METHODS = {
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
EDIT_METHODS = {"editmessagetext", "editmessagereplymarkup", "editmessagecaption"}

CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)  # fmt: skip

COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
SCOPE_TYPES = {
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
class PendingQuery:
    created: float
    answer: dict[str, Any] | None = None
    answered: bool = False
