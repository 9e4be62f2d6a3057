"""Activities ("дела") of items: create, change, complete, reopen, reschedule/snooze, delete, list.

Every change is access-checked on the owner item (edit right), writes a timeline event, bumps the
item's `last_activity_at` (leads and deals have one) and keeps the reminder rows in step, all in
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.db import hold
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.activities import Activity, ActivityDirection, ActivityType
from crm_core.models.items import ITEM_MODELS, AnyItem, ItemType
from crm_core.models.notifications import NotificationCategory
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_active, ensure_can_edit, ensure_can_view
from crm_core.services import reminders as reminder_service
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event
from crm_core.services.when import tomorrow_at

UNSET: Any = object()

SNOOZE_PRESETS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}
SUBJECT_MAX = 500  # the activities.subject column


def check_subject(subject: str) -> str:
    """The subject as it is, or ValidationFailed if it is longer than the column: refused, not cut."""
    if len(subject) > SUBJECT_MAX:
        raise ValidationFailed("subject too long", field="subject", max=SUBJECT_MAX)
    return subject


# --- helpers shared by activities, tasks and comments ------------------------------------------


async def load_item(
    session: AsyncSession, owner_type: ItemType | str, owner_id: int, *, for_update: bool = False
) -> AnyItem:
    """The owner item, or NotFound. `for_update` locks its row (PostgreSQL) to serialise writers."""
    try:
        model = ITEM_MODELS[ItemType(owner_type)]
    except ValueError as exc:
        raise ValidationFailed("unknown item type", field="owner_type", value=str(owner_type)) from exc
    if for_update and session.get_bind().dialect.name == "postgresql":
        item = await session.scalar(select(model).where(model.id == owner_id).with_for_update())
    else:
        item = await session.get(model, owner_id)  # already loaded in this unit of work: no query
    if item is None:
        raise NotFound("item", owner_type=str(owner_type), owner_id=owner_id)
    return hold(session, item)


# Built once per item type that has last_activity_at (the values bound at execution).
_TOUCH = {
    item_type: update(model.__table__).where(model.__table__.c.id == bindparam("item_id"))
    for item_type, model in ITEM_MODELS.items()
    if hasattr(model, "last_activity_at")
}


async def touch_item(session: AsyncSession, item: AnyItem, now: datetime) -> None:
    """Record activity on the item (kanban order). A Core UPDATE: it must not bump the item's
    optimistic-concurrency version, which guards people's edits of the item itself."""
    stmt = _TOUCH.get(item.ITEM_TYPE)
    if stmt is None:
        return
    # updated_at given here (not left to its onupdate) so the loaded object can hold the exact value.
    stamp = utcnow()
    await session.execute(stmt, {"item_id": item.id, "last_activity_at": now, "updated_at": stamp})
    set_committed_value(item, "last_activity_at", now)  # keep the loaded object in step, not dirty
    set_committed_value(item, "updated_at", stamp)


async def ensure_user(session: AsyncSession, user_id: int, *, field: str = "responsible_id") -> User:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise ValidationFailed("no such active user", field=field, user_id=user_id)
    return user


async def _clear_focus(session: AsyncSession, item: AnyItem) -> None:
    stamp = await reminder_service.clear_focus_if_handled(session, item.ITEM_TYPE, item.id)
    if stamp is not None:
        set_committed_value(item, "focused_at", None)
        set_committed_value(item, "updated_at", stamp)


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed("a date and time with a timezone is required", field=field)
    return ensure_utc(value)


def _now(now: datetime | None) -> datetime:
    return ensure_utc(now) if now else utcnow()


def _payload(activity: Activity, **extra: Any) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "type": activity.type,
        "subject": activity.subject,
        "deadline": activity.deadline,
        "responsible_id": activity.responsible_id,
        "direction": activity.direction,
        **extra,
    }


# --- reading -----------------------------------------------------------------------------------


async def get_activity(session: AsyncSession, actor: User, activity_id: int) -> Activity:
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity", activity_id=activity_id)
    item = await load_item(session, activity.owner_type, activity.owner_id)
    await ensure_can_view(session, actor, item)
    return activity


async def _for_edit(session: AsyncSession, actor: User, activity_id: int) -> tuple[Activity, AnyItem]:
    activity = await session.get(Activity, activity_id)
    if activity is None:
        raise NotFound("activity", activity_id=activity_id)
    item = await load_item(session, activity.owner_type, activity.owner_id)
    await ensure_can_edit(session, actor, item)
    return activity, item


