"""Field kinds: for each, ONE parser (text a person typed, in their locale and timezone -> value, or
ValidationFailed with a reason) and ONE formatter (value -> text in their language).

Parsers never guess silently: a value that does not fit the kind or its limits is refused, so
every path (card, capture, filter, an import) accepts and refuses the same things."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from email_validator import EmailNotValidError, validate_email

from crm_core.errors import ValidationFailed
from crm_core.fields.context import FieldContext
from crm_core.fields.phones import format_phone, normalize_phone
from crm_core.formatting import currency_symbol, format_date, format_datetime, format_money, format_number
from crm_core.services import when


class Kind(StrEnum):
    TEXT = "text"
    MONEY = "money"
    CURRENCY = "currency"
    DATE = "date"
    DATETIME = "datetime"
    PHONE = "phone"
    EMAIL = "email"
    ENUM = "enum"
    REFERENCE = "reference"  # another row (stage, pipeline, contact, company, lead) by id
    USER = "user"
    NUMBER = "number"  # a whole number (ids)
    FLAG = "flag"  # yes / no


MAX_AMOUNT_DIGITS = 15  # Numeric(18, 2) leaves 16 before the point; one spare keeps sums safe
DEFAULT_TEXT_LIMIT = 4000


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str | None = None  # None: the text named no currency


# --- money ------------------------------------------------------------------------------------------

# Signs and words people type for a currency; three-letter codes are read as they are.
_CURRENCY_SIGNS = {"₽": "RUB", "$": "USD", "€": "EUR", "£": "GBP", "¥": "CNY", "₸": "KZT", "₴": "UAH"}
_CURRENCY_WORDS = re.compile(r"(?<![a-zа-я])(руб(?:лей|ля|ль)?|р|rub)\.?(?![a-zа-я])", re.IGNORECASE)
_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
# Only whole-word multipliers at the end: "150 тыс.", "1,5 млн", "20k".
_MULTIPLIERS = {"тыс": 1000, "k": 1000, "млн": 1_000_000, "m": 1_000_000}
_MULTIPLIER = re.compile(r"(?<![a-zа-я])(тыс|млн|k|m)\.?\s*$", re.IGNORECASE)
_GROUPING = re.compile(r"[\s\u00a0\u202f'’_]")


def _number(s: str) -> Decimal:
    """ "1 500,50", "1,500.50", "1.500,50", "1500.5", "1,500" -> Decimal. A single separator
    followed by exactly three digits groups thousands (money has at most two decimals)."""
    s = _GROUPING.sub("", s)
    if not re.fullmatch(r"\d[\d.,]*", s):
        raise ValueError(s)
    if "," in s and "." in s:
        decimal_sep = "," if s.rfind(",") > s.rfind(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        head, _, tail = s.rpartition(decimal_sep)
        grouped = r"\d{1,3}(?:" + re.escape(group_sep) + r"\d{3})*"
        if decimal_sep in head or not re.fullmatch(grouped, head):
            raise ValueError(s)
        s = head.replace(group_sep, "") + "." + tail
    else:
        sep = "," if "," in s else "." if "." in s else ""
        if sep:
            parts = s.split(sep)
            if len(parts) > 2 or len(parts[-1]) == 3:
                if not all(len(p) == 3 for p in parts[1:]) or not 1 <= len(parts[0]) <= 3:
                    raise ValueError(s)
                s = "".join(parts)
            else:
                s = parts[0] + "." + parts[1]
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?", s)
    if not m:
        raise ValueError(s)
    return Decimal(s)


def parse_money(text: str, ctx: FieldContext | None = None) -> Money:
    """ "1 500,50", "1,500.50", "1.500,50", "5000 USD", "5 000 ₽", "150 тыс." -> Money."""
    s = (text or "").strip()
    currency = None
    for sign, code in _CURRENCY_SIGNS.items():
        if sign in s:
            currency, s = code, s.replace(sign, " ")
    m = _CURRENCY_WORDS.search(s)
    if m:
        currency, s = "RUB", s[: m.start()] + " " + s[m.end() :]
    factor = 1
    m = _MULTIPLIER.search(s)
    if m:
        factor, s = _MULTIPLIERS[m.group(1).lower()], s[: m.start()]
    m = _CODE.search(s)
    if m:
        currency, s = m.group(1).upper(), s[: m.start()] + " " + s[m.end() :]
    m = _MULTIPLIER.search(s) if factor == 1 else None  # "20k USD"
    if m:
        factor, s = _MULTIPLIERS[m.group(1).lower()], s[: m.start()]
    try:
        amount = _number(s.strip()) * factor
    except (ValueError, InvalidOperation) as exc:
        raise ValidationFailed("invalid amount", field="amount", value=text) from exc
    # Digits first: quantizing a number past Decimal's 28 digits raises InvalidOperation.
    if len(str(int(amount))) > MAX_AMOUNT_DIGITS or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed("invalid amount", field="amount", value=text)
    return Money(amount.quantize(Decimal("0.01")) if amount % 1 else amount.quantize(Decimal("1")), currency)


def clean_amount(value: Any, field: str = "amount") -> Decimal:
    """An amount given as a number (not typed text): two decimals at most, and no more digits than
    the column holds."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed("invalid amount", field=field, value=str(value)) from exc
    if not amount.is_finite() or amount < 0 or len(str(int(amount))) > MAX_AMOUNT_DIGITS:
        raise ValidationFailed("invalid amount", field=field, value=str(value))
    return amount.quantize(Decimal("0.01"))


