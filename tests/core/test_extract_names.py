"""A person's and a company's name pulled out of free text, apart from the lead's title."""

from __future__ import annotations

import pytest

from crm_core.services.extract import extract_lead
from crm_core.services.names import PersonName, parse_person_name


def _person(text: str) -> tuple[str | None, str | None, str | None]:
    got = extract_lead(text)
    return got.name, got.second_name, got.last_name


@pytest.mark.parametrize(
    ("text", "person", "title"),
    [
        # The case: name first, then what is wanted, then a phone.
        ("Иван Петров, замена котла, +7 916 123-45-67", ("Иван", None, "Петров"), "замена котла"),
        ("замена котла, Иван Петров", ("Иван", None, "Петров"), "замена котла"),
        ("замена котла, Иван Петров, срочно", ("Иван", None, "Петров"), "замена котла, срочно"),
        ("Петров Иван Сергеевич — окна на дачу", ("Иван", "Сергеевич", "Петров"), "окна на дачу"),
        ("Замена котла\nИван Петров\n+7 916 123-45-67", ("Иван", None, "Петров"), "Замена котла"),
        ("John Smith, boiler replacement", ("John", None, "Smith"), "boiler replacement"),
        ("Boiler replacement - John Smith", ("John", None, "Smith"), "Boiler replacement"),
        ("Mary Jane Watson, wedding photos", ("Mary", "Jane", "Watson"), "wedding photos"),
        ("Anna, new kitchen", ("Anna", None, None), "new kitchen"),
    ],
)
def test_a_name_standing_alone_leaves_the_title(text, person, title) -> None:
    got = extract_lead(text)
    assert (got.name, got.second_name, got.last_name) == person
    assert got.title == title


def test_a_name_inside_a_phrase_is_found_in_the_nominative_and_the_phrase_stays_the_title() -> None:
    got = extract_lead("замена котла для Ивана Петрова")
    assert (got.name, got.last_name) == ("Иван", "Петров")
    assert got.title == "замена котла для Ивана Петрова"
    got = extract_lead("Звонил Иванов Пётр Петрович по поводу окон")
    assert (got.name, got.second_name, got.last_name) == ("Пётр", "Петрович", "Иванов")


def test_a_womans_surname_keeps_its_gender() -> None:
    assert _person("Анна Петрова, кухня") == ("Анна", None, "Петрова")
    assert _person("Надежда Смирнова хочет окна") == ("Надежда", None, "Смирнова")


def test_a_name_that_is_also_a_word_at_the_start_of_a_phrase_is_not_a_name() -> None:
    got = extract_lead("Вера в успех, тренинг для отдела")
    assert _person("Вера в успех, тренинг для отдела") == (None, None, None)
    assert got.title == "Вера в успех, тренинг для отдела"
    assert _person("Роза ветров, турагентство") == (None, None, None)


def test_the_same_word_standing_alone_or_with_a_surname_is_a_name() -> None:
    assert _person("Вера, окна на дачу") == ("Вера", None, None)
    assert _person("Роза Иванова хочет окна") == ("Роза", None, "Иванова")


def test_lower_case_names() -> None:
    got = extract_lead("иван петров, замена котла")
    assert (got.name, got.last_name, got.title) == ("Иван", "Петров", "замена котла")
    assert _person("петрова анна, кухня") == ("Анна", None, "Петрова")
    assert _person("иван, окна") == ("Иван", None, None)
    # A lone word that is also a common noun is not taken for a name in lower case.
    assert _person("роза, доставка к 8 марта") == (None, None, None)
    assert _person("вера") == (None, None, None)


@pytest.mark.parametrize(
    "text",
    [
        "Замена котла в частном доме",
        "Meeting 28.11.2024 at 15:30, budget 1000000",
        "Will call back tomorrow",  # a first name starting a phrase
        "May delivery, 20 chairs",
        "New windows for the office",
        "Office chairs <b>x20</b>",
        "",
    ],
)
def test_no_name(text) -> None:
    got = extract_lead(text)
    assert (got.name, got.second_name, got.last_name, got.company_title) == (None, None, None, None)


@pytest.mark.parametrize(
    ("text", "company", "person", "title"),
    [
        ("ООО «Ромашка», Иван Петров, поставка", "ООО «Ромашка»", ("Иван", None, "Петров"), "поставка"),
        # Inside a phrase the company is found and the phrase stays whole.
        ("поставка для ООО «Ромашка»", "ООО «Ромашка»", (None, None, None), "поставка для ООО «Ромашка»"),
        ("ИП Иванов, поставка", "ИП Иванов", (None, None, None), "поставка"),
        ("Acme LLC, John Smith - new office", "Acme LLC", ("John", None, "Smith"), "new office"),
        ("Racks & Co, warehouse racks", "Racks & Co", (None, None, None), "warehouse racks"),
    ],
)
def test_companies_with_a_legal_form(text, company, person, title) -> None:
    got = extract_lead(text)
    assert got.company_title == company
    assert (got.name, got.second_name, got.last_name) == person
    assert got.title == title


def test_nothing_but_a_name_leaves_an_empty_title_and_a_fallback_from_the_name() -> None:
    got = extract_lead("Анна Петрова")
    assert got.title == "" and got.fallback_title == "Анна Петрова"
    got = extract_lead("John Smith +1 650 253 00 00")
    assert got.title == "" and got.fallback_title == "John Smith"
    got = extract_lead("ООО «Ромашка»")
    assert got.title == "" and got.fallback_title == "ООО «Ромашка»"
    got = extract_lead("+7 999 123-45-67")
    assert got.fallback_title == "+7 999 123-45-67"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Иван Петров", PersonName("Иван", None, "Петров")),
        ("Петров Иван Сергеевич", PersonName("Иван", "Сергеевич", "Петров")),
        ("анна петрова", PersonName("Анна", None, "Петрова")),
        ("John Smith", PersonName("John", None, "Smith")),
        ("Mary Jane Watson", PersonName("Mary", "Jane", "Watson")),
        ("Zorg", PersonName("Zorg", None, None)),
        ("  ", PersonName()),
    ],
)
def test_a_typed_full_name_is_split(typed, expected) -> None:
    assert parse_person_name(typed) == expected
