from crm_core.models.items import ItemType
from crm_core.models.users import Role
from crm_core.services import communications
from crm_core.services import items as items_svc
from crm_core.services.clients import create_client, find_duplicates, search_clients
from tests.core.factories import make_admin, make_company, make_contact, make_department, make_lead, make_user


async def test_search_by_name_phone_and_email(session):
    user = await make_user(session, Role.SALESPERSON)
    anna = await make_contact(
        session,
        user,
        name="Anna",
        last_name="Petrova",
        phones=["+7 (999) 123-45-67"],
        emails=["Anna@Example.com"],
    )
    romashka = await make_company(session, user, title="Romashka LLC", phones=["8 495 111-22-33"])
    await make_contact(session, user, name="Boris")

    by_name = await search_clients(session, user, "petr")
    assert [(m.item_type, m.item.id, m.matched_by) for m in by_name] == [(ItemType.CONTACT, anna.id, "name")]
    assert [m.item.id for m in await search_clients(session, user, "anna petrova")] == [anna.id]
    assert [m.item.id for m in await search_clients(session, user, "ROMASH")] == [romashka.id]
    by_phone = await search_clients(session, user, "8 999 1234567")
    assert [(m.item.id, m.matched_by) for m in by_phone] == [(anna.id, "phone")]
    assert [m.item.id for m in await search_clients(session, user, "+74951112233")] == [romashka.id]
    by_email = await search_clients(session, user, "ANNA@example.COM")
    assert [(m.item.id, m.matched_by) for m in by_email] == [(anna.id, "email")]
    assert await search_clients(session, user, "nobody") == []
    assert await search_clients(session, user, "100%_") == []  # wildcards are literal


async def test_search_only_shows_visible_clients(session):
    owner = await make_user(session, Role.SALESPERSON)
    stranger = await make_user(session, Role.SALESPERSON)
    admin = await make_admin(session)
    await make_contact(session, owner, name="Secret", phones=["+79990001122"])
    assert await search_clients(session, stranger, "secret") == []
    assert await search_clients(session, stranger, "+79990001122") == []
    assert len(await search_clients(session, admin, "secret")) == 1


async def test_create_contact_and_company_together_links_them(session):
    user = await make_user(session, Role.SALESPERSON)
    contact, company = await create_client(
        session,
        user,
        contact={"name": "Ivan", "last_name": "Ivanov"},
        company={"title": "Vector"},
        contact_phones=["+79995554433"],
        company_emails=["info@vector.ru"],
    )
    assert await items_svc.get_company_ids(session, contact.id) == [company.id]
    assert [p.normalized for p in await communications.phones_of(session, contact)] == ["+79995554433"]
    only_contact, none = await create_client(session, user, contact={"name": "Solo"})
    assert none is None and await items_svc.get_company_ids(session, only_contact.id) == []


async def test_duplicates_across_leads_contacts_companies(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user, phones=["+7 (999) 123-45-67"], auto_link_client=False)
    contact = await make_contact(session, user, emails=["Boss@Firm.ru"])
    company = await make_company(session, user, phones=["8 999 1234567"])
    dups = await find_duplicates(session, user, phones=["89991234567"], emails=["boss@firm.RU"])
    assert {(d.item_type, d.item.id, d.matched_by) for d in dups} == {
        (ItemType.LEAD, lead.id, "phone"),
        (ItemType.CONTACT, contact.id, "email"),
        (ItemType.COMPANY, company.id, "phone"),
    }
    assert {
        d.item.id
        for d in await find_duplicates(session, user, phones=["+79991234567"], exclude=lead)
        if d.item_type == ItemType.LEAD
    } == set()
    assert await find_duplicates(session, user, phones=["garbage"]) == []


async def test_duplicates_are_only_those_the_actor_may_see(session):
    sales = await make_department(session, "Sales")
    other = await make_department(session, "Support")
    seller = await make_user(session, Role.SALESPERSON, department=sales)
    colleague = await make_user(session, Role.SALESPERSON, department=sales)
    head = await make_user(session, Role.HEAD, department=sales)
    outsider_head = await make_user(session, Role.HEAD, department=other)
    admin = await make_admin(session)
    mine = await make_lead(session, seller, title="Mine", phones=["+7 999 555 00 11"])
    theirs = await make_lead(session, colleague, title="Theirs", phones=["+7 999 555 00 11"])

    async def found(actor, **kw):
        return {d.item.id for d in await find_duplicates(session, actor, phones=["89995550011"], **kw)}

    assert await found(seller) == {mine.id}
    assert await found(colleague) == {theirs.id}
    assert await found(head) == {mine.id, theirs.id}  # the head sees the department's
    assert await found(outsider_head) == set()
    assert await found(admin) == {mine.id, theirs.id}
    assert await found(admin, exclude=theirs) == {mine.id}
    # Two terms, one of them matching nothing: still found by the one that matches.
    dups = await find_duplicates(session, admin, phones=["89995550011"], emails=["nobody@x.ru"])
    assert {d.item.id for d in dups} == {mine.id, theirs.id}


async def test_repeat_lead_detected_by_phone_typed_differently(session):
    user = await make_user(session, Role.SALESPERSON)
    contact = await make_contact(session, user, name="Anna", phones=["+7 (999) 123-45-67"])
    first = await make_lead(session, user, title="New person", phones=["+7 (912) 000-00-00"])
    assert not first.is_return_customer and first.contact_id is None
    repeat = await make_lead(session, user, title="Anna again", phones=["8 999 1234567"])
    assert repeat.is_return_customer and repeat.contact_id == contact.id


async def test_repeat_lead_recomputed_on_save(session):
    user = await make_user(session, Role.SALESPERSON)
    company = await make_company(session, user, title="Known")
    lead = await make_lead(session, user, title="Plain")
    assert not lead.is_return_customer
    await items_svc.update_item(session, user, lead, {"company_id": company.id})
    assert lead.is_return_customer
    await items_svc.update_item(session, user, lead, {"company_id": None})
    assert not lead.is_return_customer
    explicit = await make_lead(session, user, title="Chosen client", company_id=company.id)
    assert explicit.is_return_customer
