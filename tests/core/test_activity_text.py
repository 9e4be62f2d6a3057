"""One typed message as an activity (crm_core.services.activity_text): kind, moment in the user's
timezone, subject; what is unclear is reported instead of guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_core.models.activities import ActivityType
from crm_core.services.activity_text import SUBJECT_MAX, Unclear, kind_at_start, parse_activity_text

VLAD = ZoneInfo("Asia/Vladivostok")  # UTC+10, no DST
MOSCOW = ZoneInfo("Europe/Moscow")
# Wednesday 25 November 2026, 12:00 in Vladivostok.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=VLAD).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "kind", "local", "subject"),
    [
        (
            "call tomorrow 10:00 discuss the estimate",
            "call",
            datetime(2026, 11, 26, 10),
            "discuss the estimate",
        ),  # noqa: E501
        ("Call tomorrow at 10:00 discuss it", "call", datetime(2026, 11, 26, 10), "discuss it"),
        ("звонок завтра в 10 обсудить смету", "call", datetime(2026, 11, 26, 10), "обсудить смету"),
        ("Звонок: завтра в 10:30, обсудить смету", "call", datetime(2026, 11, 26, 10, 30), "обсудить смету"),
        ("встреча в пятницу 15:30 у клиента", "meeting", datetime(2026, 11, 27, 15, 30), "у клиента"),
        ("task 28.11 send the contract", "task", datetime(2026, 11, 28, 10), "send the contract"),
        ("email tomorrow send offer", "email", datetime(2026, 11, 26, 10), "send offer"),
        ("письмо послезавтра 9:00", "email", datetime(2026, 11, 27, 9), ""),
        ("meeting tomorrow 15:00 at the office", "meeting", datetime(2026, 11, 26, 15), "at the office"),
        ("call Ivan tomorrow 16:00", "call", datetime(2026, 11, 26, 16), "Ivan"),
        ("позвонить через 2 часа уточнить адрес", "call", datetime(2026, 11, 25, 14), "уточнить адрес"),
        ("задача 1 декабря подготовить КП", "task", datetime(2026, 12, 1, 10), "подготовить КП"),
    ],
)
def test_reads_kind_moment_and_subject(text: str, kind: str, local: datetime, subject: str) -> None:
    parsed = parse_activity_text(text, NOW, VLAD)
    assert parsed is not None and parsed.complete, parsed
    assert parsed.kind == ActivityType(kind)
    assert parsed.deadline is not None and parsed.deadline.utcoffset() == timedelta(0)
    assert parsed.deadline.astimezone(VLAD).replace(tzinfo=None) == local
    assert parsed.subject == subject


def test_the_moment_is_read_in_the_users_timezone() -> None:
    vlad = parse_activity_text("call tomorrow 10:00", NOW, VLAD)
    moscow = parse_activity_text("call tomorrow 10:00", NOW, MOSCOW)
    assert vlad is not None and moscow is not None
    assert vlad.deadline == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 10:00 at UTC+10
    assert moscow.deadline == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)  # 10:00 at UTC+3


@pytest.mark.parametrize(
    ("text", "unclear"),
    [
        ("call Ivan about the estimate", Unclear.NO_TIME),
        ("звонок", Unclear.NO_TIME),
        ("tomorrow 10:00 discuss the estimate", Unclear.NO_KIND),
        ("завтра в 10 обсудить смету", Unclear.NO_KIND),
        ("call today 9:00 discuss", Unclear.PAST),  # 12:00 now
        ("call 24.11.2026 15:00", Unclear.PAST),
        ("call tomorrow 10:00 or 11:00", Unclear.TWO_TIMES),
        ("встреча завтра 10:00 или в пятницу 12:00", Unclear.TWO_TIMES),
    ],
)
def test_what_is_unclear_is_reported(text: str, unclear: Unclear) -> None:
    parsed = parse_activity_text(text, NOW, VLAD)
    assert parsed is not None
    assert parsed.unclear == unclear
    assert not parsed.complete


def test_two_times_are_offered_as_choices() -> None:
    parsed = parse_activity_text("call tomorrow 10:00 or friday 12:00 about the estimate", NOW, VLAD)
    assert parsed is not None and parsed.unclear == Unclear.TWO_TIMES and parsed.deadline is None
    assert [c.astimezone(VLAD).replace(tzinfo=None) for c in parsed.choices] == [
        datetime(2026, 11, 26, 10),
        datetime(2026, 11, 27, 12),
    ]
    assert parsed.subject == "or about the estimate"


def test_a_kind_without_a_time_keeps_kind_and_subject_for_the_question() -> None:
    parsed = parse_activity_text("meeting sign the contract", NOW, VLAD)
    assert parsed is not None
    assert parsed.kind == ActivityType.MEETING and parsed.deadline is None
    assert parsed.subject == "sign the contract"


def test_a_time_without_a_kind_keeps_the_moment_for_the_question() -> None:
    parsed = parse_activity_text("tomorrow 10:00 discuss the estimate", NOW, VLAD)
    assert parsed is not None and parsed.kind is None
    assert parsed.deadline == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert parsed.subject == "discuss the estimate"


def test_a_subject_over_the_limit_is_refused_not_cut() -> None:
    parsed = parse_activity_text("call tomorrow 10:00 " + "x" * (SUBJECT_MAX + 1), NOW, VLAD)
    assert parsed is not None and parsed.unclear == Unclear.TOO_LONG
    assert len(parsed.subject) == SUBJECT_MAX + 1
    ok = parse_activity_text("call tomorrow 10:00 " + "x" * SUBJECT_MAX, NOW, VLAD)
    assert ok is not None and ok.complete


@pytest.mark.parametrize(
    "text",
    ["Window order for Ivanov", "Иванов, окна, +7 999 123-45-67", "callback from the site", "L-12", ""],
)
def test_other_texts_are_not_activities(text: str) -> None:
    assert kind_at_start(text) is None
    assert parse_activity_text(text, NOW, VLAD) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [("Call", "call"), ("ЗВОНОК: завтра", "call"), ("e-mail tomorrow", "email"), ("Встреча", "meeting")],
)
def test_kind_words(text: str, kind: str) -> None:
    assert kind_at_start(text) == ActivityType(kind)


@pytest.mark.parametrize("now_hour", [9, 11, 18])  # the bare second time before and after its hour
def test_a_bare_second_time_is_on_the_first_moments_day(now_hour: int) -> None:
    now = datetime(2026, 11, 25, now_hour, 0, tzinfo=VLAD).astimezone(UTC)
    for text in ("meeting tomorrow 11:00 or 12:00", "встреча завтра в 11 или в 12"):
        parsed = parse_activity_text(text, now, VLAD)
        assert parsed is not None and parsed.unclear == Unclear.TWO_TIMES
        assert [c.astimezone(VLAD).replace(tzinfo=None) for c in parsed.choices] == [
            datetime(2026, 11, 26, 11),
            datetime(2026, 11, 26, 12),
        ]
