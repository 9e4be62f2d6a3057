from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from crm_core.errors import AccessDenied, NotFound
from crm_core.models.items import Communication, Contact, Deal, ItemType, Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role
from crm_core.services import communications, trash
from crm_core.services import items as items_svc
from crm_core.services.timeline import list_events
from tests.core.factories import make_admin, make_company, make_contact, make_deal, make_lead, make_user

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


async def test_delete_and_restore_keeps_links_and_timeline(session):
    user = await make_user(session, Role.SALESPERSON)
    contact = await make_contact(session, user, phones=["+79991234567"])
    company = await make_company(session, user)
    await items_svc.link_contact_company(session, user, contact, company)
    deal = await make_deal(session, user, contact_id=contact.id, company_id=company.id)
    await trash.delete_item(session, user, contact, now=T0)
    assert contact.deleted_at == T0 and contact.deleted_by_id == user.id
    with pytest.raises(NotFound):
        await items_svc.get_item(session, user, ItemType.CONTACT, contact.id)
    entries = await trash.list_trash(session, user)
    assert [e.ref for e in entries] == [contact.ref]

    restored = await trash.restore_item(
        session, user, ItemType.CONTACT, contact.id, now=T0 + timedelta(days=3)
    )
    assert restored is contact and contact.deleted_at is None
    assert await items_svc.get_item(session, user, ItemType.CONTACT, contact.id) is contact
    assert deal.contact_id == contact.id
    assert await items_svc.get_company_ids(session, contact.id) == [company.id]
    assert [p.normalized for p in await communications.phones_of(session, contact)] == ["+79991234567"]
    events = await list_events(
        session,
        owner_type=ItemType.CONTACT,
        owner_id=contact.id,
        event_types=[EventType.DELETED, EventType.RESTORED],
    )
    assert [e.event_type for e in events] == [EventType.RESTORED, EventType.DELETED]
    assert events[0].author_id == user.id and events[0].created_at == T0 + timedelta(days=3)
    with pytest.raises(NotFound):  # not in the trash any more
        await trash.restore_item(session, user, ItemType.CONTACT, contact.id)


async def test_trash_is_per_access(session):
    owner = await make_user(session, Role.SALESPERSON)
    stranger = await make_user(session, Role.SALESPERSON)
    admin = await make_admin(session)
    lead = await make_lead(session, owner)
    await trash.delete_item(session, owner, lead)
    assert await trash.list_trash(session, stranger) == []
    assert [e.ref for e in await trash.list_trash(session, admin, ItemType.LEAD)] == [lead.ref]
    with pytest.raises(AccessDenied):
        await trash.restore_item(session, stranger, ItemType.LEAD, lead.id)


async def test_purge_after_30_days(session):
    user = await make_user(session, Role.SALESPERSON)
    old_lead = await make_lead(session, user, phones=["+79990000001"])
    deal = await make_deal(session, user, lead_id=old_lead.id)
    recent = await make_contact(session, user)
    kept = await make_lead(session, user)
    await trash.delete_item(session, user, old_lead, now=T0)
    await trash.delete_item(session, user, recent, now=T0 + timedelta(days=20))
    old_id, recent_id = old_lead.id, recent.id

    assert await trash.purge_trash(session, T0 + timedelta(days=29)) == 0
    assert await trash.purge_trash(session, T0 + timedelta(days=31)) == 1
    assert await session.get(Lead, old_id) is None
    assert (
        await session.scalar(
            select(func.count())
            .select_from(Communication)
            .where(Communication.owner_type == ItemType.LEAD, Communication.owner_id == old_id)
        )
        == 0
    )
    assert (
        await session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.owner_type == ItemType.LEAD, TimelineEvent.owner_id == old_id)
        )
        == 0
    )
    await session.refresh(deal)
    assert deal.lead_id is None  # the deal stays
    assert await session.get(Contact, recent_id) is not None
    assert await session.get(Lead, kept.id) is not None
    assert await trash.purge_trash(session, T0 + timedelta(days=51)) == 1
    assert await session.get(Contact, recent_id) is None
    assert await session.get(Deal, deal.id) is not None


async def test_a_forged_page_offset_past_bigint_is_an_empty_page(session):
    admin = await make_admin(session)
    lead = await make_lead(session, admin)
    await trash.delete_item(session, admin, lead)
    assert await trash.list_trash(session, admin, ItemType.LEAD, offset=8 * 10**40) == []
    assert [e.ref for e in await trash.list_trash(session, admin, ItemType.LEAD, offset=-5)] == [lead.ref]
