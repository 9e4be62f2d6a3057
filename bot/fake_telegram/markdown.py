"""MarkdownV2 (and legacy Markdown) parse modes, following tdlib's rules closely enough for tests.

Covers bold, italic, underline, strikethrough, spoiler, inline code, pre (with language), text links,
blockquotes and backslash escapes, and Telegram's "reserved character" errors.
"""

from __future__ import annotations

from .formatting import Entity, EntityParseError, normalize_url, sort_entities, utf16_len

_RESERVED_V2 = set("_*[]()~`>#+-=|{}.!")

_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
}


def parse_markdown_v2(source: str, *, legacy: bool = False) -> tuple[str, list[Entity]]:
    out: list[str] = []
    entities: list[Entity] = []
    stack: list[tuple[str, int, int]] = []  # (type, byte offset of the marker, utf16 offset)
    utf16 = 0
    i = 0
    n = len(source)
    byte_pos = [0] * (n + 1)
    acc = 0
    for k, ch in enumerate(source):
        byte_pos[k] = acc
        acc += len(ch.encode("utf-8"))
    byte_pos[n] = acc

    def emit(text: str) -> None:
        nonlocal utf16
        out.append(text)
        utf16 += utf16_len(text)

    def open_types() -> list[str]:
        return [t for t, _, _ in stack]

    def close(kind: str) -> None:
        _, _, start = stack.pop()
        if utf16 > start:
            entities.append({"type": kind, "offset": start, "length": utf16 - start})

    quote_start: int | None = None
    at_line_start = True
    while i < n:
        c = source[i]
        if (
            not legacy
            and at_line_start
            and c == ">"
            and "code" not in open_types()
            and "pre" not in open_types()
        ):
            if quote_start is None:
                quote_start = utf16
            i += 1
            at_line_start = False
            continue
        if c == "\n":
            at_line_start = True
            if quote_start is not None and not (i + 1 < n and source[i + 1] == ">"):
                emit("\n")
                entities.append(
                    {"type": "blockquote", "offset": quote_start, "length": utf16 - 1 - quote_start}
                )
                quote_start = None
                i += 1
                continue
        else:
            at_line_start = False
        if c == "\\" and not legacy and i + 1 < n and 0 < ord(source[i + 1]) < 127:
            emit(source[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1][0] in ("code", "pre")
        if in_code:
            if stack[-1][0] == "pre" and source.startswith("```", i):
                close("pre")
                i += 3
                continue
            if stack[-1][0] == "code" and c == "`":
                close("code")
                i += 1
                continue
            emit(c)
            i += 1
            continue
        if source.startswith("```", i):
            j = i + 3
            nl = source.find("\n", j)
            lang = ""
            if nl != -1 and source[j:nl].strip() and " " not in source[j:nl].strip():
                lang = source[j:nl].strip()
                j = nl + 1
            elif nl == j:
                j = nl + 1
            if source.find("```", j) == -1:
                raise EntityParseError(f"Can't find end of Pre entity at byte offset {byte_pos[i]}")
            stack.append(("pre", byte_pos[i], utf16))
            i = j
            if lang:
                # remember language by attaching it once the entity closes
                end = source.find("```", j)
                body = source[j:end]
                emit(body)
                stack.pop()
                entities.append(
                    {
                        "type": "pre",
                        "offset": utf16 - utf16_len(body),
                        "length": utf16_len(body),
                        "language": lang,
                    }
                )
                i = end + 3
            continue
        if c == "`":
            stack.append(("code", byte_pos[i], utf16))
            i += 1
            continue
        if c == "[":
            stack.append(("text_link", byte_pos[i], utf16))
            i += 1
            continue
        if c == "]" and "text_link" in open_types():
            if stack[-1][0] != "text_link":
                raise EntityParseError(
                    f"Can't find end of {_NAMES[stack[-1][0]]} entity at byte offset {stack[-1][1]}"
                )
            if i + 1 < n and source[i + 1] == "(":
                end = source.find(")", i + 2)
                if end == -1:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {byte_pos[i + 1]}")
                url = source[i + 2 : end].replace("\\)", ")").replace("\\\\", "\\")
                _, _, start = stack.pop()
                normalized = normalize_url(url)
                if normalized and utf16 > start:
                    entities.append(
                        {"type": "text_link", "offset": start, "length": utf16 - start, "url": normalized}
                    )
                i = end + 1
            else:
                stack.pop()
                i += 1
            continue
        marker, kind = None, None
        if not legacy and source.startswith("||", i):
            marker, kind = "||", "spoiler"
        elif not legacy and source.startswith("__", i):
            marker, kind = "__", "underline"
        elif c == "_":
            marker, kind = "_", "italic"
        elif c == "*":
            marker, kind = "*", "bold"
        elif c == "~" and not legacy:
            marker, kind = "~", "strikethrough"
        if kind is not None and marker is not None:
            if kind in open_types():
                if stack[-1][0] != kind:
                    raise EntityParseError(
                        f"Can't find end of {_NAMES[stack[-1][0]]} entity at byte offset {stack[-1][1]}"
                    )
                close(kind)
            else:
                stack.append((kind, byte_pos[i], utf16))
            i += len(marker)
            continue
        if not legacy and c in _RESERVED_V2:
            raise EntityParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        emit(c)
        i += 1
    if quote_start is not None:
        entities.append({"type": "blockquote", "offset": quote_start, "length": utf16 - quote_start})
    if stack:
        kind, pos, _ = stack[-1]
        if legacy:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {pos}")
        raise EntityParseError(f"Can't find end of {_NAMES[kind]} entity at byte offset {pos}")
    return "".join(out), sort_entities(entities)
