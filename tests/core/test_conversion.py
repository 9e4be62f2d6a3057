from decimal import Decimal

import pytest
from sqlalchemy import func, select

from crm_core.errors import AccessDenied, ConcurrencyConflict, LeadAlreadyConverted, RequiredFieldsMissing
from crm_core.models.items import Company, Contact, Deal, ItemType, StageSemantics, contact_companies
from crm_core.models.timeline import EventType
from crm_core.models.users import Role
from crm_core.services import communications
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services.conversion import Scheme, convert_lead, convert_leads_bulk, missing_names
from crm_core.services.required_fields import set_required_fields
from crm_core.services.timeline import list_events
from tests.core.factories import make_admin, make_company, make_contact, make_lead, make_user


async def _count(session, model):
    return await session.scalar(select(func.count()).select_from(model))


async def _full_lead(session, user, observer):
    return await make_lead(
        session,
        user,
        title="Website order",
        name="Anna",
        last_name="Petrova",
        company_title="Romashka LLC",
        comment="wants 3 units",
        amount="1500",
        currency="usd",
        source="web",
        phones=["+7 (999) 123-45-67"],
        emails=["Anna@Example.com"],
        observer_ids=[observer.id],
    )


@pytest.mark.parametrize("scheme", list(Scheme))
async def test_every_scheme_creates_the_right_items(session, scheme):
    user = await make_user(session, Role.SALESPERSON)
    observer = await make_user(session, Role.SALESPERSON)
    lead = await _full_lead(session, user, observer)
    result = await convert_lead(session, user, lead.id, scheme)

    expected = scheme.targets
    assert (result.deal is not None) == (ItemType.DEAL in expected)
    assert (result.contact is not None) == (ItemType.CONTACT in expected)
    assert (result.company is not None) == (ItemType.COMPANY in expected)
    assert await _count(session, Deal) == int(ItemType.DEAL in expected)
    assert await _count(session, Contact) == int(ItemType.CONTACT in expected)
    assert await _count(session, Company) == int(ItemType.COMPANY in expected)
    assert sorted(result.created) == sorted(i.ref for i in (result.deal, result.contact, result.company) if i)

    # The lead is on its success stage, closed as won.
    stage = await pl.get_stage(session, lead.stage_id)
    assert stage.semantics == StageSemantics.SUCCESS and lead.closed and lead.won

    for item in (result.deal, result.contact, result.company):
        if item is None:
            continue
        assert item.lead_id == lead.id
        assert item.responsible_id == user.id
        assert item.comment == "wants 3 units"
        assert await items_svc.get_observer_ids(session, item) == [observer.id]
        events = await list_events(session, owner_type=item.ITEM_TYPE, owner_id=item.id)
        assert {EventType.CREATED, EventType.CONVERTED} <= {e.event_type for e in events}
    if result.contact:
        assert (result.contact.name, result.contact.last_name) == ("Anna", "Petrova")
        phones = await communications.phones_of(session, result.contact)
        emails = await communications.emails_of(session, result.contact)
        assert [p.normalized for p in phones] == ["+79991234567"]
        assert [e.normalized for e in emails] == ["anna@example.com"]
        assert lead.contact_id == result.contact.id
    if result.company:
        assert result.company.title == "Romashka LLC"
        assert lead.company_id == result.company.id
    if result.contact and result.company:
        linked = await session.scalar(select(func.count()).select_from(contact_companies))
        assert linked == 1
    if result.deal:
        assert result.deal.title == "Website order"
        assert result.deal.amount == Decimal("1500.00") and result.deal.currency == "USD"
        assert result.deal.contact_id == (result.contact.id if result.contact else None)
        assert result.deal.company_id == (result.company.id if result.company else None)
        first = await pl.first_stage(session, (await pl.default_pipeline(session, ItemType.DEAL)).id)
        assert result.deal.stage_id == first.id
    lead_events = await list_events(
        session, owner_type=ItemType.LEAD, owner_id=lead.id, event_types=[EventType.CONVERTED]
    )
    assert lead_events[0].payload["scheme"] == scheme.value
    assert sorted(lead_events[0].payload["created"]) == sorted(result.created)
    assert not lead.is_return_customer


async def test_repeat_lead_reuses_existing_client(session):
    user = await make_user(session, Role.SALESPERSON)
    company = await make_company(session, user, title="Known Inc", phones=["+74951112233"])
    contact = await make_contact(
        session, user, name="Oleg", phones=["+7 (999) 123-45-67"], company_ids=[company.id]
    )
    lead = await make_lead(session, user, title="Again", phones=["8 999 1234567"], company_id=company.id)
    assert lead.contact_id == contact.id and lead.is_return_customer
    result = await convert_lead(session, user, lead.id)  # default: deal + contact + company
    assert result.contact.id == contact.id and result.company.id == company.id
    assert result.created == [result.deal.ref]
    assert sorted(result.reused) == sorted([contact.ref, company.ref])
    assert await _count(session, Contact) == 1 and await _count(session, Company) == 1
    assert (result.deal.contact_id, result.deal.company_id) == (contact.id, company.id)
    assert lead.is_return_customer


