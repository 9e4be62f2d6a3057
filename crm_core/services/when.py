"""Typed dates and times ("tomorrow 15:30", "завтра 15:30", "28.11 15:30", "in 2 hours", "пн 10:00")
and the quick deadline choices, in a user's timezone. Pure functions: no database, no clock.

Every result is an aware UTC datetime. Wall-clock times are resolved with zoneinfo, so a day keeps
its local time across a DST change; a local time that does not exist (the hour skipped in spring)
lands on the instant right after the gap, an ambiguous one (autumn) on its first occurrence.
Past results are returned as they are: rejecting them is the caller's decision.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIME = time(10, 0)  # a date typed without a time

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
    "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9,
    "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
    "янв": 1, "января": 1, "январь": 1, "фев": 2, "февраля": 2, "февраль": 2, "мар": 3, "марта": 3,
    "март": 3, "апр": 4, "апреля": 4, "апрель": 4, "мая": 5, "май": 5, "июн": 6, "июня": 6, "июнь": 6,
    "июл": 7, "июля": 7, "июль": 7, "авг": 8, "августа": 8, "август": 8, "сен": 9, "сент": 9,
    "сентября": 9, "сентябрь": 9, "окт": 10, "октября": 10, "октябрь": 10, "ноя": 11, "нояб": 11,
    "ноября": 11, "ноябрь": 11, "дек": 12, "декабря": 12, "декабрь": 12,
}  # fmt: skip

_WEEKDAYS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "wednesday": 2,
    "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4, "sat": 5, "saturday": 5,
    "sun": 6, "sunday": 6,
    "пн": 0, "пон": 0, "понедельник": 0, "вт": 1, "вторник": 1, "ср": 2, "среда": 2, "среду": 2,
    "чт": 3, "четверг": 3, "пт": 4, "пятница": 4, "пятницу": 4, "сб": 5, "суббота": 5, "субботу": 5,
    "вс": 6, "воскресенье": 6,
}  # fmt: skip

_DAY_WORDS = {
    "today": 0, "tod": 0, "сегодня": 0, "сег": 0,
    "tomorrow": 1, "tmrw": 1, "tmr": 1, "tomorow": 1, "завтра": 1,
    "послезавтра": 2, "day after tomorrow": 2, "the day after tomorrow": 2,
}  # fmt: skip

_NEXT = r"(?:next|следующий|следующую|следующее|след\.?)"
_FILLERS = {"at", "on", "в", "во", "к", "на", "by", "до"}

# Relative amounts: "in 2 hours", "in an hour", "через 2 часа", "через час", "через полчаса", "+2h".
_UNITS = {
    "m": "minutes", "min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
    "мин": "minutes", "минуту": "minutes", "минуты": "minutes", "минут": "minutes", "м": "minutes",
    "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
    "ч": "hours", "час": "hours", "часа": "hours", "часов": "hours",
    "d": "days", "day": "days", "days": "days", "д": "days", "день": "days", "дня": "days", "дней": "days",
    "w": "weeks", "week": "weeks", "weeks": "weeks", "нед": "weeks", "неделю": "weeks",
    "недели": "weeks", "недель": "weeks",
}  # fmt: skip
_UNIT_RE = "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True))
_RELATIVE = re.compile(rf"^(?:in|через|\+)\s*(\d{{1,4}}|an?|one)?\s*({_UNIT_RE})\.?$")
_HALF_HOUR = re.compile(r"^(?:in half an hour|через полчаса|in 30 min)$")

_TIME_HM = re.compile(r"(?<![\d.:/-])(\d{1,2}):(\d{2})(?:\s*(am|pm|a\.m\.|p\.m\.))?(?![\d:])")
_TIME_AMPM = re.compile(r"(?<![\d.:/-])(\d{1,2})\s*(am|pm|a\.m\.|p\.m\.)(?!\w)")
_TIME_RU = re.compile(r"(?<![\d.:/-])(\d{1,2})(?::(\d{2}))?\s*(утра|дня|вечера|ночи)(?!\w)")
_TIME_AT_HOUR = re.compile(
    r"(?:^|\s)(?:at|в|во|к)\s+(\d{1,2})(?:\s*(?:ч|часов|часа|час|h|o'clock))?(?![\d.:/\w])"
)
_NOON = re.compile(r"(?<!\w)(noon|полдень|midday)(?!\w)")

_DATE_ISO = re.compile(r"(?<![\d.])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d.])")
_DATE_DMY = re.compile(r"(?<![\d.:])(\d{1,2})[./](\d{1,2})(?:[./](\d{4}|\d{2}))?\.?(?![\d:])")
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_DATE_D_MON = re.compile(rf"(?<![\d.])(\d{{1,2}})\s+({_MONTH_RE})\.?(?:\s+(\d{{4}}))?(?!\w)")
_DATE_MON_D = re.compile(rf"(?<!\w)({_MONTH_RE})\.?\s+(\d{{1,2}})(?:,?\s+(\d{{4}}))?(?![\d\w])")
_DAY_WORD_RE = re.compile(
    r"(?<!\w)(" + "|".join(sorted((re.escape(w) for w in _DAY_WORDS), key=len, reverse=True)) + r")(?!\w)"
)
_WEEKDAY_RE = re.compile(
    rf"(?<!\w)(?:({_NEXT})\s+)?("
    + "|".join(sorted((re.escape(w) for w in _WEEKDAYS), key=len, reverse=True))
    + r")\.?(?!\w)"
)


class _Invalid(Exception):
    """Looked like a date or time but is not one (31.02, 25:00)."""


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a local day (DST rules of zoneinfo, see the module)."""
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).astimezone(UTC)


