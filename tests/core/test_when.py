"""Typed dates and times in the user's timezone (crm_core.services.when)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_core.services.when import at_local, parse_time, parse_when, quick_choice, quick_choices

VLAD = ZoneInfo("Asia/Vladivostok")  # UTC+10, no DST
NY = ZoneInfo("America/New_York")
# Wednesday 25 November 2026, 12:00 in Vladivostok.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=VLAD).astimezone(UTC)


def local(text: str, now: datetime = NOW, tz: ZoneInfo = VLAD) -> datetime | None:
    value = parse_when(text, now, tz)
    if value is None:
        return None
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0)
    return value.astimezone(tz).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow 15:30", datetime(2026, 11, 26, 15, 30)),
        ("Tomorrow at 15:30", datetime(2026, 11, 26, 15, 30)),
        ("завтра 15:30", datetime(2026, 11, 26, 15, 30)),
        ("Завтра в 15:30", datetime(2026, 11, 26, 15, 30)),
        ("15:30 завтра", datetime(2026, 11, 26, 15, 30)),
        ("today 18:00", datetime(2026, 11, 25, 18, 0)),
        ("сегодня 18:00", datetime(2026, 11, 25, 18, 0)),
        ("послезавтра 9:00", datetime(2026, 11, 27, 9, 0)),
        ("day after tomorrow 9:05", datetime(2026, 11, 27, 9, 5)),
        ("28.11 15:30", datetime(2026, 11, 28, 15, 30)),
        ("28.11.2026 9:00", datetime(2026, 11, 28, 9, 0)),
        ("28.11.26 9:00", datetime(2026, 11, 28, 9, 0)),
        ("28/11 9:00", datetime(2026, 11, 28, 9, 0)),
        ("2026-12-01 08:15", datetime(2026, 12, 1, 8, 15)),
        ("1.12", datetime(2026, 12, 1, 10, 0)),  # a date alone: 10:00
        ("tomorrow", datetime(2026, 11, 26, 10, 0)),
        ("28 ноября 14:00", datetime(2026, 11, 28, 14, 0)),
        ("28 ноября в 14", datetime(2026, 11, 28, 14, 0)),
        ("10 мая", datetime(2027, 5, 10, 10, 0)),  # gone this year: next year
        ("в 10 мая", datetime(2027, 5, 10, 10, 0)),
        ("Nov 30 4pm", datetime(2026, 11, 30, 16, 0)),
        ("dec 1, 2026 9:30 am", datetime(2026, 12, 1, 9, 30)),
        ("25.11 15:00", datetime(2026, 11, 25, 15, 0)),  # today, later on
        ("20.11 15:00", datetime(2027, 11, 20, 15, 0)),  # that day is gone: next year
        ("15:30", datetime(2026, 11, 25, 15, 30)),  # still ahead today
        ("9:00", datetime(2026, 11, 26, 9, 0)),  # passed: tomorrow
        ("12:00", datetime(2026, 11, 26, 12, 0)),  # exactly now counts as passed
        ("3pm", datetime(2026, 11, 25, 15, 0)),
        ("в 9 вечера", datetime(2026, 11, 25, 21, 0)),
        ("в 9 утра", datetime(2026, 11, 26, 9, 0)),
        ("завтра в 9", datetime(2026, 11, 26, 9, 0)),
        ("tomorrow at 9", datetime(2026, 11, 26, 9, 0)),
        ("tomorrow noon", datetime(2026, 11, 26, 12, 0)),
        ("mon 10:00", datetime(2026, 11, 30, 10, 0)),
        ("пн 10:00", datetime(2026, 11, 30, 10, 0)),
        ("в понедельник 10:00", datetime(2026, 11, 30, 10, 0)),
        ("friday 17:00", datetime(2026, 11, 27, 17, 0)),
        ("в пятницу в 17:00", datetime(2026, 11, 27, 17, 0)),
        ("wed 15:00", datetime(2026, 11, 25, 15, 0)),  # today, still ahead
        ("wed 11:00", datetime(2026, 12, 2, 11, 0)),  # today but passed: next week
        ("ср 15:00", datetime(2026, 11, 25, 15, 0)),
        ("next wed 15:00", datetime(2026, 12, 2, 15, 0)),  # "next" skips today
        ("следующую среду 15:00", datetime(2026, 12, 2, 15, 0)),
        ("sat", datetime(2026, 11, 28, 10, 0)),
        ("in 2 hours", datetime(2026, 11, 25, 14, 0)),
        ("in 2h", datetime(2026, 11, 25, 14, 0)),
        ("через 2 часа", datetime(2026, 11, 25, 14, 0)),
        ("через час", datetime(2026, 11, 25, 13, 0)),
        ("in an hour", datetime(2026, 11, 25, 13, 0)),
        ("in 45 minutes", datetime(2026, 11, 25, 12, 45)),
        ("через 30 минут", datetime(2026, 11, 25, 12, 30)),
        ("через полчаса", datetime(2026, 11, 25, 12, 30)),
        ("in 3 days", datetime(2026, 11, 28, 12, 0)),
        ("через 2 дня", datetime(2026, 11, 27, 12, 0)),
        ("через неделю", datetime(2026, 12, 2, 12, 0)),
        ("+90 min", datetime(2026, 11, 25, 13, 30)),
        ("  Завтра   15:30. ", datetime(2026, 11, 26, 15, 30)),
        ("ЗАВТРА 15:30", datetime(2026, 11, 26, 15, 30)),
    ],
)
def test_typed_moments_in_the_users_timezone(text: str, expected: datetime) -> None:
    assert local(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "call him tomorrow",  # words we do not understand: ask rather than guess
        "tomorrow 25:00",
        "tomorrow 15:61",
        "31.02 10:00",
        "31.11",
        "29.02.2027",
        "13pm",
        "in 0 hours",
        "in two hours",
        "через много часов",
        "L-12",
        "12345",
        "28.11 15:30 16:00 extra",
    ],
)
def test_not_a_moment(text: str) -> None:
    assert parse_when(text, NOW, VLAD) is None


def test_result_is_utc_and_matches_the_local_wall_clock() -> None:
    value = parse_when("завтра 15:30", NOW, VLAD)
    assert value == datetime(2026, 11, 26, 5, 30, tzinfo=UTC)  # 15:30 at UTC+10
    moscow = ZoneInfo("Europe/Moscow")
    assert parse_when("завтра 15:30", NOW, moscow) == datetime(2026, 11, 26, 12, 30, tzinfo=UTC)


def test_today_is_the_users_day_not_utcs() -> None:
    # 23:30 UTC on the 25th is already the 26th in Vladivostok: "tomorrow" is the 27th there.
    late = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert local("tomorrow 10:00", late) == datetime(2026, 11, 27, 10, 0)
    # ...and still the 25th in New York: tomorrow is the 26th.
    assert local("tomorrow 10:00", late, NY) == datetime(2026, 11, 26, 10, 0)


def test_past_explicit_dates_are_returned_for_the_caller_to_refuse() -> None:
    value = parse_when("20.11.2026 10:00", NOW, VLAD)
    assert value is not None and value < NOW
    value = parse_when("today 9:00", NOW, VLAD)
    assert value is not None and value < NOW


def test_leap_day_without_a_year_is_the_next_leap_day() -> None:
    assert local("29.02 10:00") == datetime(2028, 2, 29, 10, 0)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_when("tomorrow", datetime(2026, 1, 1), VLAD)


# --- DST ------------------------------------------------------------------------------------


def test_tomorrow_keeps_the_wall_clock_across_spring_forward() -> None:
    # Saturday 7 March 2026 in New York (EST, UTC-5); DST starts Sunday 8 March at 02:00.
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NY)
    value = parse_when("tomorrow 10:00", now, NY)
    assert value == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # 10:00 EDT = UTC-4
    assert value.astimezone(NY).hour == 10
    # A day later in "in 1 day" terms is also 12:00 local, i.e. 23 real hours later.
    in_a_day = parse_when("in 1 day", now, NY)
    assert in_a_day is not None and in_a_day.astimezone(NY).hour == 12
    assert in_a_day - now.astimezone(UTC) == timedelta(hours=23)


def test_a_time_in_the_spring_gap_lands_after_it() -> None:
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NY)
    value = parse_when("tomorrow 2:30", now, NY)
    assert value is not None
    assert value.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 3, 30)


def test_an_ambiguous_autumn_time_is_its_first_occurrence() -> None:
    # DST ends Sunday 1 November 2026 at 02:00 in New York: 01:30 happens twice.
    now = datetime(2026, 10, 31, 12, 0, tzinfo=NY)
    value = parse_when("tomorrow 1:30", now, NY)
    assert value == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT (UTC-4)


def test_in_hours_is_real_time_across_a_dst_change() -> None:
    now = datetime(2026, 3, 8, 1, 30, tzinfo=NY)  # 30 minutes before the jump
    value = parse_when("in 1 hour", now, NY)
    assert value == now.astimezone(UTC) + timedelta(hours=1)
    assert value.astimezone(NY).hour == 3  # the wall clock jumped


# --- time alone and quick choices -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15:30", time(15, 30)), ("9:00", time(9)), ("в 9", time(9)), ("3pm", time(15)), ("7 вечера", time(19))],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["25:00", "tomorrow 9:00", "hello", ""])
def test_parse_time_rejects(text: str) -> None:
    assert parse_time(text) is None


def test_quick_choices_in_the_users_timezone() -> None:
    choices = dict(quick_choices(NOW, VLAD))
    assert list(choices) == ["1h", "t18", "tm10", "mo10"]
    assert choices["1h"] == NOW + timedelta(hours=1)
    assert choices["t18"] == at_local(NOW.astimezone(VLAD).date(), time(18), VLAD)
    assert choices["tm10"].astimezone(VLAD).replace(tzinfo=None) == datetime(2026, 11, 26, 10, 0)
    assert choices["mo10"].astimezone(VLAD).replace(tzinfo=None) == datetime(2026, 11, 30, 10, 0)


def test_today_1800_disappears_once_past() -> None:
    evening = datetime(2026, 11, 25, 18, 0, tzinfo=VLAD)
    assert "t18" not in dict(quick_choices(evening, VLAD))
    assert "t18" in dict(quick_choices(evening - timedelta(minutes=1), VLAD))


def test_next_monday_on_a_monday_is_a_week_later() -> None:
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=VLAD)
    value = quick_choice("mo10", monday, VLAD)
    assert value is not None
    assert value.astimezone(VLAD).replace(tzinfo=None) == datetime(2026, 12, 7, 10, 0)


def test_in_one_hour_drops_seconds() -> None:
    now = datetime(2026, 11, 25, 2, 0, 42, 123, tzinfo=UTC)
    assert quick_choice("1h", now, VLAD) == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert quick_choice("nope", now, VLAD) is None