# Built once (values bound at execution): the card runs it on every render.
_OPEN_ACTIVITIES = (
    select(Activity)
    .where(
        Activity.owner_type == bindparam("owner_type"),
        Activity.owner_id == bindparam("owner_id"),
        Activity.completed.is_(False),
    )
    .order_by(Activity.deadline, Activity.id)
    .limit(bindparam("limit"))
)


async def list_open_activities(
    session: AsyncSession, actor: User, owner_type: ItemType | str, owner_id: int, *, limit: int = 50
) -> list[Activity]:
    """ "What needs to be done": the item's open activities, nearest deadline first."""
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    params = {"owner_type": ItemType(owner_type), "owner_id": owner_id, "limit": limit}
    return list(await session.scalars(_OPEN_ACTIVITIES, params))


async def list_activities(
    session: AsyncSession, actor: User, owner_type: ItemType | str, owner_id: int, *, limit: int = 50
) -> list[Activity]:
    """All activities of an item: open ones (nearest first), then completed (latest first)."""
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    base = select(Activity).where(Activity.owner_type == ItemType(owner_type), Activity.owner_id == owner_id)
    open_rows = await session.scalars(
        base.where(Activity.completed.is_(False)).order_by(Activity.deadline, Activity.id).limit(limit)
    )
    done_rows = await session.scalars(
        base.where(Activity.completed.is_(True))
        .order_by(Activity.completed_at.desc(), Activity.id.desc())
        .limit(limit)
    )
    return list(open_rows) + list(done_rows)


# --- writing -----------------------------------------------------------------------------------


async def create_activity(
    session: AsyncSession,
    actor: User,
    *,
    owner_type: ItemType | str,
    owner_id: int,
    deadline: datetime,
    type: ActivityType | str = ActivityType.CALL,
    subject: str = "",
    description: str = "",
    responsible_id: int | None = None,
    direction: ActivityDirection | str = ActivityDirection.PLANNED,
    reminder_offsets: Sequence[int] | None = None,
    now: datetime | None = None,
) -> Activity:
    """Plan an activity on an item the actor may edit. Responsible defaults to the actor;
    `reminder_offsets` None means "use the defaults" (see services.reminders)."""
    ensure_active(actor)
    now = _now(now)
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_edit(session, actor, item)
    return await _create(
        session,
        item=item,
        author_id=actor.id,
        deadline=_aware(deadline, "deadline"),
        type=type,
        subject=subject,
        description=description,
        responsible_id=responsible_id or actor.id,
        direction=direction,
        reminder_offsets=reminder_offsets,
        now=now,
    )


async def create_incoming_activity(
    session: AsyncSession,
    *,
    owner_type: ItemType | str,
    owner_id: int,
    type: ActivityType | str = ActivityType.MESSAGE,
    subject: str = "",
    description: str = "",
    responsible_id: int | None = None,
    now: datetime | None = None,
) -> Activity:
    """An incoming activity made by the system (a client's message or email): no actor, due at
    once (as in Bitrix24), responsible = the item's responsible unless given."""
    now = _now(now)
    item = await load_item(session, owner_type, owner_id)
    return await _create(
        session,
        item=item,
        author_id=None,
        deadline=now,
        type=type,
        subject=subject,
        description=description,
        responsible_id=responsible_id or item.responsible_id,
        direction=ActivityDirection.INCOMING,
        reminder_offsets=None,
        now=now,
    )


