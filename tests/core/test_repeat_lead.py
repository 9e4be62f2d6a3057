"""A repeat lead is one whose client was already in the CRM when the lead came."""

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.services import clients, items
from tests.core.factories import make_admin, make_contact, make_lead


async def test_client_created_for_the_lead_does_not_make_it_repeat(session: AsyncSession) -> None:
    admin = await make_admin(session)
    lead = await make_lead(session, admin, title="Call me back")
    contact, _ = await clients.create_client(session, admin, contact={"name": "Ivan"})
    assert contact is not None
    await items.update_item(session, admin, lead, {"contact_id": contact.id})
    assert lead.is_return_customer is False


async def test_client_known_before_the_lead_makes_it_repeat(session: AsyncSession) -> None:
    admin = await make_admin(session)
    known = await make_contact(session, admin, name="Olga")
    lead = await make_lead(session, admin, title="Second order")
    await items.update_item(session, admin, lead, {"contact_id": known.id})
    assert lead.is_return_customer is True
    await items.update_item(session, admin, lead, {"contact_id": None})
    assert lead.is_return_customer is False
