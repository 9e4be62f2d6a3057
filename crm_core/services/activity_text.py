"""One typed message as an activity: "call tomorrow 10:00 discuss the estimate", "звонок завтра в 10
обсудить смету", "встреча в пятницу 15:30 у клиента", "task 28.11 send the contract".

The kind is a word at the start; the moment is read by crm_core.services.when (the one time parser)
from the longest run of words it accepts; what is left is the subject. Anything unclear (no kind, no
time, a moment in the past, two moments, a subject over the limit) is reported, never guessed.
Pure functions: no database, no clock.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from crm_core.models.activities import ActivityType
from crm_core.services.activities import SUBJECT_MAX
from crm_core.services.when import at_local, parse_time, parse_when

WINDOW = 6  # the longest run of words tried as a moment ("в следующую пятницу в 3 дня")

KIND_WORDS: dict[str, ActivityType] = {
    "call": ActivityType.CALL, "phone": ActivityType.CALL,
    "звонок": ActivityType.CALL, "позвонить": ActivityType.CALL, "созвон": ActivityType.CALL,
    "перезвонить": ActivityType.CALL,
    "meeting": ActivityType.MEETING, "meet": ActivityType.MEETING,
    "встреча": ActivityType.MEETING, "встретиться": ActivityType.MEETING,
    "task": ActivityType.TASK, "todo": ActivityType.TASK, "to-do": ActivityType.TASK,
    "задача": ActivityType.TASK,
    "email": ActivityType.EMAIL, "e-mail": ActivityType.EMAIL,
    "письмо": ActivityType.EMAIL, "емейл": ActivityType.EMAIL, "имейл": ActivityType.EMAIL,
}  # fmt: skip

# Words that join the moment and the subject and belong to neither ("at the office" keeps "at").
_FILLERS = {"at", "on", "в", "во", "к", "на", "by", "до"}
_KIND_RE = re.compile(r"^\s*([\w-]+)\s*[:,.\-—–]?(?:\s+|$)", re.UNICODE)


class Unclear(enum.StrEnum):
    NO_KIND = "no_kind"  # a moment but no kind word
    NO_TIME = "no_time"  # a kind word but no moment
    PAST = "past"  # the moment has passed
    TWO_TIMES = "two_times"  # two moments: which one?
    TOO_LONG = "too_long"  # the subject is over SUBJECT_MAX


@dataclass(frozen=True, slots=True)
class ParsedActivity:
    kind: ActivityType | None
    deadline: datetime | None  # aware UTC
    subject: str
    unclear: Unclear | None = None
    choices: tuple[datetime, ...] = ()  # TWO_TIMES: the moments named, in the text's order

    @property
    def complete(self) -> bool:
        return self.unclear is None


def kind_at_start(text: str) -> ActivityType | None:
    """The activity kind named by the first word ("Call", "звонок:"), or None."""
    m = _KIND_RE.match((text or "").lower().replace("ё", "е"))
    return KIND_WORDS.get(m.group(1)) if m else None


def _strip_kind(text: str) -> str:
    m = _KIND_RE.match(text)
    return text[m.end() :] if m else text


def _moments(words: list[str], now: datetime, tz: ZoneInfo) -> list[tuple[int, int, datetime]]:
    """Runs of words that when.parse_when reads as a moment, left to right, longest first."""
    found: list[tuple[int, int, datetime]] = []
    i = 0
    while i < len(words):
        hit = None
        for j in range(min(len(words), i + WINDOW), i, -1):
            if words[j - 1].lower() in _FILLERS:
                continue  # a trailing "at"/"в" belongs to the subject ("at the office")
            value = parse_when(" ".join(words[i:j]), now, tz)
            if value is not None:
                hit = (i, j, value)
                break
        if hit is None:
            i += 1
            continue
        at = parse_time(" ".join(words[hit[0] : hit[1]])) if found else None
        if at is not None:
            # "tomorrow 11:00 or 12:00": a bare time after a moment is on that moment's day
            day = found[-1][2].astimezone(tz).date()
            hit = (hit[0], hit[1], at_local(day, at, tz))
        found.append(hit)
        i = hit[1]
    return found


def parse_activity_text(text: str, now: datetime, tz: ZoneInfo) -> ParsedActivity | None:
    """Kind, moment (aware UTC, read in the user's timezone `tz`) and subject of a typed activity.
    None when the text has neither a kind word at its start nor a moment: it is not about an
    activity. `now` must be aware."""
    text = (text or "").strip()
    kind = kind_at_start(text)
    rest = _strip_kind(text).strip() if kind else text
    words = rest.split()
    moments = _moments(words, now, tz)
    if kind is None and not moments:
        return None
    taken = {k for start, end, _ in moments for k in range(start, end)}
    subject_words = [word for k, word in enumerate(words) if k not in taken]
    deadline = moments[0][2] if moments else None
    subject = " ".join(subject_words).strip(" ,.;:-—–")
    unclear: Unclear | None = None
    if len(subject) > SUBJECT_MAX:
        unclear = Unclear.TOO_LONG
    elif len(moments) > 1:
        unclear = Unclear.TWO_TIMES
        return ParsedActivity(kind, None, subject, unclear, tuple(m[2] for m in moments))
    elif kind is None:
        unclear = Unclear.NO_KIND
    elif deadline is None:
        unclear = Unclear.NO_TIME
    elif deadline <= now:
        unclear = Unclear.PAST
    return ParsedActivity(kind=kind, deadline=deadline, subject=subject, unclear=unclear)


__all__ = [
    "KIND_WORDS",
    "SUBJECT_MAX",
    "ParsedActivity",
    "Unclear",
    "kind_at_start",
    "parse_activity_text",
]