async def _create(
    session: AsyncSession,
    *,
    item: AnyItem,
    author_id: int | None,
    deadline: datetime,
    type: ActivityType | str,
    subject: str,
    description: str,
    responsible_id: int,
    direction: ActivityDirection | str,
    reminder_offsets: Sequence[int] | None,
    now: datetime,
) -> Activity:
    try:
        kind = ActivityType(type)
        direction = ActivityDirection(direction)
    except ValueError as exc:
        raise ValidationFailed("unknown activity type or direction", field="type") from exc
    check_subject(subject)
    await ensure_user(session, responsible_id)
    activity = Activity(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        type=kind,
        subject=subject,
        description=description,
        deadline=deadline,
        responsible_id=responsible_id,
        direction=direction,
        completed=False,
        created_by_id=author_id,
        reminder_offsets=None
        if reminder_offsets is None
        else reminder_service.validate_offsets(reminder_offsets),
        created_at=now,
        updated_at=now,
    )
    session.add(activity)
    await session.flush()
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.ACTIVITY_CREATED,
        author_id=author_id,
        payload=_payload(activity, description=description),
        at=now,
    )
    await touch_item(session, item, now)
    await reminder_service.sync_reminders(session, activity, now=now)
    if direction == ActivityDirection.PLANNED and author_id is not None:
        await _close_incoming_emails(session, item, author_id, now)
    if author_id is not None and responsible_id != author_id:
        await notify(
            session,
            responsible_id,
            NotificationCategory.ACTIVITY_ASSIGNED,
            {
                "activity_id": activity.id,
                "owner_type": str(item.ITEM_TYPE),
                "owner_id": item.id,
                "by": author_id,
            },
            now=now,
        )
    return activity


async def _close_incoming_emails(session: AsyncSession, item: AnyItem, author_id: int, now: datetime) -> None:
    """Planning the next step closes the item's open incoming emails (as in Bitrix24: an incoming
    activity waits until it is completed or a next activity is planned)."""
    rows = await session.scalars(
        select(Activity).where(
            Activity.owner_type == item.ITEM_TYPE,
            Activity.owner_id == item.id,
            Activity.direction == ActivityDirection.INCOMING,
            Activity.type == ActivityType.EMAIL,
            Activity.completed.is_(False),
        )
    )
    for incoming in list(rows):
        incoming.completed, incoming.completed_at, incoming.completed_by_id = True, now, author_id
        incoming.updated_at = now
        await session.flush()
        await reminder_service.cancel_reminders(session, incoming.id)
        await add_event(
            session,
            owner_type=item.ITEM_TYPE,
            owner_id=item.id,
            event_type=EventType.ACTIVITY_COMPLETED,
            author_id=author_id,
            payload=_payload(incoming),
            at=now,
        )


async def update_activity(
    session: AsyncSession,
    actor: User,
    activity_id: int,
    *,
    subject: str | None = None,
    description: str | None = None,
    type: ActivityType | str | None = None,
    responsible_id: int | None = None,
    reminder_offsets: Sequence[int] | None = UNSET,
    now: datetime | None = None,
) -> Activity:
    """Change fields (None = keep). `reminder_offsets=None` clears the override (back to defaults)."""
    now = _now(now)
    activity, item = await _for_edit(session, actor, activity_id)
    changes: dict[str, list[Any]] = {}
    if subject is not None and subject != activity.subject:
        check_subject(subject)
        changes["subject"] = [activity.subject, subject]
        activity.subject = subject
    if description is not None and description != activity.description:
        changes["description"] = [activity.description, description]
        activity.description = description
    if type is not None:
        try:
            new_type = ActivityType(type)
        except ValueError as exc:
            raise ValidationFailed("unknown activity type", field="type") from exc
        if new_type != activity.type:
            changes["type"] = [activity.type, new_type]
            activity.type = new_type
    resync = False
    if responsible_id is not None and responsible_id != activity.responsible_id:
        await ensure_user(session, responsible_id)
        changes["responsible_id"] = [activity.responsible_id, responsible_id]
        activity.responsible_id = responsible_id
        resync = True
        if responsible_id != actor.id:
            await notify(
                session,
                responsible_id,
                NotificationCategory.ACTIVITY_ASSIGNED,
                {
                    "activity_id": activity.id,
                    "owner_type": str(item.ITEM_TYPE),
                    "owner_id": item.id,
                    "by": actor.id,
                },
                now=now,
            )
    if reminder_offsets is not UNSET:
        clean = None if reminder_offsets is None else reminder_service.validate_offsets(reminder_offsets)
        if clean != activity.reminder_offsets:
            changes["reminder_offsets"] = [activity.reminder_offsets, clean]
            activity.reminder_offsets = clean
            resync = True
    if not changes:
        return activity
    activity.updated_at = now
    await _changed(session, actor, activity, item, now, changes)
    if resync:
        await reminder_service.sync_reminders(session, activity, now=now)
    return activity


async def _changed(
    session: AsyncSession,
    actor: User,
    activity: Activity,
    item: AnyItem,
    now: datetime,
    changes: dict[str, Any],
) -> None:
    await session.flush()
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.ACTIVITY_CHANGED,
        author_id=actor.id,
        payload=_payload(activity, changes=changes),
        at=now,
    )
    await touch_item(session, item, now)


