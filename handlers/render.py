"""Rendering helpers: HTML escaping of user text and fitting messages into Telegram's limits."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

MESSAGE_LIMIT = 4096  # Telegram counts UTF-16 code units of the text after entity parsing
CAPTION_LIMIT = 1024
_TAG = re.compile(r"<[^>]+>")


def esc(value: object) -> str:
    """Escape anything a user typed before it goes into an HTML message."""
    return html.escape("" if value is None else str(value), quote=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_length(html_text: str) -> int:
    """Length Telegram will count: tags removed, entities decoded, in UTF-16 code units."""
    return utf16_len(html.unescape(_TAG.sub("", html_text)))


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut plain (unescaped) user text to at most `limit` UTF-16 units, marking the cut."""
    if utf16_len(text) <= limit:
        return text
    out: list[str] = []
    used = 0
    budget = limit - utf16_len(marker)
    for ch in text:
        w = utf16_len(ch)
        if used + w > budget:
            break
        out.append(ch)
        used += w
    return "".join(out) + marker


def split_blocks(blocks: Iterable[str], limit: int = MESSAGE_LIMIT, sep: str = "\n") -> list[str]:
    """Pack self-contained HTML blocks (each with balanced tags) into messages within `limit`.

    Splitting only between blocks keeps every message valid HTML. A single block longer than the
    limit must be shortened by its producer (its user-typed parts through `truncate`).
    """
    messages: list[str] = []
    current: list[str] = []
    size = 0
    sep_len = visible_length(sep)
    for block in blocks:
        blen = visible_length(block)
        if blen > limit:
            raise ValueError("a single block exceeds the message limit; truncate its text first")
        extra = blen + (sep_len if current else 0)
        if current and size + extra > limit:
            messages.append(sep.join(current))
            current, size = [], 0
            extra = blen
        current.append(block)
        size += extra
    if current:
        messages.append(sep.join(current))
    return messages
