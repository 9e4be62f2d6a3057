"""Tasks created from items: title, description, responsible, deadline and Bitrix24's statuses.

Who may change a task: its responsible, its creator, or anyone who may edit the owner item.
Statuses set by people: viewed, in progress, waiting, awaiting control, has result, completed.
Set by the system: new (on creation/reassignment), deadline changed (on a deadline change),
overdue (the scheduler's `mark_overdue_tasks`). Every status or deadline change is in the timeline;
assigning notifies the responsible, a status change notifies the other party (outbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields.kinds import fit_offset
from crm_core.models.activities import Task, TaskStatus
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.notifications import NotificationCategory
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import can_view, ensure_active, ensure_can_edit, ensure_can_view
from crm_core.services.activities import UNSET, ensure_user, load_item, touch_item
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event

MANUAL_STATUSES = frozenset(
    {
        TaskStatus.VIEWED,
        TaskStatus.IN_PROGRESS,
        TaskStatus.WAITING,
        TaskStatus.AWAITING_CONTROL,
        TaskStatus.HAS_RESULT,
        TaskStatus.COMPLETED,
    }
)
OPEN_STATUSES = tuple(s for s in TaskStatus if s != TaskStatus.COMPLETED)


def _now(now: datetime | None) -> datetime:
    return ensure_utc(now) if now else utcnow()


def _deadline(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed("a date and time with a timezone is required", field="deadline")
    return ensure_utc(value)


def _payload(task: Task, **extra: Any) -> dict[str, Any]:
    return {"task_id": task.id, "title": task.title, "responsible_id": task.responsible_id, **extra}


async def _event(
    session: AsyncSession,
    task: Task,
    event_type: EventType,
    author_id: int | None,
    now: datetime,
    **extra: Any,
) -> None:
    await add_event(
        session,
        owner_type=task.owner_type,
        owner_id=task.owner_id,
        event_type=event_type,
        author_id=author_id,
        payload=_payload(task, **extra),
        at=now,
    )


async def _load(session: AsyncSession, task_id: int) -> tuple[Task, AnyItem]:
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound("task", task_id=task_id)
    return task, await load_item(session, task.owner_type, task.owner_id)


async def _for_change(session: AsyncSession, actor: User, task_id: int) -> tuple[Task, AnyItem]:
    ensure_active(actor)
    task, item = await _load(session, task_id)
    if item.deleted_at is not None:
        raise NotFound("item", ref=item.ref)
    if actor.id in (task.responsible_id, task.created_by_id):
        return task, item
    await ensure_can_edit(session, actor, item)
    return task, item


async def get_task(session: AsyncSession, actor: User, task_id: int) -> Task:
    ensure_active(actor)
    task, item = await _load(session, task_id)
    if actor.id not in (task.responsible_id, task.created_by_id):
        await ensure_can_view(session, actor, item)
    return task


async def create_task(
    session: AsyncSession,
    actor: User,
    *,
    owner_type: ItemType | str,
    owner_id: int,
    title: str,
    description: str = "",
    responsible_id: int | None = None,
    deadline: datetime | None = None,
    now: datetime | None = None,
) -> Task:
    ensure_active(actor)
    now = _now(now)
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_edit(session, actor, item)
    title = (title or "").strip()
    if not title:
        raise ValidationFailed("a task needs a title", field="title")
    if len(title) > 500:
        raise ValidationFailed("title too long", field="title", max=500)
    responsible_id = responsible_id or actor.id
    await ensure_user(session, responsible_id)
    # A task one sets for oneself is seen already.
    status = TaskStatus.VIEWED if responsible_id == actor.id else TaskStatus.NEW
    task = Task(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        title=title,
        description=description or "",
        responsible_id=responsible_id,
        created_by_id=actor.id,
        deadline=_deadline(deadline),
        status=status,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    await session.flush()
    await _event(session, task, EventType.TASK_CREATED, actor.id, now, deadline=task.deadline, status=status)
    await touch_item(session, item, now)
    if responsible_id != actor.id:
        await _notify_assigned(session, task, actor, now)
    return task


async def _notify_assigned(session: AsyncSession, task: Task, actor: User, now: datetime) -> None:
    await notify(
        session,
        task.responsible_id,
        NotificationCategory.TASK_ASSIGNED,
        {
            "task_id": task.id,
            "title": task.title,
            "owner_type": str(task.owner_type),
            "owner_id": task.owner_id,
            "deadline": task.deadline.isoformat() if task.deadline else None,
            "by": actor.id,
        },
        now=now,
    )


async def _set_status(
    session: AsyncSession, task: Task, status: TaskStatus, author_id: int | None, now: datetime, **extra: Any
) -> bool:
    old = TaskStatus(task.status)
    if old == status:
        return False
    task.status = status
    task.status_changed_at = now
    task.updated_at = now
    task.completed_at = now if status == TaskStatus.COMPLETED else None
    await session.flush()
    await _event(session, task, EventType.TASK_STATUS_CHANGED, author_id, now, old=old, new=status, **extra)
    return True


async def view_task(session: AsyncSession, actor: User, task_id: int, *, now: datetime | None = None) -> Task:
    """Open a task; the responsible opening a new task moves it to "viewed"."""
    now = _now(now)
    task = await get_task(session, actor, task_id)
    if actor.id == task.responsible_id and task.status == TaskStatus.NEW:
        await _set_status(session, task, TaskStatus.VIEWED, actor.id, now)
    return task


async def change_task_status(
    session: AsyncSession, actor: User, task_id: int, status: TaskStatus | str, *, now: datetime | None = None
) -> Task:
    now = _now(now)
    try:
        status = TaskStatus(status)
    except ValueError as exc:
        raise ValidationFailed("unknown task status", field="status", value=str(status)) from exc
    if status not in MANUAL_STATUSES:
        raise ValidationFailed("this status is set by the system", field="status", value=status.value)
    task, item = await _for_change(session, actor, task_id)
    old = TaskStatus(task.status)
    if not await _set_status(session, task, status, actor.id, now):
        return task
    await touch_item(session, item, now)
    for user_id in {task.created_by_id, task.responsible_id} - {actor.id, None}:
        await notify(
            session,
            user_id,
            NotificationCategory.TASK_STATUS_CHANGED,
            {"task_id": task.id, "title": task.title, "old": old.value, "new": status.value, "by": actor.id},
            now=now,
        )
    return task


async def complete_task(
    session: AsyncSession, actor: User, task_id: int, *, now: datetime | None = None
) -> Task:
    return await change_task_status(session, actor, task_id, TaskStatus.COMPLETED, now=now)


async def change_task_deadline(
    session: AsyncSession,
    actor: User,
    task_id: int,
    deadline: datetime | None,
    *,
    now: datetime | None = None,
) -> Task:
    """New deadline (None removes it); an open task gets the status "deadline changed"."""
    now = _now(now)
    deadline = _deadline(deadline)
    task, item = await _for_change(session, actor, task_id)
    old = task.deadline
    if old == deadline:
        return task
    task.deadline = deadline
    task.updated_at = now
    await session.flush()
    await _event(session, task, EventType.TASK_DEADLINE_CHANGED, actor.id, now, old=old, new=deadline)
    if task.status != TaskStatus.COMPLETED:
        await _set_status(session, task, TaskStatus.DEADLINE_CHANGED, actor.id, now)
    await touch_item(session, item, now)
    if task.responsible_id != actor.id:
        await notify(
            session,
            task.responsible_id,
            NotificationCategory.TASK_STATUS_CHANGED,
            {
                "task_id": task.id,
                "title": task.title,
                "deadline": deadline.isoformat() if deadline else None,
                "by": actor.id,
            },
            now=now,
        )
    return task


async def update_task(
    session: AsyncSession,
    actor: User,
    task_id: int,
    *,
    title: str | None = None,
    description: str | None = None,
    responsible_id: int | None = None,
    deadline: datetime | None = UNSET,
    now: datetime | None = None,
) -> Task:
    """Edit a task. A new responsible gets the task as new (and a notification)."""
    now = _now(now)
    task, item = await _for_change(session, actor, task_id)
    if title is not None:
        title = title.strip()
        if not title or len(title) > 500:
            raise ValidationFailed("bad title", field="title", max=500)
        task.title = title
    if description is not None:
        task.description = description
    if responsible_id is not None and responsible_id != task.responsible_id:
        await ensure_user(session, responsible_id)
        old_responsible = task.responsible_id
        task.responsible_id = responsible_id
        if task.status != TaskStatus.COMPLETED:
            new_status = TaskStatus.VIEWED if responsible_id == actor.id else TaskStatus.NEW
            await _set_status(
                session, task, new_status, actor.id, now, responsible=[old_responsible, responsible_id]
            )
        if responsible_id != actor.id:
            await _notify_assigned(session, task, actor, now)
    task.updated_at = now
    await session.flush()
    if deadline is not UNSET:
        await change_task_deadline(session, actor, task_id, deadline, now=now)
    return task


async def list_item_tasks(
    session: AsyncSession,
    actor: User,
    owner_type: ItemType | str,
    owner_id: int,
    *,
    include_completed: bool = True,
) -> list[Task]:
    """An item's tasks: open ones by deadline (none last), then completed."""
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    stmt = select(Task).where(Task.owner_type == ItemType(owner_type), Task.owner_id == owner_id)
    if not include_completed:
        stmt = stmt.where(Task.status != TaskStatus.COMPLETED)
    rows = list(await session.scalars(stmt.order_by(Task.id)))
    far = datetime.max.replace(tzinfo=ensure_utc(utcnow()).tzinfo)
    rows.sort(key=lambda t: (t.status == TaskStatus.COMPLETED, t.deadline or far, t.id))
    return rows


