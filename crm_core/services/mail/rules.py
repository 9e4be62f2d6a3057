"""The rules of email: limits, the mailbox form as typed, recipients, "Re:" subjects."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_core.errors import ValidationFailed
from crm_core.models.mail import TlsMode
from crm_core.services.communications import try_normalize_email

# Attachments of one outgoing letter, all together (as Bitrix24's mail: 14.3 MB).
OUTGOING_ATTACHMENTS_MAX = int(14.3 * 1024 * 1024)
# An incoming attachment over this is listed on the card, not kept.
INCOMING_ATTACHMENT_KEEP_MAX = 10 * 1024 * 1024
# A letter over this is not downloaded: its headers land on the card with a note.
INCOMING_LETTER_MAX = 40 * 1024 * 1024
# The text kept of a letter; the rest is cut with a note.
BODY_MAX = 20_000
SUBJECT_MAX = 500
TEXT_MAX = 50_000
RECIPIENTS_MAX = 20

DEFAULT_TLS = {993: TlsMode.SSL, 465: TlsMode.SSL, 143: TlsMode.STARTTLS, 587: TlsMode.STARTTLS}
_TLS_WORDS = {
    "ssl": TlsMode.SSL,
    "tls": TlsMode.SSL,
    "starttls": TlsMode.STARTTLS,
    "none": TlsMode.NONE,
    "plain": TlsMode.NONE,
    "нет": TlsMode.NONE,
}


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: TlsMode


@dataclass(frozen=True)
class BoxForm:
    address: str
    imap: Endpoint
    smtp: Endpoint
    login: str
    password: str

    def __repr__(self) -> str:  # never shows the password (a log line, a traceback)
        return f"BoxForm({self.address!r}, {self.imap}, {self.smtp}, login={self.login!r}, password=***)"


def parse_endpoint(line: str, field: str) -> Endpoint:
    """ "imap.example.com 993 ssl", "smtp.example.com:587 starttls", "mail.local 1143 none"."""
    parts = line.replace(":", " ").split()
    if len(parts) < 2 or len(parts) > 3 or not parts[1].isdigit():
        raise ValidationFailed("expected: host port [ssl|starttls|none]", field=field, value=line)
    host, port = parts[0].strip().lower(), int(parts[1])
    if not 0 < port < 65536 or not re.fullmatch(r"[a-z0-9.-]+", host):
        raise ValidationFailed("bad host or port", field=field, value=line)
    if len(parts) == 3:
        tls = _TLS_WORDS.get(parts[2].lower())
        if tls is None:
            raise ValidationFailed("TLS mode is ssl, starttls or none", field=field, value=line)
    elif port in DEFAULT_TLS:
        tls = DEFAULT_TLS[port]
    else:
        raise ValidationFailed("say the TLS mode: ssl, starttls or none", field=field, value=line)
    return Endpoint(host, port, tls)


def parse_box_form(text: str) -> BoxForm:
    """The connection form typed as lines: address; IMAP host port [tls]; SMTP host port [tls];
    [login;] password. The login defaults to the address."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) not in (4, 5):
        raise ValidationFailed("4 or 5 lines expected", field="form", lines=len(lines))
    address = try_normalize_email(lines[0])
    if address is None:
        raise ValidationFailed("bad address", field="address", value=lines[0])
    imap = parse_endpoint(lines[1], "imap")
    smtp = parse_endpoint(lines[2], "smtp")
    login = lines[3] if len(lines) == 5 else address
    password = lines[-1]
    return BoxForm(address, imap, smtp, login, password)


def parse_recipients(text: str) -> list[str]:
    """Addresses typed separated by commas, semicolons or spaces; each valid, no duplicates."""
    found: list[str] = []
    for part in re.split(r"[,;\s]+", text or ""):
        if not part:
            continue
        email = try_normalize_email(part.strip("<>"))
        if email is None:
            raise ValidationFailed("bad email", field="recipient", value=part)
        if email not in found:
            found.append(email)
    if not found:
        raise ValidationFailed("no recipient", field="recipient")
    if len(found) > RECIPIENTS_MAX:
        raise ValidationFailed("too many recipients", field="recipient", max=RECIPIENTS_MAX)
    return found


def check_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        raise ValidationFailed("empty subject", field="subject")
    if len(subject) > SUBJECT_MAX:
        raise ValidationFailed("subject too long", field="subject", max=SUBJECT_MAX)
    return subject


def check_text(text: str) -> str:
    if not (text or "").strip():
        raise ValidationFailed("empty text", field="text")
    if len(text) > TEXT_MAX:
        raise ValidationFailed("text too long", field="text", max=TEXT_MAX)
    return text


def check_attachments(sizes: list[int]) -> None:
    if sum(sizes) > OUTGOING_ATTACHMENTS_MAX:
        raise ValidationFailed("attachments too big", field="attachments", max=OUTGOING_ATTACHMENTS_MAX)


def reply_subject(subject: str) -> str:
    """ "Re: " once, however many the letter already had (Re:, RE:, Fwd: stays)."""
    stripped = re.sub(r"^(\s*(re|ha|на)\s*(\[\d+\])?\s*:\s*)+", "", subject or "", flags=re.IGNORECASE)
    return f"Re: {stripped}".strip()
