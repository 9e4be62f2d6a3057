"""The field schema: one parser and one formatter per kind, in Russian and English."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_core.errors import ValidationFailed
from crm_core.fields import FieldContext, Kind, Money, card_fields, get_field, phones, requirable_fields
from crm_core.fields.kinds import parse_currency, parse_date, parse_datetime, parse_money, parse_phone
from crm_core.models.items import ITEM_MODELS, ItemType
from crm_core.services import communications
from crm_core.services import views as views_service

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Friday
RU = FieldContext("ru", MOSCOW, NOW, "RU")
EN = FieldContext("en", MOSCOW, NOW, "RU")


@pytest.mark.parametrize(
    ("typed", "amount", "currency"),
    [
        ("1 500,50", "1500.50", None),
        ("1,500.50", "1500.50", None),
        ("1.500,50", "1500.50", None),
        ("150 000", "150000", None),
        ("1,500", "1500", None),  # three digits after one separator group thousands
        ("1500,5", "1500.50", None),
        ("5000 USD", "5000", "USD"),
        ("5000usd", "5000", "USD"),
        ("5 000 ₽", "5000", "RUB"),
        ("€ 99.90", "99.90", "EUR"),
        ("250 руб.", "250", "RUB"),
        ("150 тыс.", "150000", None),
        ("1,5 млн", "1500000", None),
        ("20k USD", "20000", "USD"),
    ],
)
def test_money_is_read_as_people_write_it(typed: str, amount: str, currency: str | None) -> None:
    assert parse_money(typed, RU) == Money(Decimal(amount), currency)


@pytest.mark.parametrize(
    "typed", ["", "abc", "1,50,5", "12.345.67", "-5", "1.5.0,1", "10 тыс. руб. 5", "1234567890123456"]
)
def test_money_that_is_not_money_is_refused(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="invalid amount"):
        parse_money(typed, RU)


def test_money_is_formatted_in_the_users_language() -> None:
    amount = get_field(ItemType.DEAL, "amount")
    assert amount.format(Decimal("1500.50"), RU, currency="RUB") == "1\xa0500,50\xa0₽"
    assert amount.format(Decimal("1500.50"), EN, currency="USD") == "$1,500.50"
    assert amount.format(None, RU) == ""


def test_currency() -> None:
    assert parse_currency("usd") == "USD"
    assert parse_currency("₽") == "RUB"
    with pytest.raises(ValidationFailed, match="invalid currency"):
        parse_currency("dollars")


@pytest.mark.parametrize(
    ("typed", "day"),
    [
        ("28.11", date(2026, 11, 28)),
        ("28.11.2026", date(2026, 11, 28)),
        ("2026-11-28", date(2026, 11, 28)),
        ("28/11/26", date(2026, 11, 28)),
        ("01.02", date(2027, 2, 1)),  # a day already gone this year is next year's
        ("завтра", date(2026, 11, 21)),
        ("tomorrow", date(2026, 11, 21)),
        ("сегодня", date(2026, 11, 20)),
        ("today", date(2026, 11, 20)),
        ("28 ноября", date(2026, 11, 28)),
        ("пн", date(2026, 11, 23)),
    ],
)
def test_dates(typed: str, day: date) -> None:
    assert parse_date(typed, RU) == day


@pytest.mark.parametrize("typed", ["31.02.2026", "завтра 10:00", "soon", "28.11 lunch"])
def test_not_a_day(typed: str) -> None:
    with pytest.raises(ValidationFailed, match="invalid date"):
        parse_date(typed, RU)


def test_today_is_the_users_day() -> None:
    late = FieldContext("ru", ZoneInfo("Asia/Vladivostok"), datetime(2026, 11, 20, 15, 0, tzinfo=UTC))
    assert parse_date("сегодня", late) == date(2026, 11, 21)


def test_datetime_delegates_to_the_when_parser() -> None:
    assert parse_datetime("завтра 10:00", RU) == datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
    assert parse_datetime("28.11 15:30", EN) == datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    with pytest.raises(ValidationFailed, match="invalid date"):
        parse_datetime("whenever", RU)


def test_dates_are_formatted_in_the_users_language() -> None:
    close = get_field(ItemType.DEAL, "close_date")
    assert close.format(date(2026, 11, 28), RU) == "28.11.2026"
    assert close.format(date(2026, 11, 28), EN) == "11/28/2026"
    created = get_field(ItemType.DEAL, "created_at")
    assert created.format(datetime(2026, 11, 28, 7, 0, tzinfo=UTC), RU) == "28.11.2026 10:00"


def test_phone_follows_the_region() -> None:
    assert parse_phone("8 999 123-45-67", RU) == "+79991234567"
    assert parse_phone("030 1234567", FieldContext("de", MOSCOW, NOW, "DE")) == "+49301234567"
    assert parse_phone("+7 999 123-45-67", FieldContext("de", MOSCOW, NOW, "DE")) == "+79991234567"
    with pytest.raises(ValidationFailed, match="invalid phone"):
        parse_phone("12", RU)


def test_the_configured_region_is_the_default_of_every_phone_parse() -> None:
    assert phones.default_region() == "RU"
    try:
        phones.set_default_region("de")
        assert FieldContext("de", MOSCOW, NOW).phone_region == "DE"
        assert parse_phone("030 1234567", FieldContext("de", MOSCOW, NOW)) == "+49301234567"
        assert communications.normalize_phone("030 1234567") == "+49301234567"
    finally:
        phones.set_default_region("RU")
    assert communications.normalize_phone("8 999 123-45-67") == "+79991234567"
    with pytest.raises(ValueError):
        phones.set_default_region("XX")


def test_several_phones_and_emails() -> None:
    phone = get_field(ItemType.CONTACT, "phone")
    assert phone.parse("+7 999 000-11-22, 8 999 000-11-33", RU) == ["+79990001122", "+79990001133"]
    email = get_field(ItemType.CONTACT, "email")
    assert email.parse("Ann@Example.com", RU) == ["ann@example.com"]
    with pytest.raises(ValidationFailed, match="invalid email"):
        email.parse("ann-at-example", RU)


def test_text_limits_are_the_columns_and_refused_not_cut() -> None:
    for item_type, model in ITEM_MODELS.items():
        for f in card_fields(item_type):
            if f.kind != Kind.TEXT:
                continue
            length = getattr(model.__table__.c[f.name].type, "length", None)  # type: ignore[attr-defined]
            assert f.limit == (length or 4000), (item_type, f.name)
    title = get_field(ItemType.LEAD, "title")
    assert title.parse("x" * 255, RU) == "x" * 255
    with pytest.raises(ValidationFailed, match="text too long") as exc:
        title.parse("x" * 256, RU)
    assert exc.value.params["max"] == 255
    with pytest.raises(ValidationFailed, match="empty value"):
        title.parse("   ", RU)


def test_the_lists_are_read_from_the_schema() -> None:
    assert [f.name for f in card_fields(ItemType.DEAL)] == [
        "title", "amount", "currency", "begin_date", "close_date", "source", "comment"
    ]  # fmt: skip
    assert {f.name for f in requirable_fields(ItemType.COMPANY)} == {
        "title", "industry", "source", "comment", "phone", "email"
    }  # fmt: skip
    assert views_service.fields_of(ItemType.DEAL)["close_date"] == "date"
    assert views_service.fields_of(ItemType.CONTACT)["company_id"] == "contact_company"
    assert views_service.fields_of(ItemType.LEAD)["observer_id"] == "observer"
    with pytest.raises(ValidationFailed, match="unknown field"):
        get_field(ItemType.COMPANY, "amount")


def test_every_label_is_said_in_both_languages() -> None:
    from crm_core.fields import SCHEMA
    from handlers.texts import TEXTS

    for item_fields in SCHEMA.values():
        for f in item_fields:
            assert f.label in TEXTS["en"] and f.label in TEXTS["ru"], f.label
