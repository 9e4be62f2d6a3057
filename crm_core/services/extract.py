"""Pulling a lead out of free text: phones, emails and a title from one message.

Pure functions (no database): "Ivan, +7 999 123-45-67, ivan@example.com — wants a quote" gives the
phone (E.164), the email (lower-cased), and the first line without them as the title. Hints the
messenger already found (Telegram's phone_number/email entities) are added to what is parsed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

from crm_core.fields.phones import default_region
from crm_core.services.items import DEFAULT_PHONE_REGION, try_normalize_email, try_normalize_phone

TITLE_LIMIT = 255
# Deliberately loose: every candidate is confirmed by email-validator.
_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Separators left dangling once a phone/email is cut out of a line.
_EDGE = " \t,;:–—-|/·•"


@dataclass(frozen=True)
class Extracted:
    title: str
    phones: list[str] = field(default_factory=list)  # as typed, one per normalised number
    emails: list[str] = field(default_factory=list)  # normalised (lower-cased)
    phones_normalized: list[str] = field(default_factory=list)


def _phone_spans(text: str, region: str | None) -> list[tuple[int, int, str, str]]:
    """(start, end, raw, E.164) of the phone numbers phonenumbers finds in `text`."""
    out = []
    for match in phonenumbers.PhoneNumberMatcher(text, region or default_region()):
        number = match.number
        number.extension = None
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        out.append((match.start, match.end, match.raw_string, e164))
    return out


def extract_lead(
    text: str,
    hints: Iterable[tuple[str, str]] = (),
    *,
    default_region: str | None = DEFAULT_PHONE_REGION,
) -> Extracted:
    """Phones, emails and a title from free text.

    `hints` are (kind, value) pairs a messenger found, kind "phone_number" or "email"; invalid
    ones are ignored. The title is the first non-empty line once phones and emails are removed
    (trimmed, at most TITLE_LIMIT characters); it may be empty when the text held only those.
    """
    text = text or ""
    phones: dict[str, str] = {}  # E.164 -> as typed
    emails: dict[str, None] = {}
    cut: list[tuple[int, int]] = []

    for m in _EMAIL_RE.finditer(text):
        norm = try_normalize_email(m.group(0))
        if norm:
            emails.setdefault(norm, None)
            cut.append(m.span())
    # Digits inside an email must not be read as a phone.
    masked = list(text)
    for start, end in cut:
        masked[start:end] = " " * (end - start)
    for start, end, raw, e164 in _phone_spans("".join(masked), default_region):
        phones.setdefault(e164, raw.strip())
        cut.append((start, end))

    for kind, value in hints:
        if kind == "email":
            norm = try_normalize_email(value)
            if norm:
                emails.setdefault(norm, None)
        elif kind == "phone_number":
            norm = try_normalize_phone(value, default_region)
            if norm:
                phones.setdefault(norm, value.strip())
        else:
            continue
        pos = text.find(value)
        if pos >= 0:
            cut.append((pos, pos + len(value)))

    chars = list(text)
    for start, end in cut:
        for i in range(start, end):
            chars[i] = "\0"
    title = ""
    for line in "".join(chars).splitlines():
        # What surrounded a removed phone/email is kept, without the dangling separators.
        parts = (re.sub(r"\s+", " ", part).strip(_EDGE) for part in line.split("\0"))
        line = " ".join(p for p in parts if p)
        if line:
            title = line[:TITLE_LIMIT].rstrip()
            break
    return Extracted(
        title=title,
        phones=list(phones.values()),
        emails=list(emails),
        phones_normalized=list(phones),
    )


__all__ = ["Extracted", "TITLE_LIMIT", "extract_lead"]
