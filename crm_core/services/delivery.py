"""What the delivery of reminders and notifications needs from the database, beyond the claim
cycle of `services.reminders` and `services.notifications`:

- who the claimed rows go to: each recipient's settings (language, timezone, muted categories)
  and chat state read in one call (`recipients`);
- per-chat state shared by every bot process (`ChatDelivery`): undeliverable after a 403, the
  instant before which a chat must not be sent to after a 429, a group's migration;
- deferring a claimed row without counting a failed attempt (the chat is rate limited), dropping
  the reminders of a chat that cannot be reached, renewing a lease before a late send;
- the earliest instant anything becomes due (the delivery loop sleeps until then);
- queuing each user's daily digest once per local date (the outbox's dedupe key is the marker);
- read queries for the digest (today's activities, a head's team overdue work).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, zone_of
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, ReminderState
from crm_core.models.delivery import ChatDelivery
from crm_core.models.items import ITEM_MODELS, AnyItem, ItemType
from crm_core.models.notifications import (
    Notification,
    NotificationCategory,
    NotificationState,
    UserMutedCategory,
)
from crm_core.models.users import Role, User
from crm_core.services.counters import day_bounds
from crm_core.services.notifications import notify

__all__ = [
    "ChatDelivery",
    "DIGEST_CATCH_UP",
    "Recipient",
    "recipients",
    "chat_states",
    "mark_undeliverable",
    "mark_deliverable",
    "set_not_before",
    "record_migration",
    "defer_reminders",
    "defer_notifications",
    "drop_reminders",
    "deadline_reminders_out",
    "renew_leases",
    "next_due_at",
    "queue_digests",
    "load_items",
    "today_activities",
    "team_overdue",
]

# A digest not sent at its time (the bot was down) is still sent within this many hours.
DIGEST_CATCH_UP = timedelta(hours=6)


# --- recipients ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """What delivery needs to know about the person a reminder or notification is for: the user
    (language, timezone, active), the categories they muted and their chat's shared state."""

    user: User
    muted: frozenset[str]
    chat: ChatDelivery | None

    @property
    def chat_id(self) -> int:
        return self.user.telegram_id

    @property
    def undeliverable(self) -> bool:
        return self.chat is not None and self.chat.undeliverable

    def mutes(self, category: NotificationCategory | str) -> bool:
        return str(category) in self.muted


async def recipients(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Recipient]:
    """The recipients by user id (absent users are left out), in three queries however many."""
    ids = set(user_ids)
    if not ids:
        return {}
    users = list(await session.scalars(select(User).where(User.id.in_(ids))))
    muted: dict[int, set[str]] = defaultdict(set)
    rows = await session.execute(
        select(UserMutedCategory.user_id, UserMutedCategory.category).where(
            UserMutedCategory.user_id.in_(ids)
        )
    )
    for uid, category in rows.all():
        muted[uid].add(category)
    states = await chat_states(session, [u.telegram_id for u in users])
    return {u.id: Recipient(u, frozenset(muted[u.id]), states.get(u.telegram_id)) for u in users}


# --- per-chat state ---------------------------------------------------------------------------


