"""Text formatting the way Telegram does it: HTML parse mode, UTF-16 lengths, auto-detected entities.

The HTML parser is a port of tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp) so that both the
accepted subset and the error texts ("Unsupported start tag ... at byte offset N") match what the real
Bot API returns.  Offsets in error messages are byte offsets into the UTF-8 encoded source, entity
offsets/lengths are in UTF-16 code units, exactly like Telegram.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

Entity = dict[str, Any]


class EntityParseError(ValueError):
    """Raised for malformed markup; ``str(exc)`` is the detail after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (what Telegram counts for limits and offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _char_to_utf16_offsets(text: str) -> list[int]:
    """Map every Python character index (and len(text)) to its UTF-16 offset."""
    offsets = [0] * (len(text) + 1)
    acc = 0
    for i, ch in enumerate(text):
        offsets[i] = acc
        acc += 2 if ord(ch) > 0xFFFF else 1
    offsets[len(text)] = acc
    return offsets


def utf16_slice(text: str, offset: int, length: int) -> str:
    """Return the substring addressed by a UTF-16 (offset, length) pair."""
    raw = text.encode("utf-16-le")
    return raw[offset * 2 : (offset + length) * 2].decode("utf-16-le", errors="replace")


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------

_SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip

_SIMPLE_TAG_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}


def _is_space(b: int) -> bool:
    # tdlib's is_space: ' ', '\t', '\r', '\n', '\0', '\v'
    return b in (0x20, 0x09, 0x0D, 0x0A, 0x00, 0x0B)


def _is_alpha(b: int) -> bool:
    return 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A


def _is_digit(b: int) -> bool:
    return 0x30 <= b <= 0x39


def _is_hex(b: int) -> bool:
    return _is_digit(b) or 0x41 <= b <= 0x46 or 0x61 <= b <= 0x66


def _decode_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    """Decode ``&...`` at ``pos``. Returns (code point, new position) or (0, pos) if not an entity.

    Like Telegram, an unknown or malformed reference is *not* an error: the ``&`` is kept literally.
    The trailing ``;`` is optional.
    """
    n = len(src)

    def at(i: int) -> int:
        return src[i] if i < n else 0

    if at(pos) != 0x26:  # '&'
        return 0, pos
    end = pos + 1
    res = 0
    if at(pos + 1) == 0x23:  # '#'
        end += 1
        if at(pos + 2) == 0x78:  # 'x'
            end += 1
            while _is_hex(at(end)):
                res = res * 16 + int(chr(src[end]), 16)
                end += 1
                if res >= 0x10FFFF:
                    return 0, pos
        else:
            while _is_digit(at(end)):
                res = res * 10 + src[end] - 0x30
                end += 1
                if res >= 0x10FFFF:
                    return 0, pos
        if res == 0 or 0xD800 <= res <= 0xDFFF:
            return 0, pos
    else:
        while _is_alpha(at(end)):
            end += 1
        name = src[pos + 1 : end]
        named = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}
        if name not in named:
            return 0, pos
        res = named[name]
    if at(end) == 0x3B:  # ';'
        end += 1
    return res, end


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    result_begin: int  # index into the result byte buffer
    expandable: bool = False


def normalize_url(url: str) -> str | None:
    """Validate/normalize a link the way Telegram does for text links (None = invalid, entity dropped)."""
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None
    lower = url.lower()
    if lower.startswith("tg://") or lower.startswith("ton://"):
        return url
    if "://" not in url:
        if url.startswith("//"):
            return None
        url = "http://" + url
        lower = url.lower()
    if not (lower.startswith("http://") or lower.startswith("https://")):
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or ("." not in host and host != "localhost"):
        return None
    if not parts.path and not parts.query and not parts.fragment:
        url += "/"
    return url


def _tg_user_link_id(url: str) -> int | None:
    parts = urlsplit(url)
    if parts.scheme.lower() != "tg" or parts.netloc.lower() != "user":
        return None
    ids = parse_qs(parts.query).get("id")
    if ids and ids[0].isdigit():
        return int(ids[0])
    return None


