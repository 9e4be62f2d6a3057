from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crm_core.errors import ConcurrencyConflict, InvalidRef, NotFound, RequiredFieldsMissing, ValidationFailed
from crm_core.models.items import CommValueType, ItemType
from crm_core.models.timeline import EventType
from crm_core.models.users import Role
from crm_core.refs import format_ref, parse_ref, resolve_ref
from crm_core.services import communications
from crm_core.services import items as items_svc
from crm_core.services.communications import normalize_email, normalize_phone
from crm_core.services.required_fields import get_required_fields, set_required_fields
from crm_core.services.timeline import add_event, item_timeline, list_events
from tests.core.factories import make_admin, make_company, make_contact, make_deal, make_lead, make_user

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_phone_and_email_normalisation():
    assert normalize_phone("+7 (999) 123-45-67") == "+79991234567"
    assert normalize_phone("8 999 1234567") == "+79991234567"
    assert normalize_phone("+7 999 123 45 67 ext. 123") == "+79991234567"
    assert normalize_phone("(202) 555-0143", "US") == "+12025550143"
    with pytest.raises(ValidationFailed):
        normalize_phone("hello")
    assert normalize_email("  Anna.Petrova@Example.COM ") == "anna.petrova@example.com"
    with pytest.raises(ValidationFailed):
        normalize_email("not-an-email")


def test_refs_parse_and_format():
    assert parse_ref("L-12") == (ItemType.LEAD, 12)
    assert parse_ref("l12") == (ItemType.LEAD, 12)
    assert parse_ref("L 12") == (ItemType.LEAD, 12)
    assert parse_ref("d-7") == (ItemType.DEAL, 7)
    assert parse_ref("C-3") == (ItemType.CONTACT, 3)
    assert parse_ref("CO-5") == (ItemType.COMPANY, 5)
    assert parse_ref("co5") == (ItemType.COMPANY, 5)
    assert parse_ref("СО-5") == (ItemType.COMPANY, 5)  # Cyrillic letters
    for bad in ("X-1", "L-", "L-0", "12", "", "deal 5", "L-1-2"):
        with pytest.raises(InvalidRef):
            parse_ref(bad)
    assert format_ref(ItemType.COMPANY, 5) == "CO-5"
    assert format_ref("lead", 12) == "L-12"


async def test_create_items_with_phones_emails_and_refs(session):
    user = await make_user(session, Role.SALESPERSON)
    observer = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(
        session,
        user,
        title="Site form",
        name="Anna",
        amount="1200.5",
        phones=[
            ("+7 (999) 123-45-67", "mobile"),
            {"value": "8 495 111 22 33", "type": "work"},
            "8 999 1234567",
        ],
        emails=["Anna@Example.com"],
        observer_ids=[observer.id],
        now=T0,
    )
    assert (
        lead.ref == f"L-{lead.id}" and lead.amount == Decimal("1200.50") and lead.opportunity == lead.amount
    )
    assert lead.responsible_id == user.id and lead.created_by_id == user.id and lead.created_at == T0
    phones = await communications.phones_of(session, lead)
    # The same number typed twice is kept once; types are kept.
    assert [(p.value, p.normalized, p.value_type) for p in phones] == [
        ("+7 (999) 123-45-67", "+79991234567", CommValueType.MOBILE),
        ("8 495 111 22 33", "+74951112233", CommValueType.WORK),
    ]
    assert [e.normalized for e in await communications.emails_of(session, lead)] == ["anna@example.com"]
    assert await items_svc.get_observer_ids(session, lead) == [observer.id]
    created = await list_events(session, owner_type=ItemType.LEAD, owner_id=lead.id)
    assert [e.event_type for e in created] == [EventType.CREATED]

    deal = await make_deal(session, user)
    contact = await make_contact(session, user, last_name="Petrova")
    company = await make_company(session, user)
    for item in (lead, deal, contact, company):
        assert await resolve_ref(session, user, item.ref) is item
    assert contact.display_name == "Ivan Petrova"
    with pytest.raises(NotFound):
        await resolve_ref(session, user, "D-999999")
    with pytest.raises(ValidationFailed):
        await make_lead(session, user, phones=["not a phone"])
    with pytest.raises(ValidationFailed):
        await items_svc.create_item(session, user, ItemType.LEAD, {"stage_id": 1})  # not a plain field


async def test_a_title_no_database_can_store_is_stored_as_it_can_be(session):
    # asyncpg failed to encode a lone surrogate (a program's JSON can carry one); NUL is never meant
    from sqlalchemy import select

    from crm_core.models.items import Lead

    user = await make_user(session, Role.SALESPERSON)
    lead = await items_svc.create_item(session, user, ItemType.LEAD, {"title": "Bro\ud800ken\x00 sign"})
    lead_id = lead.id
    session.expire_all()  # read back from the database, not the session
    assert await session.scalar(select(Lead.title).where(Lead.id == lead_id)) == "Bro\ufffdken sign"


async def test_update_records_field_changes(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, title="Old", amount=10, phones=["+79990000001"])
    v0 = lead.version
    changed = await items_svc.update_item(
        session,
        user,
        lead,
        {"title": "New", "amount": "20", "comment": "hi", "name": None},
        phones=["+79990000002"],
        now=T0,
    )
    assert set(changed) == {"title", "amount", "comment", "phones"}  # name was already empty
    assert lead.version > v0 and lead.updated_at == T0
    events = await list_events(
        session, owner_type=ItemType.LEAD, owner_id=lead.id, event_types=[EventType.FIELD_CHANGED]
    )
    payloads = {e.payload["field"]: (e.payload["old"], e.payload["new"]) for e in events}
    assert payloads == {
        "title": ("Old", "New"),
        "amount": ("10.00", "20.00"),
        "comment": (None, "hi"),
        "phones": (["+79990000001"], ["+79990000002"]),
    }
    assert await items_svc.update_item(session, user, lead, {"title": "New"}) == []  # no change, no event
    with pytest.raises(ConcurrencyConflict):
        await items_svc.update_item(session, user, lead, {"title": "X"}, expected_version=v0)
    with pytest.raises(ValidationFailed):
        await items_svc.update_item(session, user, lead, {"responsible_id": 5})


