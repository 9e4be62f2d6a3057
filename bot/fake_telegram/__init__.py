"""Fake Telegram Bot API server for tests, the terminal sandbox and benchmarks."""

from .constants import ManualClock
from .errors import ApiError
from .formatting import parse_html, utf16_len
from .models import EarlyRetry, FakeChat, FakeUser, RequestRecord, StoredFile, StoredMessage
from .ratelimit import RateLimitConfig
from .render import render_chat, render_message
from .server import FakeTelegram

__all__ = [
    "ApiError",
    "EarlyRetry",
    "FakeChat",
    "FakeTelegram",
    "FakeUser",
    "ManualClock",
    "RateLimitConfig",
    "RequestRecord",
    "StoredFile",
    "StoredMessage",
    "parse_html",
    "render_chat",
    "render_message",
    "utf16_len",
]
