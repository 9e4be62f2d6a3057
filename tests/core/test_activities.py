"""Activities: creation, changes, completion, reopen, reschedule/snooze, timeline, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, NotFound, ValidationFailed
from crm_core.models.activities import (
    Activity,
    ActivityDirection,
    ActivityReminder,
    ActivityType,
    ReminderKind,
    ReminderState,
)
from crm_core.models.items import ItemType, Lead
from crm_core.models.notifications import Notification
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role
from crm_core.services import activities as svc
from tests.core.factories import make_admin, make_contact, make_deal, make_lead, make_user

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def events(session, item, event_type):
    rows = await session.scalars(
        select(TimelineEvent)
        .where(
            TimelineEvent.owner_type == item.ITEM_TYPE,
            TimelineEvent.owner_id == item.id,
            TimelineEvent.event_type == event_type,
        )
        .order_by(TimelineEvent.id)
    )
    return list(rows)


async def live_reminders(session, activity_id):
    rows = await session.scalars(
        select(ActivityReminder)
        .where(
            ActivityReminder.activity_id == activity_id,
            ActivityReminder.state.in_([ReminderState.PENDING, ReminderState.CLAIMED]),
        )
        .order_by(ActivityReminder.due_at)
    )
    return list(rows)


async def test_create_writes_timeline_touches_item_and_schedules_reminders(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    deadline = NOW + timedelta(hours=3)
    act = await svc.create_activity(
        session,
        user,
        owner_type=ItemType.LEAD,
        owner_id=lead.id,
        deadline=deadline,
        type="meeting",
        subject="Demo",
        now=NOW,
    )
    assert act.type == ActivityType.MEETING
    assert act.direction == ActivityDirection.PLANNED
    assert act.responsible_id == user.id and act.created_by_id == user.id
    assert not act.completed
    [event] = await events(session, lead, EventType.ACTIVITY_CREATED)
    assert event.payload["activity_id"] == act.id and event.payload["subject"] == "Demo"
    await session.refresh(lead)
    assert lead.last_activity_at == NOW
    rows = await live_reminders(session, act.id)
    got = sorted((r.kind, r.offset_minutes, r.due_at) for r in rows)
    assert got == sorted(
        [
            (ReminderKind.REMINDER, 15, deadline - timedelta(minutes=15)),
            (ReminderKind.REMINDER, 0, deadline),
            (ReminderKind.OVERDUE, 0, deadline),
        ]
    )
    assert all(r.user_id == user.id for r in rows)


async def test_deadline_must_be_aware_and_type_known(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    with pytest.raises(ValidationFailed):
        await svc.create_activity(
            session, user, owner_type="lead", owner_id=lead.id, deadline=datetime(2026, 3, 10, 12, 0)
        )
    with pytest.raises(ValidationFailed):
        await svc.create_activity(
            session, user, owner_type="lead", owner_id=lead.id, deadline=NOW, type="fax", now=NOW
        )
    with pytest.raises(ValidationFailed):
        await svc.create_activity(
            session, user, owner_type="lead", owner_id=lead.id, deadline=NOW, reminder_offsets=[10081]
        )


async def test_create_requires_edit_right_on_the_item(session):
    owner = await make_user(session)
    stranger = await make_user(session)
    lead = await make_lead(session, owner)
    with pytest.raises(AccessDenied):
        await svc.create_activity(
            session, stranger, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(hours=1), now=NOW
        )
    with pytest.raises(NotFound):
        await svc.create_activity(
            session, owner, owner_type="lead", owner_id=lead.id + 999, deadline=NOW, now=NOW
        )
    assert await session.scalar(select(Activity.id)) is None


async def test_complete_cancels_reminders_and_reopen_recreates_future_ones(session):
    user = await make_user(session)
    deal = await make_deal(session, user)
    deadline = NOW + timedelta(days=1)
    act = await svc.create_activity(
        session, user, owner_type="deal", owner_id=deal.id, deadline=deadline, now=NOW
    )
    assert len(await live_reminders(session, act.id)) == 3
    later = NOW + timedelta(hours=1)
    done = await svc.complete_activity(session, user, act.id, now=later)
    assert done.completed and done.completed_at == later and done.completed_by_id == user.id
    assert await live_reminders(session, act.id) == []
    [event] = await events(session, deal, EventType.ACTIVITY_COMPLETED)
    assert event.author_id == user.id
    # A second tap changes nothing.
    await svc.complete_activity(session, user, act.id, now=later)
    assert len(await events(session, deal, EventType.ACTIVITY_COMPLETED)) == 1

    reopened = await svc.reopen_activity(session, user, act.id, now=later)
    assert not reopened.completed and reopened.completed_at is None
    assert len(await live_reminders(session, act.id)) == 3
    changed = await events(session, deal, EventType.ACTIVITY_CHANGED)
    assert changed[-1].payload["changes"] == {"completed": [True, False]}


async def test_reopen_after_deadline_passed_creates_no_past_reminders(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    act = await svc.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(hours=1), now=NOW
    )
    await svc.complete_activity(session, user, act.id, now=NOW)
    await svc.reopen_activity(session, user, act.id, now=NOW + timedelta(hours=2))
    assert await live_reminders(session, act.id) == []


async def test_reschedule_moves_pending_reminders_in_the_same_transaction(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    act = await svc.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(hours=2), now=NOW
    )
    before = {r.id for r in await live_reminders(session, act.id)}
    new_deadline = NOW + timedelta(days=2)
    await svc.reschedule_activity(session, user, act.id, new_deadline, now=NOW)
    rows = await live_reminders(session, act.id)
    assert {r.id for r in rows} == before  # moved, not duplicated
    assert sorted(r.due_at for r in rows) == sorted(
        [new_deadline - timedelta(minutes=15), new_deadline, new_deadline]
    )
    [event] = await events(session, lead, EventType.ACTIVITY_CHANGED)
    assert event.payload["changes"]["deadline"] == [
        (NOW + timedelta(hours=2)).isoformat(),
        new_deadline.isoformat(),
    ]
    # Into the past: every pending reminder is cancelled.
    await svc.reschedule_activity(session, user, act.id, NOW - timedelta(hours=1), now=NOW)
    assert await live_reminders(session, act.id) == []


async def test_snooze_presets(session):
    user = await make_user(session, timezone="Europe/Moscow")
    lead = await make_lead(session, user)
    deadline = NOW + timedelta(minutes=10)  # 12:10 Moscow
    act = await svc.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=deadline, now=NOW
    )
    await svc.snooze_activity(session, user, act.id, "15m", now=NOW)
    assert act.deadline == deadline + timedelta(minutes=15)
    # The deadline passed: +1 h counts from now.
    late = act.deadline + timedelta(minutes=30)
    await svc.snooze_activity(session, user, act.id, "1h", now=late)
    assert act.deadline == late + timedelta(hours=1)
    # Tomorrow (Moscow) at 10:00, the start of the working day.
    await svc.snooze_activity(session, user, act.id, "tomorrow", now=late)
    local = act.deadline.astimezone(ZoneInfo("Europe/Moscow"))
    assert local.date() == late.astimezone(ZoneInfo("Europe/Moscow")).date() + timedelta(days=1)
    assert (local.hour, local.minute) == (10, 0)
    with pytest.raises(ValidationFailed):
        await svc.snooze_activity(session, user, act.id, "someday", now=late)


async def test_update_fields_and_responsible(session):
    user = await make_user(session)
    other = await make_user(session)
    lead = await make_lead(session, user)
    act = await svc.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(hours=5), now=NOW
    )
    await svc.update_activity(
        session, user, act.id, description="Call back", type="email", responsible_id=other.id, now=NOW
    )
    assert act.type == ActivityType.EMAIL and act.description == "Call back"
    [event] = await events(session, lead, EventType.ACTIVITY_CHANGED)
    assert set(event.payload["changes"]) == {"description", "type", "responsible_id"}
    # Reminders now go to the new responsible, who is notified.
    assert {r.user_id for r in await live_reminders(session, act.id)} == {other.id}
    note = await session.scalar(select(Notification).where(Notification.user_id == other.id))
    assert note is not None and note.payload["activity_id"] == act.id
    # Nothing changed: no event.
    await svc.update_activity(session, user, act.id, description="Call back", now=NOW)
    assert len(await events(session, lead, EventType.ACTIVITY_CHANGED)) == 1


async def test_open_activities_nearest_first_and_view_access(session):
    user = await make_user(session)
    stranger = await make_user(session)
    lead = await make_lead(session, user)
    times = [NOW + timedelta(hours=h) for h in (5, 1, 3)]
    acts = [
        await svc.create_activity(session, user, owner_type="lead", owner_id=lead.id, deadline=t, now=NOW)
        for t in times
    ]
    await svc.complete_activity(session, user, acts[2].id, now=NOW)
    listed = await svc.list_open_activities(session, user, "lead", lead.id)
    assert [a.id for a in listed] == [acts[1].id, acts[0].id]
    with pytest.raises(AccessDenied):
        await svc.list_open_activities(session, stranger, "lead", lead.id)
    with pytest.raises(AccessDenied):
        await svc.complete_activity(session, stranger, acts[0].id, now=NOW)
    everything = await svc.list_activities(session, user, "lead", lead.id)
    assert [a.id for a in everything] == [acts[1].id, acts[0].id, acts[2].id]


async def test_contact_activity_has_no_last_activity_column_and_still_works(session):
    user = await make_user(session)
    contact = await make_contact(session, user)
    act = await svc.create_activity(
        session, user, owner_type="contact", owner_id=contact.id, deadline=NOW + timedelta(hours=1), now=NOW
    )
    await svc.complete_activity(session, user, act.id, now=NOW)
    assert act.completed


async def test_incoming_activity_is_due_now_for_the_item_responsible(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    act = await svc.create_incoming_activity(
        session, owner_type="lead", owner_id=lead.id, subject="Hello from client", now=NOW
    )
    assert act.direction == ActivityDirection.INCOMING
    assert act.deadline == NOW and act.responsible_id == user.id
    [event] = await events(session, lead, EventType.ACTIVITY_CREATED)
    assert event.author_id is None


async def test_delete_removes_activity_and_its_reminders(session):
    admin = await make_admin(session)
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user)
    act = await svc.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(hours=1), now=NOW
    )
    await svc.delete_activity(session, admin, act.id, now=NOW)
    assert await session.get(Activity, act.id) is None
    assert (
        await session.scalar(select(ActivityReminder.id).where(ActivityReminder.activity_id == act.id))
        is None
    )
    [event] = await events(session, lead, EventType.ACTIVITY_CHANGED)
    assert event.payload["deleted"] is True
    assert (await session.get(Lead, lead.id)).last_activity_at == NOW