async def test_required_fields_stop_conversion_and_nothing_is_written(session):
    admin = await make_admin(session)
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, title="No amount", name="Ivan")
    start_stage = lead.stage_id
    await set_required_fields(session, admin, ItemType.DEAL, ["amount"])
    await set_required_fields(session, admin, ItemType.CONTACT, ["last_name", "phone"])
    with pytest.raises(RequiredFieldsMissing) as exc:
        await convert_lead(session, user, lead.id, Scheme.DEAL_CONTACT)
    assert sorted(exc.value.fields) == ["contact.last_name", "contact.phone", "deal.amount"]
    assert exc.value.code == "required_fields_missing"
    assert await _count(session, Deal) == 0 and await _count(session, Contact) == 0
    assert lead.stage_id == start_stage and not lead.closed
    assert not await list_events(
        session, owner_type=ItemType.LEAD, owner_id=lead.id, event_types=[EventType.CONVERTED]
    )
    # Once the lead is completed and the deal's amount given in the form, it goes through.
    await items_svc.update_item(session, user, lead, {"last_name": "Sidorov"}, phones=["+79990000000"])
    result = await convert_lead(
        session, user, lead.id, Scheme.DEAL_CONTACT, extra_fields={"deal": {"amount": 99}}
    )
    assert result.deal.amount == Decimal("99.00") and result.contact.last_name == "Sidorov"


async def test_per_pipeline_required_field(session):
    admin = await make_admin(session)
    other = await pl.create_pipeline(session, admin, name="Tenders")
    await set_required_fields(session, admin, ItemType.DEAL, ["close_date"], pipeline_id=other.id)
    lead = await make_lead(session, admin, title="T")
    with pytest.raises(RequiredFieldsMissing) as exc:
        await convert_lead(session, admin, lead.id, Scheme.DEAL, deal_pipeline_id=other.id)
    assert exc.value.fields == ["deal.close_date"]
    res = await convert_lead(session, admin, lead.id, Scheme.DEAL)  # the default pipeline does not need it
    assert res.deal.pipeline_id != other.id


async def test_failure_midway_rolls_back_everything(db):
    """A failure after items were written (inside the savepoint) leaves nothing behind: here the
    lead was changed by someone else meanwhile, detected when the lead itself is updated last."""
    async with db.unit_of_work() as s:
        user = await make_user(s, Role.SALESPERSON)
        lead = await make_lead(s, user, title="Contested", name="X", company_title="X Ltd")
    stale = db.sessionmaker()
    try:
        actor = await stale.get(type(user), user.id)
        stale_lead = await items_svc.get_item(stale, actor, ItemType.LEAD, lead.id)  # kept: the open card
        assert stale_lead.version == 1
        await stale.commit()
        async with db.unit_of_work() as s:
            other = await s.get(type(user), user.id)
            fresh = await items_svc.get_item(s, other, ItemType.LEAD, lead.id)
            await items_svc.update_item(s, other, fresh, {"comment": "called back"})
        with pytest.raises(ConcurrencyConflict):
            await convert_lead(stale, actor, lead.id, Scheme.DEAL_CONTACT_COMPANY)
        assert await _count(stale, Contact) == 0
        assert await _count(stale, Company) == 0
        assert await _count(stale, Deal) == 0
        await stale.commit()
    finally:
        await stale.close()
    async with db.unit_of_work() as s:
        assert await _count(s, Deal) == 0 and await _count(s, Contact) == 0
        reloaded = await s.get(type(lead), lead.id)
        assert reloaded.comment == "called back" and not reloaded.closed


async def test_conversion_needs_edit_access_and_happens_once(session):
    owner = await make_user(session, Role.SALESPERSON)
    stranger = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, owner)
    with pytest.raises(AccessDenied):
        await convert_lead(session, stranger, lead.id)
    assert await _count(session, Deal) == 0
    await convert_lead(session, owner, lead.id, Scheme.DEAL)
    with pytest.raises(LeadAlreadyConverted):
        await convert_lead(session, owner, lead.id, Scheme.CONTACT)


async def test_bulk_conversion_reports_per_lead(session):
    admin = await make_admin(session)
    user = await make_user(session, Role.SALESPERSON)
    stranger_lead = await make_lead(session, admin, title="Not yours")
    ok1 = await make_lead(session, user, title="One", amount=10)
    no_amount = await make_lead(session, user, title="Two")
    ok2 = await make_lead(session, user, title="Three", amount=30)
    await set_required_fields(session, admin, ItemType.DEAL, ["amount"])
    results = await convert_leads_bulk(
        session, user, [ok1.id, no_amount.id, stranger_lead.id, ok2.id], Scheme.DEAL
    )
    by_id = {r.lead_id: r for r in results}
    assert by_id[ok1.id].ok and len(by_id[ok1.id].created) == 1 and by_id[ok1.id].created[0].startswith("D-")
    assert not by_id[no_amount.id].ok and by_id[no_amount.id].error.fields == ["deal.amount"]
    assert not by_id[stranger_lead.id].ok and by_id[stranger_lead.id].error_code == "access_denied"
    assert by_id[ok2.id].ok
    assert await _count(session, Deal) == 2
    assert not no_amount.closed


