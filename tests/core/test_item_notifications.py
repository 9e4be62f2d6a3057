"""People hear about items given to them by someone else (queued in the same transaction)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.services import items
from crm_core.services.notifications import mute_category
from tests.core.factories import make_admin, make_lead, make_user


async def _queued(session: AsyncSession, user_id: int) -> list[tuple[str, str]]:
    rows = await session.scalars(
        select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
    )
    return [(n.category, n.payload["ref"]) for n in rows]


async def test_assignment_and_observing_are_notified_but_not_to_oneself(session: AsyncSession) -> None:
    admin = await make_admin(session)
    anna = await make_user(session)
    boris = await make_user(session)
    lead = await items.create_lead(session, admin, title="Boiler", responsible_id=anna.id)
    assert await _queued(session, anna.id) == [(NotificationCategory.LEAD_ASSIGNED, lead.ref)]

    own = await make_lead(session, anna, title="Mine")
    await items.add_observer(session, anna, own, boris.id)
    await items.change_responsible(session, anna, own, boris.id)
    assert await _queued(session, boris.id) == [
        (NotificationCategory.OBSERVER_ADDED, own.ref),
        (NotificationCategory.RESPONSIBLE_ASSIGNED, own.ref),
    ]
    # Anna did these herself: nothing more for her than the first assignment.
    assert len(await _queued(session, anna.id)) == 1


async def test_muted_category_is_not_queued(session: AsyncSession) -> None:
    admin = await make_admin(session)
    anna = await make_user(session)
    await mute_category(session, anna, NotificationCategory.RESPONSIBLE_ASSIGNED)
    deal = await items.create_deal(session, admin, title="Roof", responsible_id=anna.id)
    assert deal.responsible_id == anna.id
    assert await _queued(session, anna.id) == []
