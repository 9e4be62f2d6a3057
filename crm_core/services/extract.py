"""Pulling a lead out of free text: phones, emails, a person's and a company's name and a title.

Pure functions (no database): "Ivan Petrov, +7 999 123-45-67, ivan@example.com — wants a quote"
gives the phone (E.164), the email (lower-cased), the name (Ivan / Petrov) and the first line
without them as the title ("wants a quote"). Hints the messenger already found (Telegram's
phone_number/email entities) are added to what is parsed here.

A name or company leaves the title only when it stands alone between separators ("Иван Петров,
замена котла" -> "замена котла"); inside a phrase ("замена котла для Ивана Петрова") the phrase is
kept whole and the name is still extracted. A text with nothing but a name has an empty title:
`Extracted.fallback_title` then names the lead after the person (then the company, the phone, the
email), as Bitrix24 shows a lead by its client's name; no "Lead:" prefix, the card says what it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import phonenumbers

from crm_core.fields.phones import default_region
from crm_core.services.communications import DEFAULT_PHONE_REGION, try_normalize_email, try_normalize_phone
from crm_core.services.names import find_companies, find_person, is_whole_part

TITLE_LIMIT = 255
# Deliberately loose: every candidate is confirmed by email-validator.
_EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# Separators left dangling once a phone/email is cut out of a line.
_EDGE = " \t,;:–—-|/·•"
_PIECE_RE = re.compile(rf"([{re.escape(_EDGE)}\s]*)(.*?)([{re.escape(_EDGE)}\s]*)", re.DOTALL)


@dataclass(frozen=True)
class Extracted:
    title: str
    phones: list[str] = field(default_factory=list)  # as typed, one per normalised number
    emails: list[str] = field(default_factory=list)  # normalised (lower-cased)
    phones_normalized: list[str] = field(default_factory=list)
    name: str | None = None
    second_name: str | None = None
    last_name: str | None = None
    company_title: str | None = None

    @property
    def person(self) -> str:
        return " ".join(p for p in (self.name, self.second_name, self.last_name) if p)

    @property
    def fallback_title(self) -> str:
        """A title for a text that had nothing but a name, a company or contacts ("" if none)."""
        first = next(iter(self.phones + self.emails), "")
        return (self.person or self.company_title or first)[:TITLE_LIMIT]


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
    """Phones, emails, names and a title from free text.

    `hints` are (kind, value) pairs a messenger found, kind "phone_number" or "email"; invalid
    ones are ignored. The title is the first non-empty line once phones, emails and stand-alone
    names are removed (trimmed, at most TITLE_LIMIT characters); it may be empty when the text
    held only those (see `Extracted.fallback_title`).
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

    masked_text = _masked(text, cut)
    company = None
    for start, end, name in find_companies(masked_text):
        company = company or name
        if is_whole_part(masked_text, start, end):
            cut.append((start, end))
        else:  # "ИП Иванов" inside a phrase is not a person either
            masked_text = masked_text[:start] + "\0" * (end - start) + masked_text[end:]
    masked_text = _masked(masked_text, cut)
    found = find_person(masked_text)
    if found is not None and is_whole_part(masked_text, found.start, found.end):
        cut.append((found.start, found.end))
    person = found.person if found else None

    title = ""
    for line in _masked(text, cut).splitlines():
        # What surrounded a removed phone/email/name is kept, without the dangling separators.
        line = _join_pieces(line.split("\0"))
        if line:
            title = line[:TITLE_LIMIT].rstrip()
            break
    return Extracted(
        title=title,
        phones=list(phones.values()),
        emails=list(emails),
        phones_normalized=list(phones),
        name=person.name if person else None,
        second_name=person.second_name if person else None,
        last_name=person.last_name if person else None,
        company_title=company[:TITLE_LIMIT] if company else None,
    )


def _join_pieces(pieces: list[str]) -> str:
    """Pieces left between cut-out parts, joined with a comma where one separated them."""
    out, gap = "", ""
    for raw in pieces:
        m = _PIECE_RE.fullmatch(raw)
        assert m is not None
        lead, piece, tail = m.groups()
        gap += lead
        piece = re.sub(r"\s+", " ", piece)
        if piece:
            out += ((", " if "," in gap or ";" in gap else " ") if out else "") + piece
            gap = tail
        else:
            gap += tail
    return out


def _masked(text: str, cut: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in cut:
        for i in range(start, end):
            chars[i] = "\0"
    return "".join(chars)


__all__ = ["Extracted", "TITLE_LIMIT", "extract_lead"]