def clean_date(value: Any, field: str = "date") -> date:
    """A day given as a date or an ISO string ("2026-11-28")."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed("invalid date", field=field, value=str(value)) from exc


# Id columns are INTEGER (int4 on PostgreSQL): a larger id names nothing and must not reach the
# database, where binding it raises (SQLite past 2**63, asyncpg past 2**31). Keep in step with
# crm_core.db's Session.get guard.
MAX_ID = 2**31 - 1


def in_id_range(value: Any) -> bool:
    """Whether an id from outside can name a row at all; otherwise it is simply not found."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def clean_id(value: Any, field: str = "id") -> int:
    """An id given by a program: a whole number within the database's range."""
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("invalid value", field=field, value=str(value)) from exc
    if isinstance(value, bool) or not 0 < number <= MAX_ID:
        raise ValidationFailed("invalid value", field=field, value=str(value))
    return number


# A page offset from outside (a forged page button) can be any size: one past every row reads
# nothing, but one past BIGINT must not reach the database, where binding it raises.
MAX_OFFSET = 2**63 - 1


def fit_offset(offset: int | None) -> int:
    """An offset the database can bind: below zero is the start, past BIGINT is BIGINT's end."""
    return min(max(0, offset or 0), MAX_OFFSET)


def parse_currency(text: str, ctx: FieldContext | None = None) -> str:
    s = (text or "").strip()
    code = _CURRENCY_SIGNS.get(s) or ("RUB" if _CURRENCY_WORDS.fullmatch(s) else s.upper())
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValidationFailed("invalid currency", field="currency", value=text)
    return code


# --- dates --------------------------------------------------------------------------------------------


def parse_date(text: str, ctx: FieldContext) -> date:
    """ "28.11", "28.11.2026", "2026-11-28", "28 ноября", "завтра", "today", "пт" -> a day (the
    date rules of crm_core.services.when: a day without a year is the next such day)."""
    day = when.parse_day(text, ctx.today)
    if day is None:
        raise ValidationFailed("invalid date", field="date", value=text)
    return day


def parse_datetime(text: str, ctx: FieldContext) -> datetime:
    """ "завтра 10:00", "28.11 15:30", "in 2 hours" -> an aware UTC moment (when.parse_when)."""
    moment = when.parse_when(text, ctx.now, ctx.zone)  # type: ignore[arg-type]
    if moment is None:
        raise ValidationFailed("invalid date", field="datetime", value=text)
    return moment


# --- phones, emails, text --------------------------------------------------------------------------------


def parse_phone(text: str, ctx: FieldContext | None = None) -> str:
    """E.164; a number without a country code belongs to the context's region."""
    return normalize_phone((text or "").strip(), ctx.phone_region if ctx else None)


def parse_email(text: str, ctx: FieldContext | None = None) -> str:
    """A valid address, lower-cased (compared case-insensitively)."""
    try:
        result = validate_email((text or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed("invalid email", field="email", value=text) from exc
    return result.normalized.lower()


# What no stored text holds: NUL (no character a person means; PostgreSQL cannot store it, and in
# a statement's text it would end the string), and lone surrogates (no UTF-8; a program's JSON can
# carry them), which stand for the replacement character instead, as a UTF-8 decoder would have it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """`text` as a stored text can hold it: without NUL, lone surrogates replaced."""
    return _LONE_SURROGATE.sub("\ufffd", text.replace("\x00", ""))


def parse_text(text: str, max_length: int | None = None) -> str:
    s = storable(text or "").strip()
    limit = max_length or DEFAULT_TEXT_LIMIT
    if len(s) > limit:
        raise ValidationFailed("text too long", field="text", max=limit)
    return s


def parse_number(text: str) -> int:
    s = _GROUPING.sub("", (text or "").strip())
    if not re.fullmatch(r"-?\d{1,18}", s):
        raise ValidationFailed("invalid value", field="number", value=text)
    return int(s)


_YES = {"1", "yes", "y", "true", "да", "д"}
_NO = {"0", "no", "n", "false", "нет", "н"}


def parse_flag(text: str) -> bool:
    s = (text or "").strip().lower()
    if s in _YES:
        return True
    if s in _NO:
        return False
    raise ValidationFailed("invalid value", field="flag", value=text)


# --- formatters ---------------------------------------------------------------------------------------


def format_value(kind: Kind, value: Any, ctx: FieldContext, *, currency: str | None = None) -> str:
    """A stored value as text in the context's language; "" for nothing (the caller shows a dash).
    Lists (several phones) are joined with commas. The result is plain text, not HTML-escaped."""
    if value is None or value == "" or value == []:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(kind, v, ctx, currency=currency) for v in value)
    if kind == Kind.MONEY:
        if isinstance(value, Money):
            value, currency = value.amount, value.currency or currency
        return format_money(Decimal(str(value)), currency, ctx.language)
    if kind == Kind.CURRENCY:
        symbol = currency_symbol(str(value), ctx.language)
        return str(value) if symbol == value else f"{value} ({symbol})"
    if kind == Kind.DATE:
        if isinstance(value, str):
            value = date.fromisoformat(value)
        return format_date(value, ctx.language)
    if kind == Kind.DATETIME:
        if isinstance(value, datetime):
            return format_datetime(value, ctx.zone, ctx.language)
        return format_date(value, ctx.language)
    if kind == Kind.PHONE:
        return format_phone(str(value), ctx.phone_region) if str(value).startswith("+") else str(value)
    if kind == Kind.NUMBER and isinstance(value, int | Decimal):
        return format_number(value, ctx.language)
    return str(value)