# --- names: a contact is named after the lead's person, a company after its company, never the title


@pytest.mark.parametrize(
    ("scheme", "missing"),
    [
        (Scheme.DEAL, []),
        (Scheme.CONTACT, ["contact.name"]),
        (Scheme.COMPANY, ["company.title"]),
        (Scheme.DEAL_CONTACT, ["contact.name"]),
        (Scheme.DEAL_COMPANY, ["company.title"]),
        (Scheme.CONTACT_COMPANY, ["contact.name", "company.title"]),
        (Scheme.DEAL_CONTACT_COMPANY, ["contact.name", "company.title"]),
    ],
)
async def test_a_lead_with_only_a_title_lacks_the_names_its_scheme_needs(session, scheme, missing):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, title="замена котла", phones=["+7 916 123-45-67"])
    assert missing_names(lead, scheme) == missing
    if not missing:
        return
    with pytest.raises(RequiredFieldsMissing) as exc:
        await convert_lead(session, user, lead.id, scheme)
    assert exc.value.fields == missing
    assert await _count(session, Contact) == 0 and await _count(session, Company) == 0
    assert await _count(session, Deal) == 0 and not lead.closed


async def test_the_issues_lead_gives_a_named_contact_and_asks_only_for_the_company(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(
        session, user, title="замена котла", name="Иван", last_name="Петров", phones=["+7 916 123-45-67"]
    )
    assert missing_names(lead, Scheme.DEAL_CONTACT_COMPANY) == ["company.title"]
    with pytest.raises(RequiredFieldsMissing) as exc:
        await convert_lead(session, user, lead.id)
    assert exc.value.fields == ["company.title"]
    # The user typed the company's name: now it converts, nothing takes the title.
    result = await convert_lead(session, user, lead.id, extra_fields={"company": {"title": "Котельная №1"}})
    assert (result.contact.name, result.contact.last_name, result.contact.title) == (
        "Иван",
        "Петров",
        "Иван Петров",
    )
    assert result.company.title == "Котельная №1"
    assert result.deal.title == "замена котла"
    # A contact-only conversion of such a lead needs nothing more.
    other = await make_lead(session, user, title="окна", name="Анна")
    assert missing_names(other, Scheme.DEAL_CONTACT) == []


async def test_typed_names_complete_a_nameless_lead(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, title="Website order")
    extra = {"contact": {"name": "John", "last_name": "Smith"}, "company": {"title": "Acme LLC"}}
    assert missing_names(lead, Scheme.CONTACT_COMPANY, extra) == []
    result = await convert_lead(session, user, lead.id, Scheme.CONTACT_COMPANY, extra_fields=extra)
    assert (result.contact.name, result.contact.last_name) == ("John", "Smith")
    assert result.company.title == "Acme LLC"
    assert "Website order" not in (result.contact.title, result.company.title)


async def test_a_reused_client_needs_no_name(session):
    user = await make_user(session, Role.SALESPERSON)
    company = await make_company(session, user, title="Known Inc")
    lead = await make_lead(session, user, title="Again", company_id=company.id)
    assert missing_names(lead, Scheme.DEAL_COMPANY) == []
    result = await convert_lead(session, user, lead.id, Scheme.DEAL_COMPANY)
    assert result.company.id == company.id and await _count(session, Company) == 1


async def test_bulk_conversion_skips_a_lead_without_the_names_and_says_why(session):
    user = await make_user(session, Role.SALESPERSON)
    named = await make_lead(session, user, title="One", name="Ivan", company_title="Romashka LLC")
    nameless = await make_lead(session, user, title="замена котла")
    no_company = await make_lead(session, user, title="Three", name="Anna")
    results = await convert_leads_bulk(
        session, user, [named.id, nameless.id, no_company.id], Scheme.DEAL_CONTACT_COMPANY
    )
    by_id = {r.lead_id: r for r in results}
    assert by_id[named.id].ok
    assert not by_id[nameless.id].ok
    assert by_id[nameless.id].error.fields == ["contact.name", "company.title"]
    assert not by_id[no_company.id].ok and by_id[no_company.id].error.fields == ["company.title"]
    # No junk: one contact and one company, both properly named.
    contacts = (await session.scalars(select(Contact))).all()
    companies = (await session.scalars(select(Company))).all()
    assert [c.title for c in contacts] == ["Ivan"] and [c.title for c in companies] == ["Romashka LLC"]
    assert not nameless.closed and not no_company.closed