async def test_responsible_observers_and_links(session):
    user = await make_user(session, Role.SALESPERSON)
    other = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, user)
    await items_svc.change_responsible(session, user, deal, other.id)
    assert deal.responsible_id == other.id
    assert await items_svc.add_observer(session, other, deal, user.id)
    assert not await items_svc.add_observer(session, other, deal, user.id)
    assert await items_svc.get_observer_ids(session, deal) == [user.id]
    assert await items_svc.remove_observer(session, other, deal, user.id)
    types = [e.event_type for e in await list_events(session, owner_type=ItemType.DEAL, owner_id=deal.id)]
    assert types == [
        EventType.OBSERVER_REMOVED,
        EventType.OBSERVER_ADDED,
        EventType.RESPONSIBLE_CHANGED,
        EventType.CREATED,
    ]
    inactive = await make_user(session, Role.SALESPERSON, is_active=False)
    with pytest.raises(ValidationFailed):
        await items_svc.change_responsible(session, other, deal, inactive.id)

    contact = await make_contact(session, user)
    company = await make_company(session, user)
    assert await items_svc.link_contact_company(session, user, contact, company)
    assert not await items_svc.link_contact_company(session, user, contact, company)
    assert await items_svc.get_company_ids(session, contact.id) == [company.id]
    assert await items_svc.get_contact_ids(session, company.id) == [contact.id]
    linked = await list_events(
        session, owner_type=ItemType.COMPANY, owner_id=company.id, event_types=[EventType.LINK_ADDED]
    )
    assert linked[0].payload["ref"] == contact.ref
    assert await items_svc.unlink_contact_company(session, user, contact, company)
    assert await items_svc.get_company_ids(session, contact.id) == []

    # A deal's client must exist and not be in the trash.
    with pytest.raises(NotFound):
        await items_svc.update_item(session, other, deal, {"contact_id": 999999})
    await items_svc.add_observer(session, other, deal, user.id)  # so `user` sees the deal
    await items_svc.update_item(session, user, deal, {"contact_id": contact.id, "company_id": company.id})
    assert (deal.contact_id, deal.company_id) == (contact.id, company.id)


async def test_required_fields_on_create_and_update(session):
    admin = await make_admin(session)
    user = await make_user(session, Role.SALESPERSON)
    with pytest.raises(Exception) as denied:
        await set_required_fields(session, user, ItemType.LEAD, ["phone"])
    assert denied.value.code == "access_denied"
    await set_required_fields(session, admin, ItemType.LEAD, ["phone", "name"])
    assert await get_required_fields(session, ItemType.LEAD) == ["name", "phone"]
    with pytest.raises(RequiredFieldsMissing) as exc:
        await make_lead(session, user, title="x")
    assert exc.value.fields == ["lead.name", "lead.phone"]
    lead = await make_lead(session, user, name="Ann", phones=["+79991112233"])
    with pytest.raises(RequiredFieldsMissing) as exc:
        await items_svc.update_item(session, user, lead, {"name": ""})
    assert exc.value.fields == ["lead.name"]
    with pytest.raises(RequiredFieldsMissing):
        await items_svc.update_item(session, user, lead, {}, phones=[])
    with pytest.raises(ValidationFailed):
        await set_required_fields(session, admin, ItemType.LEAD, ["no_such_field"])
    await set_required_fields(session, admin, ItemType.LEAD, [])
    await make_lead(session, user, title="fine now")


async def test_timeline_filters_paging_and_pins(session):
    user = await make_user(session, Role.SALESPERSON)
    other = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, now=T0)
    for i in range(5):
        await add_event(
            session,
            owner_type=ItemType.LEAD,
            owner_id=lead.id,
            event_type=EventType.COMMENT_ADDED,
            author_id=other.id if i % 2 else user.id,
            payload={"n": i},
            at=T0 + timedelta(hours=i + 1),
        )
    page1 = await list_events(session, owner_type=ItemType.LEAD, owner_id=lead.id, limit=2)
    assert [e.payload.get("n") for e in page1] == [4, 3]
    page2 = await list_events(
        session, owner_type=ItemType.LEAD, owner_id=lead.id, limit=2, before_id=page1[-1].id
    )
    assert [e.payload.get("n") for e in page2] == [2, 1]
    by_other = await list_events(session, owner_type=ItemType.LEAD, owner_id=lead.id, author_id=other.id)
    assert [e.payload["n"] for e in by_other] == [3, 1]
    ranged = await list_events(
        session,
        owner_type=ItemType.LEAD,
        owner_id=lead.id,
        since=T0 + timedelta(hours=2),
        until=T0 + timedelta(hours=4),
    )
    assert [e.payload["n"] for e in ranged] == [2, 1]
    created = await list_events(session, owner_type=ItemType.LEAD, owner_id=lead.id, event_types=["created"])
    assert len(created) == 1
    page1[-1].pinned = True
    page1[-1].pinned_at = T0
    events = await item_timeline(session, user, lead, limit=3)
    assert events[0].id == page1[-1].id  # pinned first
    with pytest.raises(Exception) as denied:
        await item_timeline(session, await make_user(session, Role.SALESPERSON), lead)
    assert denied.value.code == "access_denied"
