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


async def test_two_readers_never_claim_one_box_at_once(db) -> None:
    """Several bot processes share the database: a due box is read by one of them; the claim
    lapses after READ_LEASE if that reader died."""
    from crm_core.models.mail import Mailbox, TlsMode
    from crm_core.services.mail import poll

    async with db.unit_of_work() as session:
        sales = await make_user(session)
        box = Mailbox(
            responsible_id=sales.id,
            address="sales@example.com",
            imap_host="imap.example.com",
            imap_port=993,
            imap_tls=TlsMode.SSL,
            smtp_host="smtp.example.com",
            smtp_port=465,
            smtp_tls=TlsMode.SSL,
            login="sales@example.com",
            password_encrypted="x",
            created_at=NOW,
        )
        session.add(box)
        await session.flush()
        box_id = box.id
    assert await poll.claim_due_boxes(db, NOW) == [box_id]
    assert await poll.claim_due_boxes(db, NOW + timedelta(minutes=1)) == []  # another process
    assert await poll.claim_due_boxes(db, NOW + poll.READ_LEASE) == [box_id]  # the reader died