def local_today(now: datetime, tz: ZoneInfo) -> date:
    return _utc(now).astimezone(tz).date()


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime: a timezone is required")
    return value.astimezone(UTC)


def _normalize(text: str) -> str:
    s = (text or "").strip().lower().replace("ё", "е")
    s = re.sub(r"[,;!?]+", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return s.rstrip(".").strip()


def _hm(hour: int, minute: int, suffix: str | None = None) -> time:
    if suffix:
        suffix = suffix.replace(".", "")
        if suffix in ("am", "pm"):
            if not 1 <= hour <= 12:
                raise _Invalid
            hour = hour % 12 + (12 if suffix == "pm" else 0)
        elif suffix in ("дня", "вечера"):
            if not 1 <= hour <= 12:
                raise _Invalid
            hour = hour if hour == 12 else hour + 12
        elif suffix == "ночи":
            hour = 0 if hour == 12 else hour
        # "утра": as is
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise _Invalid
    return time(hour, minute)


def _take(pattern: re.Pattern[str], s: str) -> tuple[re.Match[str] | None, str]:
    m = pattern.search(s)
    if m is None:
        return None, s
    return m, (s[: m.start()] + " " + s[m.end() :]).strip()


def _take_time(s: str) -> tuple[time | None, str]:
    m, rest = _take(_TIME_HM, s)
    if m:
        return _hm(int(m.group(1)), int(m.group(2)), m.group(3)), rest
    m, rest = _take(_TIME_RU, s)
    if m:
        return _hm(int(m.group(1)), int(m.group(2) or 0), m.group(3)), rest
    m, rest = _take(_TIME_AMPM, s)
    if m:
        return _hm(int(m.group(1)), 0, m.group(2)), rest
    m, rest = _take(_NOON, s)
    if m:
        return time(12, 0), rest
    return None, s


def _take_bare_hour(s: str) -> tuple[time | None, str]:
    """ "at 9", "в 9": only once the date is out of the way ("в 10 мая" is a date)."""
    m, rest = _take(_TIME_AT_HOUR, s)
    if m:
        return _hm(int(m.group(1)), 0), rest
    return None, s


def _year(raw: str | None) -> int | None:
    if raw is None:
        return None
    year = int(raw)
    return 2000 + year if year < 100 else year


def _date(year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _Invalid from None


def _dated(day: int, month: int, year: int | None, today: date) -> date:
    """A day and month; without a year, this year unless that day is gone, then next year."""
    if year is not None:
        return _date(year, month, day)
    if month == 2 and day == 29:  # a leap day: the next one that is not in the past
        for y in range(today.year, today.year + 8):
            try:
                d = date(y, 2, 29)
            except ValueError:
                continue
            if d >= today:
                return d
        raise _Invalid
    candidate = _date(today.year, month, day)
    return candidate if candidate >= today else _date(today.year + 1, month, day)


# A date part: either a fixed day, or a weekday to resolve once the time is known.
_Weekday = tuple[int, bool]  # (weekday, "next" was said)


def _take_date(s: str, today: date) -> tuple[date | _Weekday | None, str]:
    m, rest = _take(_DATE_ISO, s)
    if m:
        return _date(int(m.group(1)), int(m.group(2)), int(m.group(3))), rest
    m, rest = _take(_DATE_DMY, s)
    if m:
        return _dated(int(m.group(1)), int(m.group(2)), _year(m.group(3)), today), rest
    m, rest = _take(_DATE_D_MON, s)
    if m:
        return _dated(int(m.group(1)), _MONTHS[m.group(2)], _year(m.group(3)), today), rest
    m, rest = _take(_DATE_MON_D, s)
    if m:
        return _dated(int(m.group(2)), _MONTHS[m.group(1)], _year(m.group(3)), today), rest
    m, rest = _take(_DAY_WORD_RE, s)
    if m:
        return today + timedelta(days=_DAY_WORDS[m.group(1)]), rest
    m, rest = _take(_WEEKDAY_RE, s)
    if m:
        return (_WEEKDAYS[m.group(2)], m.group(1) is not None), rest
    return None, s


def _relative(s: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    if _HALF_HOUR.match(s):
        return now + timedelta(minutes=30)
    m = _RELATIVE.match(s)
    if m is None:
        return None
    raw = m.group(1)
    amount = int(raw) if raw and raw.isdigit() else 1
    unit = _UNITS[m.group(2)]
    if amount <= 0:
        raise _Invalid
    if unit in ("minutes", "hours"):
        return now + timedelta(**{unit: amount})
    # Days and weeks keep the local time of day (a DST change in between does not shift it).
    days = amount * (7 if unit == "weeks" else 1)
    local = now.astimezone(tz)
    return at_local(local.date() + timedelta(days=days), local.time(), tz)


def parse_when(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The moment a person typed, in their timezone `tz`, as an aware UTC datetime; None if the
    text is not a date/time this understands. `now` must be aware.

    A time alone is today, or tomorrow if it has passed; a date alone is at 10:00; a weekday is
    its nearest day still ahead ("next" skips today); a day and month without a year is this year,
    or next year if that day is already gone."""
    now = _utc(now).replace(microsecond=0)
    s = _normalize(text)
    if not s:
        return None
    try:
        rel = _relative(s, now, tz)
        if rel is not None:
            return rel.replace(second=0)
        today = local_today(now, tz)
        at, s = _take_time(s)
        when, s = _take_date(s, today)
        if at is None:
            at, s = _take_bare_hour(s)
    except _Invalid:
        return None
    if any(word not in _FILLERS for word in s.split()):
        return None  # something we did not understand: better ask than guess
    if at is None and when is None:
        return None
    if isinstance(when, tuple):
        weekday, skip_today = when
        at = at or DEFAULT_TIME
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
        if (skip_today and day == today) or at_local(day, at, tz) <= now:
            day += timedelta(days=7)
        return at_local(day, at, tz)
    if when is None:
        assert at is not None
        result = at_local(today, at, tz)
        return result if result > now else at_local(today + timedelta(days=1), at, tz)
    return at_local(when, at or DEFAULT_TIME, tz)


def parse_day(text: str, today: date) -> date | None:
    """A day alone ("28.11", "28.11.2026", "2026-11-28", "28 ноября", "завтра", "today", "пт"),
    by the same rules as parse_when's date part; None if the text is not only a day."""
    s = _normalize(text)
    if not s:
        return None
    try:
        when, rest = _take_date(s, today)
    except _Invalid:
        return None
    if when is None or any(word not in _FILLERS for word in rest.split()):
        return None
    if isinstance(when, tuple):
        weekday, skip_today = when
        days = (weekday - today.weekday()) % 7
        return today + timedelta(days=7 if skip_today and days == 0 else days)
    return when


def parse_time(text: str) -> time | None:
    """A time of day alone ("15:30", "9:00", "3pm", "в 9"), for a day already chosen."""
    s = _normalize(text)
    try:
        at, rest = _take_time(s)
        if at is None:
            at, rest = _take_bare_hour(rest)
    except _Invalid:
        return None
    if at is None or any(word not in _FILLERS for word in rest.split()):
        return None
    return at


# --- quick choices ---------------------------------------------------------------------------

QUICK_CHOICES = ("1h", "t18", "tm10", "mo10")


def quick_choice(key: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """ "1h": in one hour (whole minutes); "t18": today 18:00; "tm10": tomorrow 10:00; "mo10": next
    Monday 10:00 (the coming Monday after today). None for an unknown key."""
    now = _utc(now)
    today = local_today(now, tz)
    if key == "1h":
        return (now + timedelta(hours=1)).replace(second=0, microsecond=0)
    if key == "t18":
        return at_local(today, time(18, 0), tz)
    if key == "tm10":
        return at_local(today + timedelta(days=1), time(10, 0), tz)
    if key == "mo10":
        return at_local(today + timedelta(days=7 - today.weekday()), time(10, 0), tz)
    return None


def quick_choices(now: datetime, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """The quick choices still ahead of `now` (today 18:00 disappears once it has passed)."""
    now = _utc(now)
    result = []
    for key in QUICK_CHOICES:
        value = quick_choice(key, now, tz)
        if value is not None and value > now:
            result.append((key, value))
    return result


def tomorrow_at(now: datetime, tz: ZoneInfo, at: time = time(10, 0)) -> datetime:
    return at_local(local_today(now, tz) + timedelta(days=1), at, tz)
