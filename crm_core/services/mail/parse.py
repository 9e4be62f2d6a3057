"""A letter as the CRM keeps it: plain text (HTML turned into text, never passed on as markup),
quotes told apart from the fresh text, attachments up to a size limit, what was cut noted.
A letter that cannot be read is kept raw and says so."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

from crm_core.services.communications import try_normalize_email
from crm_core.services.mail.rules import BODY_MAX, INCOMING_ATTACHMENT_KEEP_MAX, SUBJECT_MAX

RAW_KEEP_MAX = 2 * 1024 * 1024


@dataclass
class ParsedAttachment:
    name: str
    mime: str
    size: int
    data: bytes | None  # None: over the limit, listed only


@dataclass
class ParsedLetter:
    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    from_addr: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None  # kept only when the letter could not be read


# --- HTML to text -------------------------------------------------------------------------------

_BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"}
_SKIP = {"script", "style", "head", "title", "noscript", "template", "svg", "iframe", "object"}


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "blockquote":
            self.parts.append("\n> ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of HTML: tags, scripts and styles dropped, entities decoded. The result
    is plain text and must still be escaped before it is sent as HTML."""
    parser = _TextOf()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: whatever text was read so far
        pass
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- quotes ---------------------------------------------------------------------------------------

_QUOTE_START = re.compile(
    r"^(>|On .{3,200} wrote:\s*$|.{3,200} (пишет|написал|написала):\s*$|-{2,}\s*Original Message\s*-{2,}"
    r"|-{2,}\s*Исходное сообщение\s*-{2,})",
    re.IGNORECASE,
)


def split_quote(text: str) -> tuple[str, str]:
    """(fresh text, quoted tail): the tail starts at the first quoted line or "On ... wrote:"."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _QUOTE_START.match(line.strip()):
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i:]).strip()
    return text.strip(), ""


# --- the letter -----------------------------------------------------------------------------------


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _addresses(values: list[str]) -> list[str]:
    found: list[str] = []
    for _name, addr in getaddresses(values):
        email = try_normalize_email(addr)
        if email and email not in found:
            found.append(email)
    return found


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """Without control characters (PostgreSQL refuses NUL in text; Telegram shows them as junk)."""
    return _CONTROL.sub("", text)


def _cut(text: str, notes: dict[str, Any]) -> str:
    text = clean(text)
    if len(text) > BODY_MAX:
        notes["body_cut"] = len(text)
        return text[:BODY_MAX]
    return text


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        return html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def _attachments(msg: EmailMessage) -> list[ParsedAttachment]:
    out = []
    for part in msg.iter_attachments():
        if isinstance(part, EmailMessage) and part.get_content_maintype() == "multipart":
            continue
        data = part.get_payload(decode=True) or b""
        name = clean(part.get_filename() or "attachment").strip()[:255] or "attachment"
        keep = data if len(data) <= INCOMING_ATTACHMENT_KEEP_MAX else None
        out.append(ParsedAttachment(name, part.get_content_type()[:128], len(data), keep))
    return out


def fallback_message_id(mailbox_id: int, uidvalidity: int, uid: int) -> str:
    return f"<box{mailbox_id}.{uidvalidity}.{uid}@no-message-id.crm>"


def parse_letter(raw: bytes, *, fallback_id: str, header_only: bool = False, size: int = 0) -> ParsedLetter:
    """Read a letter. `header_only`: it was too big to download (`size` bytes), noted as such."""
    try:
        msg: Message = BytesParser(policy=policy.default).parsebytes(raw, headersonly=header_only)
        assert isinstance(msg, EmailMessage)
        letter = ParsedLetter(
            message_id=clean((_ids(str(msg.get("Message-ID", ""))) or [fallback_id])[0])[:500]
        )
        letter.in_reply_to = (_ids(str(msg.get("In-Reply-To", ""))) or [None])[0]
        letter.references = _ids(str(msg.get("References", "")))
        sender = msg.get("From")
        name, addr = "", ""
        if sender is not None and getattr(sender, "addresses", None):
            first: Address = sender.addresses[0]
            name, addr = first.display_name, first.addr_spec
        elif sender is not None:
            name, addr = parseaddr(str(sender))
        letter.from_addr = try_normalize_email(addr) or clean(addr)[:320]
        letter.from_name = clean(" ".join(name.split()))[:255]
        letter.to = _addresses([str(v) for v in msg.get_all("To", [])])
        letter.cc = _addresses([str(v) for v in msg.get_all("Cc", [])])
        letter.subject = clean(" ".join(str(msg.get("Subject", "")).split()))[:SUBJECT_MAX]
        if header_only:
            letter.notes["too_big"] = size
            return letter
        letter.body = _cut(_body(msg), letter.notes)
        letter.attachments = _attachments(msg)
        cut = [a.name for a in letter.attachments if a.data is None]
        if cut:
            letter.notes["attachments_cut"] = cut
        return letter
    except Exception as exc:  # noqa: BLE001 - any letter at all is kept, if only raw
        letter = ParsedLetter(message_id=fallback_id)
        letter.raw = raw[:RAW_KEEP_MAX]
        letter.body = _cut(raw.decode("utf-8", errors="replace"), letter.notes)
        letter.notes["unparsable"] = type(exc).__name__
        return letter
