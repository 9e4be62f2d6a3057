"""Pulling phones, emails and a title out of one message."""

from __future__ import annotations

from crm_core.services.extract import TITLE_LIMIT, extract_lead


def test_phone_email_and_title_from_one_line() -> None:
    got = extract_lead("Ivan Petrov, +7 (999) 123-45-67, IVAN@Example.com — wants a quote")
    assert got.phones_normalized == ["+79991234567"]
    assert got.phones == ["+7 (999) 123-45-67"]
    assert got.emails == ["ivan@example.com"]
    assert (got.name, got.last_name) == ("Ivan", "Petrov")
    assert got.title == "wants a quote"


def test_first_non_empty_line_is_the_title_and_all_lines_are_searched() -> None:
    got = extract_lead("\n  Окна для дачи  \nзвонить 8 912 000-00-00\nили +7 999 1234567 доб. 12")
    assert got.title == "Окна для дачи"
    assert got.phones_normalized == ["+79120000000", "+79991234567"]


def test_same_number_typed_twice_is_one_phone() -> None:
    got = extract_lead("8 999 123 45 67 or +79991234567")
    assert got.phones_normalized == ["+79991234567"]
    assert got.title == "or"


def test_only_a_phone_leaves_an_empty_title() -> None:
    got = extract_lead("+7 999 123-45-67")
    assert got.title == "" and got.phones_normalized == ["+79991234567"]


def test_digits_of_an_email_are_not_a_phone() -> None:
    got = extract_lead("a89991234567@mail.ru")
    assert got.emails == ["a89991234567@mail.ru"] and got.phones == []


def test_dates_times_and_amounts_are_not_phones() -> None:
    got = extract_lead("Meeting 28.11.2024 at 15:30, budget 1000000")
    assert got.phones == [] and got.emails == []
    assert got.title == "Meeting 28.11.2024 at 15:30, budget 1000000"


def test_invalid_email_is_ignored() -> None:
    assert extract_lead("write to bob@localhost or x@y").emails == []


def test_messenger_hints_are_added_and_cut_from_the_title() -> None:
    got = extract_lead(
        "hello +1 650 253 00 00",
        [
            ("phone_number", "+1 650 253 00 00"),
            ("email", "A@B.io"),
            ("url", "http://x"),
            ("phone_number", "12"),
        ],
    )
    assert got.phones_normalized == ["+16502530000"]
    assert got.emails == ["a@b.io"]
    assert got.title == "hello"


def test_other_default_region() -> None:
    got = extract_lead("call 020 7946 0958", default_region="GB")
    assert got.phones_normalized == ["+442079460958"]


def test_long_title_is_cut() -> None:
    got = extract_lead("x" * 1000)
    assert len(got.title) == TITLE_LIMIT


def test_empty_text() -> None:
    got = extract_lead("")
    assert got.title == "" and got.phones == [] and got.emails == []