def parse_html(source: str, user_lookup: Any = None) -> tuple[str, list[Entity]]:
    """Parse Telegram-flavoured HTML into (plain text, entities).

    ``user_lookup`` is an optional callable ``user_id -> User dict | None`` used for tg://user?id= links.
    Raises :class:`EntityParseError` with tdlib's wording on malformed input.
    """
    src = source.encode("utf-8")
    n = len(src)

    def at(i: int) -> int:
        return src[i] if i < n else 0

    result = bytearray()
    utf16_offset = 0
    entities: list[Entity] = []
    stack: list[_OpenTag] = []
    i = 0
    while i < n:
        c = src[i]
        if c == 0x26:  # '&'
            ch, new_pos = _decode_html_entity(src, i)
            if ch:
                result += chr(ch).encode("utf-8")
                utf16_offset += 2 if ch > 0xFFFF else 1
                i = new_pos
                continue
        if c != 0x3C:  # not '<'
            result.append(c)
            if (c & 0xC0) != 0x80:  # first byte of a UTF-8 sequence
                utf16_offset += 2 if c >= 0xF0 else 1
            i += 1
            continue

        begin_pos = i
        i += 1
        if at(i) != 0x2F:  # start tag
            while i < n and not _is_space(at(i)) and at(i) != 0x3E:
                i += 1
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
            tag_name = src[begin_pos + 1 : i].decode("utf-8", errors="replace").lower()
            if tag_name not in _SUPPORTED_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag_name}" at byte offset {begin_pos}')
            argument = ""
            expandable = False
            while at(i) != 0x3E:
                while i < n and _is_space(at(i)):
                    i += 1
                if at(i) == 0x3E:
                    break
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}')
                attr_begin = i
                while i < n and not _is_space(at(i)) and at(i) not in (0x3D, 0x3E):
                    i += 1
                attr_name = src[attr_begin:i].decode("utf-8", errors="replace")
                if not attr_name:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag_name}" at byte offset {begin_pos}'
                    )
                while i < n and _is_space(at(i)):
                    i += 1
                if at(i) != 0x3D:  # '='
                    if tag_name == "blockquote" and attr_name == "expandable":
                        expandable = True
                        continue
                    if i >= n:
                        raise EntityParseError(f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}')
                    raise EntityParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag_name}" at byte offset {begin_pos}'
                    )
                i += 1
                while i < n and _is_space(at(i)):
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag_name}" at byte offset {begin_pos}')
                value = bytearray()
                if at(i) not in (0x27, 0x22):
                    # An unquoted name token: letters, digits, '.', '-'; case-insensitive.
                    token_begin = i
                    while i < n and (_is_alpha(at(i)) or _is_digit(at(i)) or at(i) in (0x2E, 0x2D)):
                        i += 1
                    value += src[token_begin:i].lower()
                    if i >= n or (not _is_space(at(i)) and at(i) != 0x3E):
                        raise EntityParseError(f"Unexpected end of name token at byte offset {token_begin}")
                else:
                    quote = at(i)
                    i += 1
                    while i < n and at(i) != quote:
                        if at(i) == 0x26:
                            ch, new_pos = _decode_html_entity(src, i)
                            if ch:
                                value += chr(ch).encode("utf-8")
                                i = new_pos
                                continue
                        value.append(src[i])
                        i += 1
                    if i >= n:
                        raise EntityParseError(f"Unclosed start tag at byte offset {begin_pos}")
                    i += 1
                attr_value = value.decode("utf-8", errors="replace")
                if tag_name == "a" and attr_name == "href":
                    argument = attr_value
                elif tag_name == "code" and attr_name == "class" and attr_value.startswith("language-"):
                    argument = attr_value[len("language-") :]
                elif tag_name == "span" and attr_name == "class" and attr_value.startswith("tg-"):
                    argument = attr_value[len("tg-") :]
                elif tag_name == "tg-emoji" and attr_name == "emoji-id":
                    argument = attr_value
            if tag_name == "span" and argument != "spoiler":
                raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin_pos}')
            stack.append(_OpenTag(tag_name, argument, utf16_offset, len(result), expandable))
            i += 1  # skip '>'
            continue

        # end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin_pos}")
        i += 1  # skip '/'
        while i < n and not _is_space(at(i)) and at(i) != 0x3E:
            i += 1
        end_tag_name = src[begin_pos + 2 : i].decode("utf-8", errors="replace")
        while i < n and _is_space(at(i)):
            i += 1
        if at(i) != 0x3E:
            raise EntityParseError(f"Unclosed end tag at byte offset {begin_pos}")
        i += 1
        tag = stack.pop()
        if end_tag_name and end_tag_name.lower() != tag.name:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin_pos}, expected "</{tag.name}>", '
                f'found "</{end_tag_name}>"'
            )
        length = utf16_offset - tag.utf16_offset
        if length <= 0:
            continue
        offset = tag.utf16_offset
        if tag.name in _SIMPLE_TAG_TYPES:
            entities.append({"type": _SIMPLE_TAG_TYPES[tag.name], "offset": offset, "length": length})
        elif tag.name == "a":
            url = tag.argument or result[tag.result_begin :].decode("utf-8", errors="replace")
            user_id = _tg_user_link_id(url)
            if user_id is not None:
                user = user_lookup(user_id) if user_lookup else None
                if user is not None:
                    entities.append(
                        {"type": "text_mention", "offset": offset, "length": length, "user": user}
                    )
            else:
                normalized = normalize_url(url)
                if normalized is not None:  # invalid links are silently dropped, as in Telegram
                    entities.append(
                        {"type": "text_link", "offset": offset, "length": length, "url": normalized}
                    )
        elif tag.name == "pre":
            last = entities[-1] if entities else None
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == offset
                and last["length"] == length
                and last.get("language")
            ):
                last["type"] = "pre"
            else:
                entities.append({"type": "pre", "offset": offset, "length": length})
        elif tag.name == "code":
            last = entities[-1] if entities else None
            if (
                last is not None
                and last["type"] == "pre"
                and last["offset"] == offset
                and last["length"] == length
                and not last.get("language")
                and tag.argument
            ):
                last["language"] = tag.argument
            elif tag.argument:
                # Kept as "code" with a language until the enclosing <pre> closes (tdlib does the same).
                entities.append(
                    {"type": "code", "offset": offset, "length": length, "language": tag.argument}
                )
            else:
                entities.append({"type": "code", "offset": offset, "length": length})
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.expandable else "blockquote"
            entities.append({"type": kind, "offset": offset, "length": length})
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            entities.append(
                {"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": tag.argument}
            )
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    # A <code class="language-x"> that was not inside <pre> is a plain code entity.
    for ent in entities:
        if ent["type"] == "code":
            ent.pop("language", None)
    text = result.decode("utf-8", errors="replace")
    return text, sort_entities(entities)