async def list_my_tasks(
    session: AsyncSession, actor: User, *, open_only: bool = True, limit: int = 50, offset: int = 0
) -> list[Task]:
    """Tasks where the actor is responsible, nearest deadline first."""
    stmt = select(Task).where(Task.responsible_id == actor.id)
    if open_only:
        stmt = stmt.where(Task.status.in_(OPEN_STATUSES))
    stmt = stmt.order_by(Task.deadline.is_(None), Task.deadline, Task.id)
    stmt = stmt.limit(limit).offset(fit_offset(offset))
    return list(await session.scalars(stmt))


async def mark_overdue_tasks(
    session: AsyncSession, *, now: datetime | None = None, limit: int = 500
) -> list[Task]:
    """The scheduler's sweep: open tasks past their deadline become "overdue" (timeline + a
    notification to the responsible, deduplicated per task and deadline)."""
    now = _now(now)
    stmt = (
        select(Task)
        .where(
            Task.status.in_([s for s in OPEN_STATUSES if s != TaskStatus.OVERDUE]),
            Task.deadline.is_not(None),
            Task.deadline < now,
        )
        .order_by(Task.deadline, Task.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    tasks = list(await session.scalars(stmt))
    for task in tasks:
        await _set_status(session, task, TaskStatus.OVERDUE, None, now)
        await notify(
            session,
            task.responsible_id,
            NotificationCategory.OVERDUE,
            {
                "task_id": task.id,
                "title": task.title,
                "owner_type": str(task.owner_type),
                "owner_id": task.owner_id,
            },
            dedupe_key=f"task-overdue:{task.id}:{ensure_utc(task.deadline).isoformat()}",
            now=now,
        )
    return tasks


async def may_see_task(session: AsyncSession, user: User, task: Task) -> bool:
    if user.id in (task.responsible_id, task.created_by_id):
        return True
    item = await load_item(session, task.owner_type, task.owner_id)
    return await can_view(session, user, item)