async def chat_states(session: AsyncSession, chat_ids: Iterable[int]) -> dict[int, ChatDelivery]:
    ids = list(set(chat_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(ChatDelivery).where(ChatDelivery.chat_id.in_(ids)))
    return {r.chat_id: r for r in rows}


async def _upsert(session: AsyncSession, chat_id: int, now: datetime, **values: Any) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    row = {"chat_id": chat_id, "undeliverable": False, "updated_at": ensure_utc(now), **values}
    stmt = insert(ChatDelivery).values(**row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["chat_id"], set_={**values, "updated_at": ensure_utc(now)}
    )
    await session.execute(stmt)


async def mark_undeliverable(session: AsyncSession, chat_id: int, reason: str, now: datetime) -> None:
    """The chat blocked or removed the bot: nobody tries it again until it comes back."""
    await _upsert(
        session, chat_id, now, undeliverable=True, undeliverable_at=ensure_utc(now), reason=reason[:200]
    )


async def mark_deliverable(session: AsyncSession, chat_id: int, now: datetime) -> None:
    """The user unblocked the bot (or wrote to it again)."""
    await session.execute(
        update(ChatDelivery)
        .where(ChatDelivery.chat_id == chat_id, ChatDelivery.undeliverable.is_(True))
        .values(undeliverable=False, undeliverable_at=None, reason=None, updated_at=ensure_utc(now))
    )


async def not_before(session: AsyncSession, chat_id: int) -> datetime | None:
    """Until when nobody may send to this chat (a retry_after Telegram gave any process)."""
    return await session.scalar(select(ChatDelivery.not_before).where(ChatDelivery.chat_id == chat_id))


async def chats_held(session: AsyncSession, now: datetime) -> dict[int, datetime]:
    """Every chat nobody may send to yet, with until when (few: a retry_after lasts seconds)."""
    rows = await session.execute(
        select(ChatDelivery.chat_id, ChatDelivery.not_before).where(ChatDelivery.not_before > ensure_utc(now))
    )
    return {chat_id: ensure_utc(until) for chat_id, until in rows}


async def set_not_before(session: AsyncSession, chat_id: int, until: datetime, now: datetime) -> None:
    """Telegram said retry_after for this chat: every process waits until `until`."""
    await _upsert(session, chat_id, now, not_before=ensure_utc(until))


async def record_migration(session: AsyncSession, chat_id: int, new_chat_id: int, now: datetime) -> None:
    await _upsert(session, chat_id, now, migrated_to=new_chat_id)


# --- claimed rows ------------------------------------------------------------------------------


async def defer_reminders(session: AsyncSession, ids: Sequence[int], until: datetime) -> None:
    """Give claimed reminders back until `until` (a rate-limited chat) without counting the claim
    as a failed attempt: `claim_due` takes them again when `claimed_until` passes."""
    if not ids:
        return
    await session.execute(
        update(ActivityReminder)
        .where(ActivityReminder.id.in_(list(ids)), ActivityReminder.state == ReminderState.CLAIMED)
        .values(
            claimed_until=ensure_utc(until),
            claimed_by=None,
            attempts=func.max(ActivityReminder.attempts - 1, 0)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(ActivityReminder.attempts - 1, 0),
        )
        .execution_options(synchronize_session=False)
    )


async def defer_notifications(session: AsyncSession, ids: Sequence[int], until: datetime) -> None:
    if not ids:
        return
    await session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.state == NotificationState.CLAIMED)
        .values(
            state=NotificationState.PENDING,
            available_at=ensure_utc(until),
            claimed_until=None,
            claimed_by=None,
            attempts=func.max(Notification.attempts - 1, 0)
            if session.get_bind().dialect.name == "sqlite"
            else func.greatest(Notification.attempts - 1, 0),
        )
        .execution_options(synchronize_session=False)
    )