async def complete_activity(
    session: AsyncSession, actor: User, activity_id: int, *, now: datetime | None = None
) -> Activity:
    """Complete an open activity: its pending reminders are cancelled in the same transaction.
    Completing an already completed one changes nothing (a double-tapped button)."""
    now = _now(now)
    activity, item = await _for_edit(session, actor, activity_id)
    if activity.completed:
        return activity
    activity.completed = True
    activity.completed_at = now
    activity.completed_by_id = actor.id
    activity.updated_at = now
    await session.flush()
    await reminder_service.cancel_reminders(session, activity.id)
    await _clear_focus(session, item)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.ACTIVITY_COMPLETED,
        author_id=actor.id,
        payload=_payload(activity),
        at=now,
    )
    await touch_item(session, item, now)
    return activity


async def reopen_activity(
    session: AsyncSession, actor: User, activity_id: int, *, now: datetime | None = None
) -> Activity:
    """Reopen a completed activity; its future reminders are created again."""
    now = _now(now)
    activity, item = await _for_edit(session, actor, activity_id)
    if not activity.completed:
        return activity
    activity.completed = False
    activity.completed_at = None
    activity.completed_by_id = None
    activity.updated_at = now
    await _changed(session, actor, activity, item, now, {"completed": [True, False]})
    await reminder_service.sync_reminders(session, activity, now=now)
    return activity


async def reschedule_activity(
    session: AsyncSession, actor: User, activity_id: int, deadline: datetime, *, now: datetime | None = None
) -> Activity:
    """Move the deadline; pending reminders move with it (or are cancelled if now in the past)."""
    now = _now(now)
    deadline = _aware(deadline, "deadline")
    activity, item = await _for_edit(session, actor, activity_id)
    if activity.completed:
        raise ValidationFailed("the activity is completed", field="deadline", activity_id=activity.id)
    old = activity.deadline
    if deadline == old:
        return activity
    activity.deadline = deadline
    activity.updated_at = now
    await _changed(session, actor, activity, item, now, {"deadline": [old, deadline]})
    await reminder_service.sync_reminders(session, activity, now=now)
    return activity


def snooze_deadline(activity: Activity, preset: str | timedelta, *, now: datetime, timezone: str) -> datetime:
    """The new deadline of a snooze. "15m"/"1h"/a timedelta: that long after the later of now and
    the deadline (a snooze never brings a deadline closer); "tomorrow": tomorrow at 10:00 in the
    user's timezone (the start of a working day, as the reminder's button says)."""
    now = ensure_utc(now)
    base = max(now, ensure_utc(activity.deadline))
    if isinstance(preset, timedelta):
        if preset <= timedelta(0):
            raise ValidationFailed("snooze must be positive", field="snooze")
        return base + preset
    if preset in SNOOZE_PRESETS:
        return base + SNOOZE_PRESETS[preset]
    if preset == "tomorrow":
        return tomorrow_at(now, zone_of(timezone))
    raise ValidationFailed("unknown snooze", field="snooze", value=str(preset))


async def snooze_activity(
    session: AsyncSession,
    actor: User,
    activity_id: int,
    preset: str | timedelta,
    *,
    now: datetime | None = None,
) -> Activity:
    """Snooze from a reminder: +15 min, +1 h or tomorrow (see snooze_deadline)."""
    now = _now(now)
    activity, _item = await _for_edit(session, actor, activity_id)
    new_deadline = snooze_deadline(activity, preset, now=now, timezone=actor.timezone or "UTC")
    return await reschedule_activity(session, actor, activity_id, new_deadline, now=now)


async def delete_activity(
    session: AsyncSession, actor: User, activity_id: int, *, now: datetime | None = None
) -> None:
    """Remove an activity (a mistake); its reminders go with it (cancelled, then cascaded)."""
    now = _now(now)
    activity, item = await _for_edit(session, actor, activity_id)
    await reminder_service.cancel_reminders(session, activity.id)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.ACTIVITY_CHANGED,
        author_id=actor.id,
        payload=_payload(activity, deleted=True),
        at=now,
    )
    await session.delete(activity)
    await session.flush()
    await _clear_focus(session, item)
    await touch_item(session, item, now)
