"""An item's activity that became overdue, told to the item's room (issue 10, point 3).

It is the room's feed, not a personal reminder: it does not depend on the responsible's reminder
settings, mutes or blocked chat, nor on the room's `/reminders on`. The trigger is the activity's
overdue reminder row (every open activity with a deadline has one) being claimed by the delivery
engine: in that same transaction the activity joins the room's open summary like any event.

Once per activity and deadline: a reminder row claimed again (its lease ran out, or it was deferred)
finds its activity already in one of the room's summaries made since the deadline and adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.rooms import Room
from crm_core.services import room_feed


async def tell_rooms(session: AsyncSession, reminders: Sequence[ActivityReminder]) -> int:
    """Queue the claimed overdue reminders' activities to their items' rooms; returns how many."""
    overdue = [r for r in reminders if r.kind == ReminderKind.OVERDUE]
    if not overdue:
        return 0
    activities = {
        a.id: a
        for a in await session.scalars(
            select(Activity).where(
                Activity.id.in_({r.activity_id for r in overdue}), Activity.completed.is_(False)
            )
        )
    }
    told = 0
    for reminder in overdue:
        activity = activities.get(reminder.activity_id)
        if activity is None:
            continue
        room = await room_feed.room_of(session, activity.owner_type, activity.owner_id)
        if room is None:
            continue
        entry = {
            "activity": activity.id,
            "type": str(activity.type),
            "subject": activity.subject,
            "deadline": ensure_utc(reminder.due_at).isoformat(),
        }
        if await _already_told(session, room, entry, reminder):
            continue
        await room_feed.queue(session, room, overdue=entry)
        told += 1
    return told


async def _already_told(
    session: AsyncSession, room: Room, entry: dict[str, Any], reminder: ActivityReminder
) -> bool:
    # Only summaries made since shortly before the deadline can hold it (a summary is open for
    # the feed's window at most).
    since = ensure_utc(reminder.due_at) - timedelta(seconds=room_feed.config.window + 60)
    payloads = await session.scalars(
        select(Notification.payload).where(
            Notification.dedupe_key.like(f"room:{room.id}:%"),
            Notification.category == NotificationCategory.ROOM_EVENT,
            Notification.created_at >= since,
        )
    )
    key = (entry["activity"], entry["deadline"])
    return any(
        (o.get("activity"), o.get("deadline")) == key
        for payload in payloads
        for o in (payload or {}).get("overdue") or []
        if isinstance(o, dict)
    )