def sort_entities(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


# --------------------------------------------------------------------------------------------------
# Trimming (tdlib's fix_formatted_text strips leading/trailing whitespace and shifts entities)
# --------------------------------------------------------------------------------------------------


def strip_text(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    stripped_left = text.lstrip()
    left = utf16_len(text) - utf16_len(stripped_left)
    stripped = stripped_left.rstrip()
    total = utf16_len(stripped)
    fixed: list[Entity] = []
    for ent in entities:
        start = max(ent["offset"] - left, 0)
        end = min(ent["offset"] + ent["length"] - left, total)
        if end > start:
            new = dict(ent)
            new["offset"], new["length"] = start, end - start
            fixed.append(new)
    return stripped, fixed


# --------------------------------------------------------------------------------------------------
# Auto-detected entities (urls, mentions, commands, ...) like the Telegram server adds them
# --------------------------------------------------------------------------------------------------

_TRAILING_PUNCT = ".,;:!?)]}'\""

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "email",
        re.compile(
            r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
        ),
    ),
    (
        "url",
        re.compile(
            r"(?<![\w@/.])(?:(?:https?|ftp|tg)://[^\s<>\"]+"
            r"|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?::\d{1,5})?(?:/[^\s<>\"]*)?)",
            re.IGNORECASE,
        ),
    ),
    ("bot_command", re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#(?!\d+\b)\w{1,256}")),
    ("cashtag", re.compile(r"(?<![\w$])\$[A-Z]{1,8}(?![\w$])")),
    ("phone_number", re.compile(r"(?<![\w+])\+?\d[\d\- ()]{6,18}\d(?![\w])")),
]

_TLD_BLACKLIST = frozenset(
    {"py", "txt", "json", "png", "jpg", "jpeg", "pdf", "csv", "doc", "docx", "xls", "xlsx"}
)


def detect_entities(text: str, *, phone_numbers: bool = True) -> list[Entity]:
    """Find entities Telegram's server detects by itself in plain text."""
    found: list[tuple[int, int, str]] = []  # (char start, char end, type)

    def overlaps(s: int, e: int) -> bool:
        return any(s < fe and fs < e for fs, fe, _ in found)

    for kind, pattern in _PATTERNS:
        if kind == "phone_number" and not phone_numbers:
            continue
        for m in pattern.finditer(text):
            s, e = m.start(), m.end()
            if kind == "url":
                while e > s and text[e - 1] in _TRAILING_PUNCT:
                    e -= 1
                candidate = text[s:e]
                if "://" not in candidate:
                    host = candidate.split("/")[0].split(":")[0]
                    if host.rsplit(".", 1)[-1].lower() in _TLD_BLACKLIST:
                        continue
            if kind == "phone_number":
                digits = sum(ch.isdigit() for ch in text[s:e])
                if digits < 7 or digits > 15:
                    continue
            if e > s and not overlaps(s, e):
                found.append((s, e, kind))
    offsets = _char_to_utf16_offsets(text)
    entities = [
        {"type": kind, "offset": offsets[s], "length": offsets[e] - offsets[s]} for s, e, kind in found
    ]
    return sort_entities(entities)


def merge_auto_entities(text: str, entities: list[Entity], *, phone_numbers: bool = False) -> list[Entity]:
    """Add auto-detected entities that don't collide with code/pre/link entities given explicitly."""
    blocking = [
        e for e in entities if e["type"] in ("code", "pre", "text_link", "text_mention", "url", "email")
    ]
    merged = list(entities)
    for auto in detect_entities(text, phone_numbers=phone_numbers):
        a_start, a_end = auto["offset"], auto["offset"] + auto["length"]
        if any(a_start < b["offset"] + b["length"] and b["offset"] < a_end for b in blocking):
            continue
        merged.append(auto)
    return sort_entities(merged)


@dataclass
class FormattedText:
    text: str
    entities: list[Entity] = field(default_factory=list)


def to_html(text: str, entities: list[Entity]) -> str:
    """Render plain text + entities back to Telegram HTML (for terminals and debugging)."""
    import html as _html

    raw = text.encode("utf-16-le")
    opens: dict[int, list[str]] = {}
    closes: dict[int, list[str]] = {}
    tags = {
        "bold": ("<b>", "</b>"),
        "italic": ("<i>", "</i>"),
        "underline": ("<u>", "</u>"),
        "strikethrough": ("<s>", "</s>"),
        "spoiler": ("<tg-spoiler>", "</tg-spoiler>"),
        "code": ("<code>", "</code>"),
        "blockquote": ("<blockquote>", "</blockquote>"),
        "expandable_blockquote": ("<blockquote expandable>", "</blockquote>"),
    }
    for ent in sort_entities(entities):
        kind = ent["type"]
        if kind in tags:
            o, c = tags[kind]
        elif kind == "text_link":
            o, c = f'<a href="{_html.escape(ent["url"])}">', "</a>"
        elif kind == "pre":
            lang = ent.get("language")
            o, c = (f'<pre><code class="language-{lang}">', "</code></pre>") if lang else ("<pre>", "</pre>")
        else:
            continue
        opens.setdefault(ent["offset"], []).append(o)
        closes.setdefault(ent["offset"] + ent["length"], []).insert(0, c)
    out: list[str] = []
    units = len(raw) // 2
    pos = 0
    while pos <= units:
        out.extend(closes.get(pos, []))
        out.extend(opens.get(pos, []))
        if pos == units:
            break
        step = 2 if 0xD800 <= int.from_bytes(raw[pos * 2 : pos * 2 + 2], "little") <= 0xDBFF else 1
        out.append(_html.escape(raw[pos * 2 : (pos + step) * 2].decode("utf-16-le"), quote=False))
        pos += step
    return "".join(out)