async def drop_reminders(session: AsyncSession, ids: Sequence[int]) -> None:
    """Reminders that cannot be delivered (the chat blocked the bot, or Telegram refused the
    message): cancelled, never retried."""
    if not ids:
        return
    await session.execute(
        update(ActivityReminder)
        .where(ActivityReminder.id.in_(list(ids)), ActivityReminder.state == ReminderState.CLAIMED)
        .values(state=ReminderState.CANCELLED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )


async def deadline_reminders_out(
    session: AsyncSession, overdue: Iterable[ActivityReminder]
) -> set[tuple[int, int, datetime]]:
    """(activity, user, due_at) of the reminders at the deadline already sent or being sent for
    these overdue notices' activities: an overdue notice due together with one is folded into it."""
    activity_ids = list({r.activity_id for r in overdue})
    if not activity_ids:
        return set()
    rows = await session.execute(
        select(ActivityReminder.activity_id, ActivityReminder.user_id, ActivityReminder.due_at).where(
            ActivityReminder.activity_id.in_(activity_ids),
            ActivityReminder.kind == ReminderKind.REMINDER,
            ActivityReminder.state.in_([ReminderState.SENT, ReminderState.CLAIMED]),
        )
    )
    return {tuple(row) for row in rows.all()}  # type: ignore[misc]


async def renew_leases(
    session: AsyncSession, model: Any, ids: Sequence[int], worker_id: str, until: datetime
) -> set[int]:
    """Extend this worker's leases; returns the ids still held (a row re-claimed by another
    worker after our lease expired, or cancelled meanwhile, must not be sent by us)."""
    if not ids:
        return set()
    cond = (model.id.in_(list(ids)), model.state == "claimed", model.claimed_by == worker_id)
    await session.execute(
        update(model)
        .where(*cond)
        .values(claimed_until=ensure_utc(until))
        .execution_options(synchronize_session=False)
    )
    return set(await session.scalars(select(model.id).where(*cond)))


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest instant a reminder or notification becomes claimable (index-only lookups:
    constant time however many rows are pending)."""
    candidates = [
        await session.scalar(
            select(func.min(ActivityReminder.due_at)).where(ActivityReminder.state == ReminderState.PENDING)
        ),
        await session.scalar(
            select(func.min(ActivityReminder.claimed_until)).where(
                ActivityReminder.state == ReminderState.CLAIMED
            )
        ),
        await session.scalar(
            select(func.min(Notification.available_at)).where(Notification.state == NotificationState.PENDING)
        ),
        await session.scalar(
            select(func.min(Notification.claimed_until)).where(
                Notification.state == NotificationState.CLAIMED
            )
        ),
    ]
    values = [_as_utc(v) for v in candidates if v is not None]
    return min(values) if values else None


def _as_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite aggregate over a decorated column may come back raw
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        from datetime import UTC

        return value.replace(tzinfo=UTC)
    return ensure_utc(value)


# --- digests -----------------------------------------------------------------------------------


def digest_date(user: User, now: datetime, catch_up: timedelta = DIGEST_CATCH_UP) -> str | None:
    """The local date whose digest is due for `user` at `now`, or None (not yet, too late, or a
    weekend for someone who wants working days only)."""
    tz = zone_of(user.timezone)
    local = ensure_utc(now).astimezone(tz)
    if user.digest_workdays_only and local.weekday() >= 5:
        return None
    at = datetime.combine(local.date(), user.digest_time or time(9, 0), tzinfo=tz)
    # Someone who joined after today's digest time starts getting digests tomorrow.
    if user.created_at is not None and ensure_utc(user.created_at) > ensure_utc(at):
        return None
    if at <= local < at + catch_up:
        return local.date().isoformat()
    return None


async def queue_digests(
    session: AsyncSession, now: datetime, *, catch_up: timedelta = DIGEST_CATCH_UP
) -> int:
    """Queue the daily digest of each active user whose local digest time has come, once per
    local date (the dedupe key `digest:<user>:<date>` is the marker, shared by all processes).
    Returns how many were queued now."""
    now = ensure_utc(now)
    queued = 0
    users = await session.scalars(select(User).where(User.is_active.is_(True)).order_by(User.id))
    for user in list(users):
        day = digest_date(user, now, catch_up)
        if day is None:
            continue
        key = f"digest:{user.id}:{day}"
        exists = await session.scalar(select(Notification.id).where(Notification.dedupe_key == key))
        if exists is not None:
            continue
        row = await notify(
            session, user.id, NotificationCategory.DIGEST, {"date": day}, dedupe_key=key, now=now
        )
        queued += row is not None
    queued += await queue_weekly_digests(session, now, catch_up=catch_up)
    return queued


def weekly_digest_date(user: User, now: datetime, catch_up: timedelta = DIGEST_CATCH_UP) -> str | None:
    """The local Monday whose weekly digest is due for `user` at `now` (their digest time on a
    Monday), or None."""
    local = ensure_utc(now).astimezone(zone_of(user.timezone))
    if local.weekday() != 0:
        return None
    at = datetime.combine(local.date(), user.digest_time or time(9, 0), tzinfo=local.tzinfo)
    if user.created_at is not None and ensure_utc(user.created_at) > ensure_utc(at):
        return None
    return local.date().isoformat() if at <= local < at + catch_up else None


async def queue_weekly_digests(
    session: AsyncSession, now: datetime, *, catch_up: timedelta = DIGEST_CATCH_UP
) -> int:
    """Queue the weekly digest of each head and admin who asked for it, once per local Monday
    (the dedupe key `weekly:<user>:<date>`, shared by all processes)."""
    now = ensure_utc(now)
    queued = 0
    users = await session.scalars(
        select(User)
        .where(User.is_active.is_(True), User.weekly_digest.is_(True), User.role.in_((Role.HEAD, Role.ADMIN)))
        .order_by(User.id)
    )
    for user in list(users):
        day = weekly_digest_date(user, now, catch_up)
        if day is None:
            continue
        key = f"weekly:{user.id}:{day}"
        if await session.scalar(select(Notification.id).where(Notification.dedupe_key == key)) is not None:
            continue
        row = await notify(
            session, user.id, NotificationCategory.WEEKLY_DIGEST, {"date": day}, dedupe_key=key, now=now
        )
        queued += row is not None
    return queued


# --- reading for messages ----------------------------------------------------------------------


async def load_items(
    session: AsyncSession, keys: Iterable[tuple[ItemType | str, int]]
) -> dict[tuple[ItemType, int], AnyItem]:
    """Items by (type, id) in one query per type; trashed ones are left out."""
    by_type: dict[ItemType, set[int]] = defaultdict(set)
    for item_type, item_id in keys:
        by_type[ItemType(item_type)].add(int(item_id))
    found: dict[tuple[ItemType, int], AnyItem] = {}
    for item_type, ids in by_type.items():
        model = ITEM_MODELS[item_type]
        rows = await session.scalars(select(model).where(model.id.in_(ids), model.deleted_at.is_(None)))
        for row in rows:
            found[(item_type, row.id)] = row
    return found


async def load_item(session: AsyncSession, item_type: ItemType | str, item_id: int) -> AnyItem | None:
    """One item, None when trashed or gone; from the session's identity map when load_items
    already read it (no query per message while a batch is rendered)."""
    item = await session.get(ITEM_MODELS[ItemType(item_type)], int(item_id))
    return item if item is not None and item.deleted_at is None else None


async def today_activities(
    session: AsyncSession, user: User, now: datetime, *, limit: int = 10
) -> list[Activity]:
    """The user's open activities due today (their timezone), soonest first."""
    b = day_bounds(user, now)
    rows = await session.scalars(
        select(Activity)
        .where(
            Activity.responsible_id == user.id,
            Activity.completed.is_(False),
            Activity.deadline >= b.today_start,
            Activity.deadline < b.tomorrow_start,
        )
        .order_by(Activity.deadline, Activity.id)
        .limit(limit)
    )
    return list(rows)


@dataclass(frozen=True)
class TeamMemberOverdue:
    user: User
    count: int
    oldest: list[Activity]


async def team_overdue(
    session: AsyncSession, head: User, now: datetime, *, per_person: int = 3
) -> list[TeamMemberOverdue]:
    """A head of department's team (their department's active people, the head excluded): each
    person's open activities overdue before their own today, by person, most overdue first."""
    if head.role != Role.HEAD or head.department_id is None:
        return []
    members = await session.scalars(
        select(User)
        .where(User.department_id == head.department_id, User.is_active.is_(True), User.id != head.id)
        .order_by(User.full_name, User.id)
    )
    result: list[TeamMemberOverdue] = []
    for member in list(members):
        start = day_bounds(member, now).today_start
        cond = (
            Activity.responsible_id == member.id,
            Activity.completed.is_(False),
            Activity.deadline < start,
        )
        count = int(await session.scalar(select(func.count(Activity.id)).where(*cond)) or 0)
        if not count:
            continue
        oldest = await session.scalars(
            select(Activity).where(*cond).order_by(Activity.deadline, Activity.id).limit(per_person)
        )
        result.append(TeamMemberOverdue(member, count, list(oldest)))
    result.sort(key=lambda m: -m.count)
    return result
