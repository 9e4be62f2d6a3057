"""Notification outbox.

`notify()` writes a row in the caller's transaction (so a rolled-back change notifies nobody).
The scheduler delivers: `claim_notifications()` leases due rows (PostgreSQL: FOR UPDATE SKIP LOCKED,
SQLite: the IMMEDIATE transaction serialises writers), sends them, then `mark_notifications_sent()`
or `release_notifications()` (retry later) / `mark_notifications_failed()`. A row whose lease
expired (a worker crashed between claim and send) is claimed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import ValidationFailed
from crm_core.models.notifications import Notification, NotificationState, UserMutedCategory
from crm_core.models.users import User

# After this many failed deliveries a notification is marked failed instead of retried.
MAX_ATTEMPTS = 5


async def is_muted(session: AsyncSession, user_id: int, category: str) -> bool:
    stmt = select(
        exists().where(UserMutedCategory.user_id == user_id, UserMutedCategory.category == str(category))
    )
    return bool(await session.scalar(stmt))


def _values(
    user_id: int, category: str, payload: dict[str, Any] | None, dedupe_key: str | None, now: datetime | None
) -> dict[str, Any]:
    now = ensure_utc(now) if now else utcnow()
    return {
        "user_id": user_id,
        "category": str(category),
        "payload": payload or {},
        "created_at": now,
        "available_at": now,
        "state": NotificationState.PENDING,
        "attempts": 0,
        "dedupe_key": dedupe_key,
    }


def new_notification(
    user_id: int, category: str, payload: dict[str, Any] | None = None, *, now: datetime | None = None
) -> Notification:
    """The row of a notification without a dedupe key, not yet added (the caller checked is_muted):
    many are flushed together (an import)."""
    return Notification(**_values(user_id, category, payload, None, now))


async def notify(
    session: AsyncSession,
    user_id: int,
    category: str,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    *,
    now: datetime | None = None,
) -> Notification | None:
    """Queue a notification for `user_id`. Returns None when the user muted the category;
    with a `dedupe_key` already queued, returns the existing row and queues nothing."""
    if await is_muted(session, user_id, category):
        return None
    values = _values(user_id, category, payload, dedupe_key, now)
    if dedupe_key is None:
        row = Notification(**values)
        session.add(row)
        await session.flush()
        return row
    # Concurrent writers with the same key: one insert wins, the other silently keeps the first.
    await session.flush()
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Notification).values(**values)
    await session.execute(ins.on_conflict_do_nothing(index_elements=["dedupe_key"]))
    return await session.scalar(
        select(Notification)
        .where(Notification.dedupe_key == dedupe_key)
        .execution_options(populate_existing=True)
    )


async def mute_category(session: AsyncSession, user: User, category: str) -> None:
    if not category or len(category) > 40:
        raise ValidationFailed("bad category", field="category")
    if not await is_muted(session, user.id, category):
        await session.execute(insert(UserMutedCategory).values(user_id=user.id, category=str(category)))


async def unmute_category(session: AsyncSession, user: User, category: str) -> None:
    await session.execute(
        delete(UserMutedCategory).where(
            UserMutedCategory.user_id == user.id, UserMutedCategory.category == str(category)
        )
    )


async def muted_categories(session: AsyncSession, user_id: int) -> set[str]:
    rows = await session.scalars(
        select(UserMutedCategory.category).where(UserMutedCategory.user_id == user_id)
    )
    return set(rows)


async def claim_leased(
    session: AsyncSession,
    model: Any,
    due_column: Any,
    *,
    now: datetime,
    lease_seconds: int,
    worker_id: str,
    limit: int,
    pending: str,
    claimed: str,
    extra_values: dict[str, Any] | None = None,
) -> list[Any]:
    """Lease up to `limit` rows that are due (pending, due_column <= now) or whose lease expired.

    Shared by the notification outbox and activity reminders. Two workers never get the same row:
    on PostgreSQL the candidate rows are locked with SKIP LOCKED, on SQLite the transaction holds
    the database write lock from its start (BEGIN IMMEDIATE)."""
    now = ensure_utc(now)
    if limit <= 0:
        return []
    stmt = (
        select(model.id)
        .where(
            or_(
                and_(model.state == pending, due_column <= now),
                and_(model.state == claimed, model.claimed_until <= now),
            )
        )
        .order_by(due_column, model.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    ids = list(await session.scalars(stmt))
    if not ids:
        return []
    values = {
        "state": claimed,
        "claimed_until": now + timedelta(seconds=lease_seconds),
        "claimed_by": worker_id,
        "attempts": model.attempts + 1,
        **(extra_values or {}),
    }
    await session.execute(
        update(model).where(model.id.in_(ids)).values(**values).execution_options(synchronize_session=False)
    )
    rows = await session.scalars(
        select(model)
        .where(model.id.in_(ids))
        .order_by(due_column, model.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def claim_notifications(
    session: AsyncSession, *, now: datetime, lease_seconds: int, worker_id: str, limit: int
) -> list[Notification]:
    return await claim_leased(
        session,
        Notification,
        Notification.available_at,
        now=now,
        lease_seconds=lease_seconds,
        worker_id=worker_id,
        limit=limit,
        pending=NotificationState.PENDING,
        claimed=NotificationState.CLAIMED,
    )


async def mark_notifications_sent(session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
    """Only rows still claimed are marked (a cancelled one stays cancelled). Returns how many."""
    if not ids:
        return 0
    result = await session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.state == NotificationState.CLAIMED)
        .values(state=NotificationState.SENT, sent_at=ensure_utc(now), claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


async def release_notifications(
    session: AsyncSession, ids: Sequence[int], retry_at: datetime, error: str | None = None
) -> None:
    """Delivery failed transiently: retry at `retry_at`, or give up after MAX_ATTEMPTS."""
    if not ids:
        return
    base = update(Notification).where(
        Notification.id.in_(list(ids)), Notification.state == NotificationState.CLAIMED
    )
    err = error[:500] if error else None
    await session.execute(
        base.where(Notification.attempts >= MAX_ATTEMPTS)
        .values(state=NotificationState.FAILED, claimed_until=None, last_error=err)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        base.where(Notification.attempts < MAX_ATTEMPTS)
        .values(
            state=NotificationState.PENDING,
            available_at=ensure_utc(retry_at),
            claimed_until=None,
            claimed_by=None,
            last_error=err,
        )
        .execution_options(synchronize_session=False)
    )


async def mark_notifications_failed(
    session: AsyncSession, ids: Sequence[int], error: str | None = None
) -> None:
    """Permanent failure (e.g. the user blocked the bot): never retried."""
    if not ids:
        return
    await session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.state == NotificationState.CLAIMED)
        .values(state=NotificationState.FAILED, claimed_until=None, last_error=error[:500] if error else None)
        .execution_options(synchronize_session=False)
    )


async def cancel_pending(session: AsyncSession, *, dedupe_key: str) -> None:
    """Withdraw a queued notification that became pointless (e.g. its cause was undone)."""
    await session.execute(
        update(Notification)
        .where(Notification.dedupe_key == dedupe_key, Notification.state == NotificationState.PENDING)
        .values(state=NotificationState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
