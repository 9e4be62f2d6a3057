"""One month calendar for every screen that shows one (the activities calendar, the date
picker): a weekday header and a row of buttons per week, month and weekday names from Babel.
The screen decides what each day's button says and does."""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date

from aiogram.types import InlineKeyboardButton

from crm_core.formatting import month_name, weekday_name

Button = InlineKeyboardButton
Row = list[InlineKeyboardButton]


def month_title(year: int, month: int, language: str) -> str:
    """ "March 2026", "Март 2026"."""
    return f"{month_name(month, language)} {year}"


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def month_rows(
    year: int,
    month: int,
    language: str,
    *,
    day_button: Callable[[date], Button],
    blank: Callable[[str], Button],
) -> list[Row]:
    """The weekday header (Monday first) and the weeks of the month; days of the neighbouring
    months are blanks ("·": Telegram refuses empty labels)."""
    rows = [[blank(weekday_name(i, language)) for i in range(7)]]
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        rows.append([day_button(day) if day.month == month else blank("·") for day in week])
    return rows
