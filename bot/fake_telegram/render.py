"""Plain-text rendering of a chat for terminals (the sandbox)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .models import StoredMessage

if TYPE_CHECKING:
    from .server import FakeTelegram


def render_message(msg: StoredMessage) -> str:
    who = "bot" if msg.from_bot else msg.sender.get("first_name", "user")
    body = msg.text if msg.text is not None else msg.caption or ""
    extras = []
    if "document" in msg.content:
        extras.append(f"[document {msg.content['document'].get('file_name', '')}]")
    if "photo" in msg.content:
        extras.append("[photo]")
    if "contact" in msg.content:
        extras.append(f"[contact {msg.content['contact']['phone_number']}]")
    if "forward_origin" in msg.content:
        extras.append(f"[forwarded: {msg.content['forward_origin']['type']}]")
    for key in ("new_chat_members", "left_chat_member", "migrate_to_chat_id", "migrate_from_chat_id"):
        if key in msg.content:
            extras.append(f"[{key}]")
    edited = " (edited)" if msg.edit_count else ""
    lines = [f"#{msg.message_id} {who}{edited}: {' '.join(extras + [body]).strip()}"]
    for row in msg.inline_keyboard:
        lines.append(
            "    " + "  ".join(f"[{text}]" + (f"<{url}>" if url else "") for text, _data, url in row)
        )
    for reply_row in msg.reply_keyboard:
        lines.append("    " + "  ".join(f"({text})" for text in reply_row))
    return "\n".join(lines)


def render_chat(fake: FakeTelegram, chat_id: int, last: int | None = None) -> str:
    msgs = fake.messages(chat_id)
    if last is not None:
        msgs = msgs[-last:]
    return "\n".join(render_message(m) for m in msgs)
