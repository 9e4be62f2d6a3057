"""Tasks: creation, statuses, deadline changes, overdue sweep, timeline and notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, ValidationFailed
from crm_core.models.activities import TaskStatus
from crm_core.models.notifications import Notification
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import tasks as svc
from tests.core.factories import make_lead, make_user

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def timeline(session, item, *types):
    rows = await session.scalars(
        select(TimelineEvent)
        .where(
            TimelineEvent.owner_type == item.ITEM_TYPE,
            TimelineEvent.owner_id == item.id,
            TimelineEvent.event_type.in_(types),
        )
        .order_by(TimelineEvent.id)
    )
    return list(rows)


async def notes(session, user):
    return list(
        await session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    )


async def test_create_assigns_and_notifies_the_responsible(session):
    boss = await make_user(session)
    worker = await make_user(session)
    lead = await make_lead(session, boss)
    task = await svc.create_task(
        session,
        boss,
        owner_type="lead",
        owner_id=lead.id,
        title="  Send the offer ",
        responsible_id=worker.id,
        deadline=NOW + timedelta(days=1),
        now=NOW,
    )
    assert task.title == "Send the offer" and task.status == TaskStatus.NEW
    [event] = await timeline(session, lead, EventType.TASK_CREATED)
    assert event.payload["task_id"] == task.id and event.author_id == boss.id
    [note] = await notes(session, worker)
    assert note.category == "task_assigned" and note.payload["task_id"] == task.id
    assert await notes(session, boss) == []

    own = await svc.create_task(session, boss, owner_type="lead", owner_id=lead.id, title="Mine", now=NOW)
    assert own.status == TaskStatus.VIEWED and own.responsible_id == boss.id


async def test_validation_and_access(session):
    owner = await make_user(session)
    stranger = await make_user(session)
    lead = await make_lead(session, owner)
    with pytest.raises(ValidationFailed):
        await svc.create_task(session, owner, owner_type="lead", owner_id=lead.id, title="   ")
    with pytest.raises(ValidationFailed):
        await svc.create_task(
            session, owner, owner_type="lead", owner_id=lead.id, title="x", deadline=datetime(2026, 1, 1)
        )
    with pytest.raises(AccessDenied):
        await svc.create_task(session, stranger, owner_type="lead", owner_id=lead.id, title="x")
    task = await svc.create_task(session, owner, owner_type="lead", owner_id=lead.id, title="x", now=NOW)
    with pytest.raises(AccessDenied):
        await svc.change_task_status(session, stranger, task.id, "in_progress", now=NOW)
    with pytest.raises(AccessDenied):
        await svc.get_task(session, stranger, task.id)


async def test_status_flow_with_timeline_and_notifications(session):
    boss = await make_user(session)
    worker = await make_user(session)  # not an observer: the task's responsible may still work on it
    lead = await make_lead(session, boss)
    task = await svc.create_task(
        session, boss, owner_type="lead", owner_id=lead.id, title="Call", responsible_id=worker.id, now=NOW
    )
    # The creator looking at it changes nothing; the responsible opening it marks it viewed.
    await svc.view_task(session, boss, task.id, now=NOW)
    assert task.status == TaskStatus.NEW
    await svc.view_task(session, worker, task.id, now=NOW)
    assert task.status == TaskStatus.VIEWED
    for status in ("in_progress", "waiting", "in_progress", "has_result", "awaiting_control"):
        await svc.change_task_status(session, worker, task.id, status, now=NOW)
    await svc.complete_task(session, boss, task.id, now=NOW + timedelta(hours=1))
    assert task.status == TaskStatus.COMPLETED and task.completed_at == NOW + timedelta(hours=1)

    changes = await timeline(session, lead, EventType.TASK_STATUS_CHANGED)
    assert [(e.payload["old"], e.payload["new"]) for e in changes] == [
        ("new", "viewed"),
        ("viewed", "in_progress"),
        ("in_progress", "waiting"),
        ("waiting", "in_progress"),
        ("in_progress", "has_result"),
        ("has_result", "awaiting_control"),
        ("awaiting_control", "completed"),
    ]
    # The creator hears about the worker's changes, the worker about the creator's.
    assert len([n for n in await notes(session, boss) if n.category == "task_status_changed"]) == 5
    assert [
        n.payload["new"] for n in await notes(session, worker) if n.category == "task_status_changed"
    ] == ["completed"]
    # Reopening is a status change too.
    await svc.change_task_status(session, boss, task.id, TaskStatus.IN_PROGRESS, now=NOW)
    assert task.completed_at is None


async def test_system_statuses_cannot_be_set_by_hand(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    task = await svc.create_task(session, user, owner_type="lead", owner_id=lead.id, title="x", now=NOW)
    for status in ("new", "overdue", "deadline_changed", "nonsense"):
        with pytest.raises(ValidationFailed):
            await svc.change_task_status(session, user, task.id, status, now=NOW)


async def test_deadline_change_and_overdue_sweep(session):
    boss = await make_user(session)
    worker = await make_user(session)
    lead = await make_lead(session, boss)
    task = await svc.create_task(
        session,
        boss,
        owner_type="lead",
        owner_id=lead.id,
        title="Contract",
        responsible_id=worker.id,
        deadline=NOW + timedelta(hours=2),
        now=NOW,
    )
    other = await svc.create_task(
        session,
        boss,
        owner_type="lead",
        owner_id=lead.id,
        title="later",
        deadline=NOW + timedelta(days=5),
        now=NOW,
    )
    assert await svc.mark_overdue_tasks(session, now=NOW + timedelta(hours=1)) == []
    swept = await svc.mark_overdue_tasks(session, now=NOW + timedelta(hours=3))
    assert [t.id for t in swept] == [task.id] and task.status == TaskStatus.OVERDUE
    # Idempotent: no second sweep, no second notification.
    assert await svc.mark_overdue_tasks(session, now=NOW + timedelta(hours=4)) == []
    assert len([n for n in await notes(session, worker) if n.category == "overdue"]) == 1

    new_deadline = NOW + timedelta(days=1)
    await svc.change_task_deadline(session, boss, task.id, new_deadline, now=NOW + timedelta(hours=4))
    assert task.deadline == new_deadline and task.status == TaskStatus.DEADLINE_CHANGED
    [event] = await timeline(session, lead, EventType.TASK_DEADLINE_CHANGED)
    assert event.payload["new"] == new_deadline.isoformat()
    assert event.payload["old"] == (NOW + timedelta(hours=2)).isoformat()
    # Overdue again for the new deadline: a new notification.
    await svc.mark_overdue_tasks(session, now=new_deadline + timedelta(minutes=1))
    assert len([n for n in await notes(session, worker) if n.category == "overdue"]) == 2
    assert other.status == TaskStatus.VIEWED


async def test_reassign_and_lists(session):
    boss = await make_user(session)
    a = await make_user(session)
    b = await make_user(session)
    lead = await make_lead(session, boss)
    t1 = await svc.create_task(
        session,
        boss,
        owner_type="lead",
        owner_id=lead.id,
        title="one",
        responsible_id=a.id,
        deadline=NOW + timedelta(days=2),
        now=NOW,
    )
    t2 = await svc.create_task(
        session,
        boss,
        owner_type="lead",
        owner_id=lead.id,
        title="two",
        responsible_id=a.id,
        deadline=NOW + timedelta(days=1),
        now=NOW,
    )
    await svc.update_task(session, boss, t1.id, responsible_id=b.id, title="one!", now=NOW)
    assert t1.responsible_id == b.id and t1.status == TaskStatus.NEW and t1.title == "one!"
    assert [n.payload["task_id"] for n in await notes(session, b)] == [t1.id]
    assert [t.id for t in await svc.list_my_tasks(session, a)] == [t2.id]
    await svc.complete_task(session, a, t2.id, now=NOW)
    assert await svc.list_my_tasks(session, a) == []
    listed = await svc.list_item_tasks(session, boss, "lead", lead.id)
    assert [t.id for t in listed] == [t1.id, t2.id]
