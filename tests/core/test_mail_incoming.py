"""An incoming email activity waits until it is completed or a next activity is planned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core.models.activities import Activity, ActivityType
from crm_core.services import activities as svc
from tests.core.factories import make_contact, make_user

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def test_planning_the_next_activity_closes_the_incoming_email(session) -> None:
    sales = await make_user(session)
    contact = await make_contact(session, sales)
    email = await svc.create_incoming_activity(
        session,
        owner_type=contact.ITEM_TYPE,
        owner_id=contact.id,
        type=ActivityType.EMAIL,
        subject="Hi",
        now=NOW,
    )
    message = await svc.create_incoming_activity(
        session, owner_type=contact.ITEM_TYPE, owner_id=contact.id, type=ActivityType.MESSAGE, now=NOW
    )
    assert not email.completed
    await svc.create_activity(
        session,
        sales,
        owner_type=contact.ITEM_TYPE,
        owner_id=contact.id,
        deadline=NOW + timedelta(days=1),
        type=ActivityType.CALL,
        now=NOW + timedelta(minutes=5),
    )
    closed = await session.get(Activity, email.id)
    assert closed.completed and closed.completed_by_id == sales.id
    assert closed.completed_at == NOW + timedelta(minutes=5)
    assert not (await session.get(Activity, message.id)).completed  # other incoming kinds: unchanged
