"""crm_core.bitrix: Bitrix24 filters, fields and stage codes in our terms."""

from __future__ import annotations

import pytest

from crm_core.bitrix.codes import FIELDS, STAR
from crm_core.bitrix.filters import split_key, to_conditions, to_sort
from crm_core.bitrix.records import Codebook, parse_fields
from crm_core.errors import ValidationFailed
from crm_core.models.items import ItemType
from crm_core.services import pipelines
from crm_core.services.views.filters import Condition
from tests.core.factories import make_admin


def test_prefixes() -> None:
    assert split_key(">=OPPORTUNITY") == ("gte", "OPPORTUNITY")
    assert split_key("!@ID") == ("not_in", "ID")
    assert split_key("%title") == ("contains", "TITLE")
    assert split_key("=STATUS_ID") == ("eq", "STATUS_ID")
    assert split_key("!STATUS_ID") == ("ne", "STATUS_ID")
    assert split_key("ID") == ("eq", "ID")


async def test_filters_in_our_language(session) -> None:
    book = await Codebook.load(session)
    lead = ItemType.LEAD
    new = book.stage_by_code(lead, "NEW")
    assert to_conditions(lead, {"=OPPORTUNITY": 0}, book) == [Condition("amount", "eq", 0)]
    assert to_conditions(lead, {"COMPANY_ID": ""}, book) == [Condition("company_id", "is_null")]
    assert to_conditions(lead, {"!@ID": [1, 2]}, book) == [Condition("id", "ne", 1), Condition("id", "ne", 2)]
    assert to_conditions(lead, {"STATUS_ID": ["NEW"]}, book) == [Condition("stage_id", "in", [new.id])]
    assert to_conditions(lead, {"@ID": "3,4"}, book) == [Condition("id", "in", ["3", "4"])]
    assert to_conditions(lead, {"STATUS_SEMANTIC_ID": "F"}, book) == [
        Condition("closed", "eq", True),
        Condition("won", "eq", False),
    ]
    assert to_conditions(lead, {"%PHONE": "900"}, book) == [Condition("phone", "contains", "900")]
    for bad in ({"NOPE": 1}, {">PHONE": 1}, {"STATUS_ID": "NOPE"}, {"STATUS_SEMANTIC_ID": ["P", "S"]}, "x"):
        with pytest.raises(ValidationFailed):
            to_conditions(lead, bad, book)
    assert to_sort(lead, {"DATE_CREATE": "DESC"}) == [("created_at", "desc")]
    with pytest.raises(ValidationFailed):
        to_sort(lead, {"PHONE": "ASC"})


async def test_stage_codes_of_pipelines(session) -> None:
    admin = await make_admin(session)
    extra = await pipelines.create_pipeline(session, admin, name="Export")
    book = await Codebook.load(session)
    won = book.stage_by_code(ItemType.DEAL, f"C{extra.id}:WON")
    assert won.pipeline_id == extra.id and book.stage_code(won) == f"C{extra.id}:WON"
    assert book.category_id(extra.id) == extra.id
    default_won = book.stage_by_code(ItemType.DEAL, "WON")
    assert book.stage_code(default_won) == "WON" and book.category_id(default_won.pipeline_id) == 0
    assert book.stage_by_code(ItemType.DEAL, "WON", extra.id) == won
    with pytest.raises(ValidationFailed):
        book.pipeline_of_category(ItemType.DEAL, 99999)


def test_fields_sorted_into_a_change() -> None:
    change = parse_fields(
        ItemType.LEAD,
        {
            "title": "T",
            "PHONE": "+79001234567",
            "EMAIL": {"0": {"VALUE": "a@b.c", "VALUE_TYPE": "HOME"}},
            "ASSIGNED_BY_ID": "7",
            "STATUS_ID": "IN_PROCESS",
            "ID": 5,  # read-only: ignored
            "UF_CRM_1": "x",  # a field we do not have: ignored
            "CONTACT_ID": "0",  # Bitrix24's "no link"
        },
    )
    assert change.values == {"title": "T", "contact_id": None}
    assert change.phones == [{"VALUE": "+79001234567"}] and change.emails == [
        {"VALUE": "a@b.c", "VALUE_TYPE": "HOME"}
    ]
    assert (change.responsible_id, change.stage_code) == (7, "IN_PROCESS")
    assert "PHONE" not in STAR[ItemType.LEAD] and {f.code for f in FIELDS[ItemType.DEAL]} >= {
        "STAGE_ID",
        "CATEGORY_ID",
    }
