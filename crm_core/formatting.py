"""Dates, times, numbers and money as the user's locale writes them (Babel, CLDR data).

Every value shown to a person goes through here, so no screen formats by hand. `language` is a
language code the bot speaks ("en", "ru"); Babel knows how each writes dates and numbers.
"""

from __future__ import annotations

from datetime import date, datetime, time, tzinfo
from decimal import Decimal
from functools import lru_cache

from babel import Locale
from babel.dates import format_skeleton, get_day_names, get_month_names
from babel.numbers import format_currency, format_decimal, get_currency_symbol

from crm_core.clock import ensure_utc


@lru_cache(maxsize=32)
def babel_locale(language: str) -> Locale:
    try:
        return Locale.parse(language or "en")
    except Exception:  # an unknown code must not break a screen
        return Locale.parse("en")


def format_date(value: date, language: str, *, with_year: bool = True) -> str:
    """28.11.2026 / 11/28/2026; without the year: 28.11 / 11/28."""
    return format_skeleton("yMd" if with_year else "Md", value, locale=babel_locale(language))


def format_time(value: time | datetime, language: str) -> str:
    """10:00 (24-hour clock in both languages the bot speaks, as the time parser reads it)."""
    moment = value if isinstance(value, datetime) else datetime.combine(date(2000, 1, 1), value)
    return format_skeleton("Hm", moment, locale=babel_locale(language))


def format_datetime(value: datetime, zone: tzinfo, language: str, *, with_year: bool = True) -> str:
    """A stored (UTC) moment in the user's timezone: "28.11.2026 10:00"."""
    local = ensure_utc(value).astimezone(zone)
    return f"{format_date(local.date(), language, with_year=with_year)} {format_time(local, language)}"


def format_number(value: int | float | Decimal, language: str) -> str:
    """1 500 / 1,500; fractions as the locale writes them."""
    return format_decimal(value, locale=babel_locale(language))


def format_money(amount: Decimal | int | float | None, currency: str | None, language: str) -> str:
    """ "150 000,50 ₽" (ru) / "₽150,000.50" (en); whole amounts without the cents."""
    if amount is None:
        return "—"
    locale = babel_locale(language)
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    code = (currency or "RUB").upper()
    pattern = locale.currency_formats["standard"].pattern.split(";")[0]
    if value == value.to_integral_value():
        pattern = pattern.replace("0.00", "0")
        value = value.quantize(Decimal("1"))
    pattern = pattern.replace("¤", "'" + currency_symbol(code, language) + "'")
    return format_currency(value, code, format=pattern, locale=locale, currency_digits=False)


def currency_symbol(currency: str, language: str) -> str:
    """The locale's sign; where it only knows the code (RUB in English), the sign of a locale that
    uses the currency daily (₽)."""
    code = currency.upper()
    symbol = get_currency_symbol(code, locale=babel_locale(language))
    if symbol == code:
        symbol = _home_symbols().get(code, code)
    return symbol


@lru_cache(maxsize=1)
def _home_symbols() -> dict[str, str]:
    found: dict[str, str] = {}
    for language in ("ru", "kk", "uk", "be", "zh"):
        for code, symbol in babel_locale(language).currency_symbols.items():
            if symbol != code and len(symbol) <= 2:
                found.setdefault(code, symbol)
    return found


def month_name(month: int, language: str) -> str:
    """The month's name as a calendar's title says it: "Ноябрь" / "November"."""
    name = get_month_names("wide", context="stand-alone", locale=babel_locale(language))[month]
    return name[:1].upper() + name[1:]


def weekday_name(weekday: int, language: str, *, short: bool = True) -> str:
    """Monday is 0, as date.weekday() counts: "Пн" / "Mon"."""
    width = "abbreviated" if short else "wide"
    name = get_day_names(width, context="stand-alone", locale=babel_locale(language))[weekday]
    return name[:1].upper() + name[1:]


def format_day_month(value: date, language: str, *, long: bool = False) -> str:
    """A day of this year without the year: "28 нояб." / "Nov 28" ("28 ноября" / "November 28")."""
    return format_skeleton("MMMMd" if long else "MMMd", value, locale=babel_locale(language))
