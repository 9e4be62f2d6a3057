"""Activity reminders: which offsets apply, keeping reminder rows in step with their activity,
and the claim/send/release cycle the scheduler drives.

Offsets (minutes before the deadline) are resolved in this order, the first that is set wins:
  1. the activity's own `reminder_offsets` (an explicit [] means "no reminders");
  2. the responsible user's `User.reminder_offsets`, when it differs from the default [0, 15]
     (the column is NOT NULL with that default, so "equal to the default" reads as "not set");
  3. the default of the item's pipeline (`pipeline_reminder_defaults`, leads and deals only);
  4. [0, 15].

Rows: one `activity_reminders` row per (kind, user, offset). A reminder whose due time has already
passed when it is (re)computed is not created; but when the deadline is in the future and every
configured offset has already passed, one reminder at the deadline (offset 0) is created so the
person still hears about it. The overdue notice is a row of kind `overdue`, due at the deadline:
sent once if the activity is still open then (completing cancels it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import AccessDenied, NotFound, ValidationFailed
from crm_core.models.activities import (
    Activity,
    ActivityReminder,
    PipelineReminderDefault,
    ReminderKind,
    ReminderState,
)
from crm_core.models.items import ITEM_MODELS, Deal, ItemType, Lead, Pipeline
from crm_core.models.users import DEFAULT_REMINDER_OFFSETS, User
from crm_core.services.notifications import claim_leased

REMINDER_CHOICES = (0, 5, 15, 30, 60, 120, 1440)
MAX_OFFSET_MINUTES = 10080  # a week
MAX_OFFSETS = 10
# A reminder claimed later than this after its due time is flagged `late`.
LATE_AFTER = timedelta(minutes=5)
# After this many failed sends a reminder is given up (cancelled).
MAX_ATTEMPTS = 5

LIVE_STATES = (ReminderState.PENDING, ReminderState.CLAIMED)


def validate_offsets(offsets: Iterable[int]) -> list[int]:
    """Whole minutes 0..10080 (a week), at most 10; returned deduplicated, largest first."""
    result: set[int] = set()
    for value in offsets:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed(
                "reminder offset must be whole minutes", field="reminder_offsets", value=value
            )
        if not 0 <= value <= MAX_OFFSET_MINUTES:
            raise ValidationFailed(
                "reminder offset out of range", field="reminder_offsets", value=value, max=MAX_OFFSET_MINUTES
            )
        result.add(value)
    if len(result) > MAX_OFFSETS:
        raise ValidationFailed("too many reminders", field="reminder_offsets", max=MAX_OFFSETS)
    return sorted(result, reverse=True)


async def pipeline_of_owner(session: AsyncSession, owner_type: ItemType, owner_id: int) -> int | None:
    owner_type = ItemType(owner_type)
    if not owner_type.has_stages:
        return None
    model = ITEM_MODELS[owner_type]
    return await session.scalar(select(model.pipeline_id).where(model.id == owner_id))


async def resolve_offsets(session: AsyncSession, activity: Activity) -> list[int]:
    """The reminder offsets that apply to `activity` (see the module docstring for the order)."""
    if activity.reminder_offsets is not None:
        return validate_offsets(activity.reminder_offsets)
    user_offsets = await session.scalar(
        select(User.reminder_offsets).where(User.id == activity.responsible_id)
    )
    if user_offsets is not None and sorted(user_offsets) != sorted(DEFAULT_REMINDER_OFFSETS):
        return validate_offsets(user_offsets)
    pipeline_id = await pipeline_of_owner(session, activity.owner_type, activity.owner_id)
    if pipeline_id is not None:
        offsets = await session.scalar(
            select(PipelineReminderDefault.offsets).where(PipelineReminderDefault.pipeline_id == pipeline_id)
        )
        if offsets is not None:
            return validate_offsets(offsets)
    return validate_offsets(DEFAULT_REMINDER_OFFSETS)


async def set_pipeline_defaults(
    session: AsyncSession,
    actor: User,
    pipeline_id: int,
    offsets: Sequence[int] | None,
    *,
    now: datetime | None = None,
) -> list[int] | None:
    """Admins set (or, with None, clear) a pipeline's default reminder offsets; open future
    activities using the defaults are re-planned at once."""
    if not actor.is_admin:
        raise AccessDenied("only admins change pipeline settings")
    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound("pipeline", pipeline_id=pipeline_id)
    row = await session.get(PipelineReminderDefault, pipeline_id)
    if offsets is None:
        if row is not None:
            await session.delete(row)
            await session.flush()
            await resync_pipeline_defaults(session, pipeline_id, now=now)
        return None
    clean = validate_offsets(offsets)
    if row is None:
        session.add(PipelineReminderDefault(pipeline_id=pipeline_id, offsets=clean))
    else:
        row.offsets = clean
    await session.flush()
    await resync_pipeline_defaults(session, pipeline_id, now=now)
    return clean


def _desired(activity: Activity, offsets: list[int], now: datetime) -> dict[tuple[str, int, int], datetime]:
    """(kind, user_id, offset) -> due_at of the reminders the activity should have from now on."""
    if activity.completed or activity.deadline <= now:
        return {}
    deadline = ensure_utc(activity.deadline)
    user = activity.responsible_id
    wanted: dict[tuple[str, int, int], datetime] = {}
    for offset in offsets:
        due = deadline - timedelta(minutes=offset)
        if due >= now:
            wanted[(ReminderKind.REMINDER.value, user, offset)] = due
    if offsets and not wanted:
        wanted[(ReminderKind.REMINDER.value, user, 0)] = deadline
    wanted[(ReminderKind.OVERDUE.value, user, 0)] = deadline
    return wanted


async def sync_reminders(session: AsyncSession, activity: Activity, *, now: datetime | None = None) -> None:
    """Bring the activity's reminder rows in line with its deadline, responsible, offsets and state.

    Called in the same transaction as every change of those (create, reschedule, complete, reopen,
    delete): pending rows are moved or cancelled at once, missing future ones are created."""
    now = ensure_utc(now) if now else utcnow()
    await session.flush()
    offsets = [] if activity.completed else await resolve_offsets(session, activity)
    wanted = _desired(activity, offsets, now)
    rows = list(
        await session.scalars(
            select(ActivityReminder).where(
                ActivityReminder.activity_id == activity.id, ActivityReminder.state != ReminderState.CANCELLED
            )
        )
    )
    live: dict[tuple[str, int, int], ActivityReminder] = {}
    sent: set[tuple[str, int, int, datetime]] = set()
    for row in rows:
        key = (ReminderKind(row.kind).value, row.user_id, row.offset_minutes)
        if row.state in LIVE_STATES:
            if key in wanted and key not in live:
                live[key] = row
            else:
                row.state = ReminderState.CANCELLED
                row.claimed_until = None
        elif row.state == ReminderState.SENT:
            sent.add((*key, ensure_utc(row.due_at)))
    for key, due in wanted.items():
        row = live.get(key)
        if row is not None:
            if ensure_utc(row.due_at) != due:  # moved: a fresh reminder for the new time
                row.due_at = due
                row.state = ReminderState.PENDING
                row.claimed_until = None
                row.claimed_by = None
                row.attempts = 0
                row.late = False
            continue
        if (*key, due) in sent:  # already delivered for this very deadline (e.g. after reopen)
            continue
        kind, user_id, offset = key
        session.add(
            ActivityReminder(
                activity_id=activity.id,
                user_id=user_id,
                kind=ReminderKind(kind),
                offset_minutes=offset,
                due_at=due,
                state=ReminderState.PENDING,
                attempts=0,
                late=False,
                created_at=now,
            )
        )
    await session.flush()


async def cancel_reminders(session: AsyncSession, activity_id: int) -> None:
    await session.execute(
        update(ActivityReminder)
        .where(ActivityReminder.activity_id == activity_id, ActivityReminder.state.in_(LIVE_STATES))
        .values(state=ReminderState.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session="fetch")
    )


async def pending_reminders(session: AsyncSession, activity_id: int) -> list[ActivityReminder]:
    """Live (pending or claimed) reminders of an activity, soonest first."""
    rows = await session.scalars(
        select(ActivityReminder)
        .where(ActivityReminder.activity_id == activity_id, ActivityReminder.state.in_(LIVE_STATES))
        .order_by(ActivityReminder.due_at, ActivityReminder.id)
    )
    return list(rows)


# --- the scheduler's side -----------------------------------------------------------------------


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_seconds: int, worker_id: str, limit: int
) -> list[ActivityReminder]:
    """Lease due reminders (and ones whose lease expired: the worker died before sending).

    Concurrent claimers never get the same row (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the
    IMMEDIATE transaction holds the write lock). The caller commits, sends, then `mark_sent`."""
    now = ensure_utc(now)
    return await claim_leased(
        session,
        ActivityReminder,
        ActivityReminder.due_at,
        now=now,
        lease_seconds=lease_seconds,
        worker_id=worker_id,
        limit=limit,
        pending=ReminderState.PENDING,
        claimed=ReminderState.CLAIMED,
        extra_values={"late": case((ActivityReminder.due_at < now - LATE_AFTER, True), else_=False)},
    )


async def activities_for(session: AsyncSession, reminders: Sequence[ActivityReminder]) -> dict[int, Activity]:
    """The activities of claimed reminders, in one query (for composing the messages)."""
    ids = {r.activity_id for r in reminders}
    if not ids:
        return {}
    rows = await session.scalars(select(Activity).where(Activity.id.in_(ids)))
    return {a.id: a for a in rows}


async def mark_sent(session: AsyncSession, reminder_ids: Sequence[int], now: datetime) -> int:
    """Mark claimed reminders sent and put their items in focus (top of the kanban column).

    Rows cancelled or moved meanwhile (the activity was completed or rescheduled) are left alone.
    Returns how many were marked."""
    now = ensure_utc(now)
    ids = list(reminder_ids)
    if not ids:
        return 0
    result = await session.execute(
        update(ActivityReminder)
        .where(ActivityReminder.id.in_(ids), ActivityReminder.state == ReminderState.CLAIMED)
        .values(state=ReminderState.SENT, sent_at=now, claimed_until=None)
        .execution_options(synchronize_session="fetch")
    )
    for model in (Lead, Deal):
        owners = (
            select(Activity.owner_id)
            .join(ActivityReminder, ActivityReminder.activity_id == Activity.id)
            .where(
                ActivityReminder.id.in_(ids),
                ActivityReminder.state == ReminderState.SENT,
                Activity.owner_type == model.ITEM_TYPE,
            )
        )
        # Core UPDATE: the item's version counter is for user edits, a reminder is no conflict.
        await session.execute(
            update(model.__table__).where(model.__table__.c.id.in_(owners)).values(focused_at=now)
        )
    return result.rowcount or 0


async def release(session: AsyncSession, ids: Sequence[int], retry_at: datetime) -> None:
    """Sending failed: keep the row leased to nobody until `retry_at`, when claim_due takes it
    again (due_at stays the real due time); after MAX_ATTEMPTS the reminder is cancelled."""
    ids = list(ids)
    if not ids:
        return
    base = update(ActivityReminder).where(
        ActivityReminder.id.in_(ids), ActivityReminder.state == ReminderState.CLAIMED
    )
    await session.execute(
        base.where(ActivityReminder.attempts >= MAX_ATTEMPTS)
        .values(state=ReminderState.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session="fetch")
    )
    await session.execute(
        base.where(ActivityReminder.attempts < MAX_ATTEMPTS)
        .values(claimed_until=ensure_utc(retry_at), claimed_by=None)
        .execution_options(synchronize_session="fetch")
    )


# --- keeping reminders in step with changes elsewhere -------------------------------------------


async def _sync_many(session: AsyncSession, activities: Sequence[Activity], now: datetime) -> int:
    for activity in activities:
        await sync_reminders(session, activity, now=now)
    return len(activities)


async def resync_user_defaults(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> int:
    """After a user changed `User.reminder_offsets`: re-plan their open future activities that use
    the defaults. Returns how many activities were re-planned."""
    now = ensure_utc(now) if now else utcnow()
    rows = await session.scalars(
        select(Activity).where(
            Activity.responsible_id == user_id,
            Activity.completed.is_(False),
            Activity.deadline > now,
            Activity.reminder_offsets.is_(None),
        )
    )
    return await _sync_many(session, list(rows), now)


async def resync_pipeline_defaults(
    session: AsyncSession, pipeline_id: int, *, now: datetime | None = None
) -> int:
    """After a pipeline's default changed: re-plan open future activities on its leads/deals that
    use the defaults."""
    now = ensure_utc(now) if now else utcnow()
    activities: list[Activity] = []
    for model in (Lead, Deal):
        rows = await session.scalars(
            select(Activity)
            .join(model, and_(Activity.owner_type == model.ITEM_TYPE, Activity.owner_id == model.id))
            .where(
                model.pipeline_id == pipeline_id,
                Activity.completed.is_(False),
                Activity.deadline > now,
                Activity.reminder_offsets.is_(None),
            )
        )
        activities.extend(rows)
    return await _sync_many(session, activities, now)


async def suspend_item_reminders(session: AsyncSession, owner_type: ItemType | str, owner_id: int) -> None:
    """The item went to the trash: cancel the live reminders of all its activities."""
    activity_ids = select(Activity.id).where(
        Activity.owner_type == ItemType(owner_type), Activity.owner_id == owner_id
    )
    await session.execute(
        update(ActivityReminder)
        .where(ActivityReminder.activity_id.in_(activity_ids), ActivityReminder.state.in_(LIVE_STATES))
        .values(state=ReminderState.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session="fetch")
    )


async def resume_item_reminders(
    session: AsyncSession, owner_type: ItemType | str, owner_id: int, *, now: datetime | None = None
) -> int:
    """The item was restored from the trash: re-plan the future reminders of its open activities."""
    now = ensure_utc(now) if now else utcnow()
    rows = await session.scalars(
        select(Activity).where(
            Activity.owner_type == ItemType(owner_type),
            Activity.owner_id == owner_id,
            Activity.completed.is_(False),
            Activity.deadline > now,
        )
    )
    return await _sync_many(session, list(rows), now)


async def clear_focus_if_handled(
    session: AsyncSession, owner_type: ItemType | str, owner_id: int
) -> datetime | None:
    """Drop the item's focus once none of its open activities has a fired reminder any more
    (called when an activity is completed or deleted). Returns the item's new updated_at if the
    focus was cleared, None otherwise."""
    owner_type = ItemType(owner_type)
    if not owner_type.has_stages:
        return None
    still_fired = (
        select(ActivityReminder.id)
        .join(Activity, Activity.id == ActivityReminder.activity_id)
        .where(
            Activity.owner_type == owner_type,
            Activity.owner_id == owner_id,
            Activity.completed.is_(False),
            ActivityReminder.state == ReminderState.SENT,
        )
        .limit(1)
    )
    if await session.scalar(still_fired) is not None:
        return None
    table = ITEM_MODELS[owner_type].__table__
    stamp = utcnow()
    await session.execute(
        update(table).where(table.c.id == owner_id).values(focused_at=None, updated_at=stamp)
    )
    return stamp
