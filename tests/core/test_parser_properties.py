"""Property-based tests of every typed-input parser (issue 15): any text a person may send (up to
Telegram's 4,096 characters) gives a value within the parser's limits or a clear refusal
(ValidationFailed / None), never another exception; ids at the edges name nothing or are refused.

Fast: these run at unit level; the e2e properties (tests/e2e/test_hostile_properties.py) send a
bounded number of such texts through the real bot."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core.errors import DomainError, InvalidRef, ValidationFailed
from crm_core.fields import schema
from crm_core.fields.context import FieldContext
from crm_core.fields.kinds import (
    MAX_AMOUNT_DIGITS,
    MAX_ID,
    Kind,
    clean_amount,
    clean_id,
    in_id_range,
    parse_currency,
    parse_money,
    parse_text,
)
from crm_core.models.items import ItemType
from crm_core.refs import parse_ref
from crm_core.services import when
from crm_core.services.activities import SUBJECT_MAX
from crm_core.services.activity_text import parse_activity_text
from crm_core.services.extract import TITLE_LIMIT, extract_lead
from crm_core.services.names import parse_person_name
from tests.reliability.report import REPORT

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
ZONES = ("UTC", "Europe/Moscow", "America/Argentina/Buenos_Aires", "Pacific/Kiritimati", "Pacific/Niue")

# What people type into date, money and number fields, shuffled: digits (also non-ASCII ones),
# separators, currency signs and words, month and weekday names, relative words.
TYPED_BITS = [
    "0", "1", "12", "31", "99", "2026", "9999", "10000", "1 500,50", "1,500.50", "١٢", "１２", "٣",
    ".", ",", ":", "-", "/", " ", "\u00a0", "+", "₽", "$", "€", "USD", "руб", "k", "тыс", "млн",
    "завтра", "сегодня", "today", "tomorrow", "пт", "fri", "ноября", "november", "через", "in",
    "hours", "часа", "минут", "am", "pm", "утра", "вечера", "в", "at", "L-", "D", "co", "#", "№",
    "\n", "\0", "🙂", "<b>", "&amp;", "'",
]  # fmt: skip
typed = st.lists(st.sampled_from(TYPED_BITS), max_size=8).map("".join)
# Any text Telegram delivers (it never carries surrogates); short ones are tried more often.
anything = st.one_of(
    typed,
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=3000, max_size=4096),
)
contexts = st.builds(
    FieldContext.of,
    st.sampled_from(("en", "ru")),
    st.sampled_from(ZONES),
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
)
ALL_FIELDS = [(t, f) for t in ItemType for f in schema.fields(t)]
# ids at the edges, as text: zero, negative, past INTEGER, past BIGINT, huge, non-ASCII digits
EDGE_IDS = ["0", "-1", "-0", str(2**31), str(2**31 - 1), str(2**63), str(2**63 - 1), "9" * 40, "١٢", "１２"]


def _tried(kind: str) -> None:
    REPORT.inputs[kind] += 1


@pytest.mark.parametrize(("item_type", "field"), ALL_FIELDS, ids=lambda v: getattr(v, "name", str(v)))
@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(anything, st.sampled_from(EDGE_IDS)), ctx=contexts)
def test_every_field_parses_or_refuses(item_type: ItemType, field: schema.Field, text: str, ctx) -> None:
    _tried("field text")
    try:
        value = field.parse(text, ctx)
    except ValidationFailed:
        return
    values = value if field.many else [value]
    for one in values:
        if field.kind in (Kind.NUMBER, Kind.REFERENCE, Kind.USER):
            # a typed id the database cannot hold is refused here, not found to crash later
            assert in_id_range(one), (text, one)
        elif field.kind == Kind.TEXT:
            assert isinstance(one, str) and 0 < len(one) <= field.limit
        elif field.kind == Kind.MONEY:
            assert len(str(int(one.amount))) <= MAX_AMOUNT_DIGITS
            assert clean_amount(one.amount) == one.amount
        elif field.kind == Kind.DATETIME:
            assert one.tzinfo is not None and one.utcoffset().total_seconds() == 0
        elif field.kind == Kind.DATE:
            assert isinstance(one, date) and date(1, 1, 1) <= one
        elif field.kind == Kind.CURRENCY:
            assert len(one) == 3 and one.isascii() and one.isupper()


@given(text=anything)
def test_money_and_currency(text: str) -> None:
    _tried("money text")
    try:
        money = parse_money(text)
    except ValidationFailed:
        pass
    else:
        assert money.amount >= 0 and money.amount == money.amount.quantize(Decimal("0.01"))
        assert money.currency is None or len(money.currency) == 3
    try:
        parse_currency(text)
    except ValidationFailed:
        pass


@given(text=anything, now=st.datetimes(timezones=st.just(UTC)), zone=st.sampled_from(ZONES))
def test_when_parsers(text: str, now: datetime, zone: str) -> None:
    _tried("date/time text")
    tz = ZoneInfo(zone)
    moment = when.parse_when(text, now, tz)
    assert moment is None or (moment.tzinfo is not None and moment.utcoffset().total_seconds() == 0)
    day = when.parse_day(text, now.date())
    assert day is None or isinstance(day, date)
    at = when.parse_time(text)
    assert at is None or isinstance(at, time)


@given(text=anything, zone=st.sampled_from(ZONES))
def test_activity_text(text: str, zone: str) -> None:
    _tried("activity text")
    parsed = parse_activity_text(text, NOW, ZoneInfo(zone))
    if parsed is None:
        return
    if parsed.complete:
        assert parsed.kind is not None and parsed.deadline is not None and parsed.deadline > NOW
        assert len(parsed.subject) <= SUBJECT_MAX


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(text=anything)
def test_extract_lead(text: str) -> None:
    _tried("lead text")
    found = extract_lead(text)
    assert len(found.title) <= TITLE_LIMIT
    assert len(found.fallback_title) <= TITLE_LIMIT
    assert all("@" in e and e == e.lower() for e in found.emails)
    assert all(p.startswith("+") for p in found.phones_normalized)


@given(text=st.one_of(anything, st.sampled_from(["L-", "D ", "co#", "c"]).flatmap(
    lambda p: st.sampled_from(EDGE_IDS).map(lambda i: p + i))))  # fmt: skip
def test_refs(text: str) -> None:
    _tried("typed ref")
    try:
        item_type, item_id = parse_ref(text)
    except InvalidRef:
        return
    assert isinstance(item_type, ItemType) and item_id > 0  # a huge one is simply not found


@given(text=anything)
def test_person_names(text: str) -> None:
    _tried("person name")
    try:
        parse_person_name(text)
    except DomainError:
        pass


@pytest.mark.parametrize("raw", [*EDGE_IDS, 0, -1, 2**31, 2**63, True, None, "", "1e3", "0x10", " 5 "])
def test_ids_from_programs_at_the_edges(raw: object) -> None:
    try:
        value = clean_id(raw)
    except ValidationFailed:
        return
    assert 0 < value <= MAX_ID


# Found by the properties above (each failed before its fix):


def test_an_amount_past_decimals_precision_is_refused_not_a_crash() -> None:
    # parse_money quantized first: decimal.InvalidOperation escaped instead of "invalid amount"
    with pytest.raises(ValidationFailed):
        parse_money("100000000000000000000000000")


@pytest.mark.parametrize("typed", ["0", "-5", str(2**31), "999999999999999999"])
def test_a_typed_id_no_row_can_have_is_refused(typed: str) -> None:
    # a typed stage, user or id past INTEGER reached the query (asyncpg refuses to bind it)
    for name in ("stage_id", "responsible_id", "id"):
        with pytest.raises(ValidationFailed):
            schema.get_field(ItemType.DEAL, name).parse(typed, FieldContext())


def test_nul_is_dropped_from_typed_text() -> None:
    # PostgreSQL refused a comment typed with a NUL in it (the e2e properties found it)
    assert schema.get_field(ItemType.LEAD, "comment").parse("a\x00b", FieldContext()) == "ab"
    assert schema.get_field(ItemType.LEAD, "comment").clean("a\x00b") == "ab"


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    # no UTF-8 holds one: asyncpg failed to encode a title given so (a program's JSON can carry it)
    title = schema.get_field(ItemType.LEAD, "title")
    assert title.clean("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert title.parse("\udc00x\x00", FieldContext()) == "\ufffdx"
    assert parse_text("😀 \ud83d") == "😀 \ufffd"  # a character beyond the BMP is no surrogate here


async def test_a_forged_page_offset_past_bigint_reads_a_bounded_page(session) -> None:  # noqa: ANN001
    # the agenda's page offset comes from a button: PostgreSQL refused to bind 10**40
    from crm_core.services.counters import activities_view
    from tests.core.factories import make_user

    user = await make_user(session)
    await activities_view(session, user, NOW, limit_per_group=10**40 + 10)


@pytest.mark.parametrize("offset", [2**63, 10**40, 2**63 - 1])
async def test_a_forged_offset_past_every_row_reads_an_empty_page(session, offset: int) -> None:  # noqa: ANN001
    # the kanban column's offset and the people picker's page come from buttons: SQLite and
    # asyncpg refused to bind a number past BIGINT
    from crm_core.fields.kinds import fit_offset
    from crm_core.services import pipelines, views
    from crm_core.services.cards_queries import assignable_users
    from tests.core.factories import make_lead, make_user

    assert fit_offset(offset) == min(offset, 2**63 - 1)
    assert (fit_offset(-3), fit_offset(None), fit_offset(7)) == (0, 0, 7)
    user = await make_user(session)
    lead = await make_lead(session, user)
    stage = await pipelines.first_stage(session, lead.pipeline_id)
    page = await views.stage_items(session, user, stage.id, limit=5, offset=offset, with_total=True)
    assert (page.items, page.total, page.next_cursor) == ([], 1, None)
    assert await assignable_users(session, user, limit=5, offset=offset) == ([], 1)
    first = await views.stage_items(session, user, stage.id, limit=5, offset=0)
    assert [i.id for i in first.items] == [lead.id]
