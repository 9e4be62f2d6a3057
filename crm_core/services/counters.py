"""Activity counters, the activities view and the activities calendar.

Counters (DOMAIN.md), per user: distinct leads and deals, not deleted, on a `process` stage, whose
responsible is the user:
  overdue  - has an open activity with a deadline before the start of today (user's timezone);
  today    - has an open activity due today (user's timezone);
  incoming - has an open incoming activity;
  idle     - has no open activity.
An item may count in several of overdue/today/incoming. Day boundaries are computed in Python from
the user's timezone and passed as UTC instants, so the queries use the activities' owner index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.errors import AccessDenied, ValidationFailed
from crm_core.models.activities import Activity, ActivityDirection
from crm_core.models.items import ITEM_MODELS, Deal, ItemType, Lead, Stage, StageSemantics
from crm_core.models.users import Role, User

GROUPS = ("overdue", "today", "this_week", "next_week", "later", "none")


@dataclass(frozen=True)
class Counters:
    overdue: int = 0
    today: int = 0
    incoming: int = 0
    idle: int = 0

    @property
    def total(self) -> int:
        """What the menu badge shows: items needing attention (overdue, today or incoming)."""
        return self.overdue + self.today + self.incoming


def user_zone(user: User) -> ZoneInfo:
    return zone_of(user.timezone)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local day starts (DST-safe: zoneinfo resolves the local midnight)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class DayBounds:
    today_start: datetime
    tomorrow_start: datetime
    next_week_start: datetime
    week_after_start: datetime


def day_bounds(user: User, now: datetime) -> DayBounds:
    tz = user_zone(user)
    today = ensure_utc(now).astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    return DayBounds(
        today_start=local_midnight(today, tz),
        tomorrow_start=local_midnight(today + timedelta(days=1), tz),
        next_week_start=local_midnight(monday + timedelta(days=7), tz),
        week_after_start=local_midnight(monday + timedelta(days=14), tz),
    )


def _open_activity_join(model: Any) -> Any:
    return and_(
        Activity.owner_type == model.ITEM_TYPE,
        Activity.owner_id == model.id,
        Activity.completed.is_(False),
    )


def _my_process_items(model: Any, user_id: int) -> Any:
    return (
        select()
        .select_from(model)
        .join(Stage, Stage.id == model.stage_id)
        .where(
            model.responsible_id == user_id,
            model.deleted_at.is_(None),
            Stage.semantics == StageSemantics.PROCESS,
        )
    )


# A page offset comes from a button (forgeable): no query asks for more rows than this per group
# (PostgreSQL refuses to bind a number past BIGINT at all).
MAX_PER_GROUP = 10_000


async def get_counters(session: AsyncSession, user: User, now: datetime | None = None) -> Counters:
    """The user's four counters in one SQL statement (per-item flags aggregated, then summed)."""
    now = ensure_utc(now) if now else utcnow()
    b = day_bounds(user, now)
    parts = []
    for model in (Lead, Deal):
        parts.append(
            _my_process_items(model, user.id)
            .outerjoin(Activity, _open_activity_join(model))
            .add_columns(
                model.id.label("id"),
                func.max(case((Activity.deadline < b.today_start, 1), else_=0)).label("overdue"),
                func.max(
                    case(
                        (and_(Activity.deadline >= b.today_start, Activity.deadline < b.tomorrow_start), 1),
                        else_=0,
                    )
                ).label("today"),
                func.max(case((Activity.direction == ActivityDirection.INCOMING, 1), else_=0)).label(
                    "incoming"
                ),
                func.count(Activity.id).label("open_count"),
            )
            .group_by(model.id)
        )
    per_item = union_all(*parts).subquery("per_item")
    stmt = select(
        func.coalesce(func.sum(per_item.c.overdue), 0),
        func.coalesce(func.sum(per_item.c.today), 0),
        func.coalesce(func.sum(per_item.c.incoming), 0),
        func.coalesce(func.sum(case((per_item.c.open_count == 0, 1), else_=0)), 0),
    )
    row = (await session.execute(stmt)).one()
    return Counters(overdue=int(row[0]), today=int(row[1]), incoming=int(row[2]), idle=int(row[3]))


# --- activities view ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewEntry:
    owner_type: ItemType
    owner_id: int
    nearest_deadline: datetime | None


@dataclass
class ActivitiesView:
    """Items per group (nearest deadline first, at most `limit` each) and each group's full count."""

    groups: dict[str, list[ViewEntry]] = field(default_factory=lambda: {g: [] for g in GROUPS})
    counts: dict[str, int] = field(default_factory=lambda: {g: 0 for g in GROUPS})


async def activities_view(
    session: AsyncSession, user: User, now: datetime | None = None, *, limit_per_group: int = 20
) -> ActivitiesView:
    """The user's leads and deals in progress grouped by their nearest open activity: overdue,
    today, this week (rest of it), next week, later, none. Weeks start on Monday in the user's
    timezone. One SQL statement (window functions page each group)."""
    now = ensure_utc(now) if now else utcnow()
    b = day_bounds(user, now)
    parts = []
    for model in (Lead, Deal):
        parts.append(
            _my_process_items(model, user.id)
            .outerjoin(Activity, _open_activity_join(model))
            .add_columns(
                literal(model.ITEM_TYPE.value).label("owner_type"),
                model.id.label("owner_id"),
                func.min(Activity.deadline).label("nearest"),
            )
            .group_by(model.id)
        )
    items = union_all(*parts).subquery("items")
    nearest = items.c.nearest
    bucket = case(
        (nearest.is_(None), "none"),
        (nearest < b.today_start, "overdue"),
        (nearest < b.tomorrow_start, "today"),
        (nearest < b.next_week_start, "this_week"),
        (nearest < b.week_after_start, "next_week"),
        else_="later",
    ).label("bucket")
    ranked = select(
        items.c.owner_type,
        items.c.owner_id,
        nearest.label("nearest"),
        bucket,
    ).subquery("bucketed")
    windowed = select(
        ranked.c.owner_type,
        ranked.c.owner_id,
        ranked.c.nearest,
        ranked.c.bucket,
        func.row_number()
        .over(
            partition_by=ranked.c.bucket, order_by=(ranked.c.nearest, ranked.c.owner_type, ranked.c.owner_id)
        )
        .label("rn"),
        func.count().over(partition_by=ranked.c.bucket).label("cnt"),
    ).subquery("windowed")
    stmt = (
        select(
            windowed.c.owner_type, windowed.c.owner_id, windowed.c.nearest, windowed.c.bucket, windowed.c.cnt
        )
        .where(windowed.c.rn <= min(max(limit_per_group, 0), MAX_PER_GROUP))
        .order_by(windowed.c.bucket, windowed.c.rn)
    )
    view = ActivitiesView()
    for owner_type, owner_id, nearest_at, group, count in (await session.execute(stmt)).all():
        if nearest_at is not None and isinstance(nearest_at, str):  # SQLite through a union: raw text
            nearest_at = datetime.fromisoformat(nearest_at)
        if nearest_at is not None and nearest_at.tzinfo is None:
            nearest_at = nearest_at.replace(tzinfo=UTC)
        view.counts[group] = int(count)
        view.groups[group].append(ViewEntry(ItemType(owner_type), int(owner_id), nearest_at))
    return view


# --- calendar ----------------------------------------------------------------------------------


async def _ensure_may_see_calendar(session: AsyncSession, viewer: User, owner_id: int) -> None:
    if viewer.id == owner_id or viewer.role == Role.ADMIN:
        return
    if viewer.role == Role.HEAD and viewer.department_id is not None:
        dept = await session.scalar(select(User.department_id).where(User.id == owner_id))
        if dept == viewer.department_id:
            return
    raise AccessDenied("not your calendar", user_id=viewer.id)


async def calendar_month(
    session: AsyncSession,
    user: User,
    year: int,
    month: int,
    *,
    responsible_id: int | None = None,
    include_completed: bool = True,
) -> dict[date, list[Activity]]:
    """Activities of one month placed on their local day (the viewer's timezone), by deadline.
    Whose: the viewer's own, or `responsible_id`'s (admins; heads for their department)."""
    if not 1 <= month <= 12:
        raise ValidationFailed("bad month", field="month", value=month)
    owner = responsible_id or user.id
    await _ensure_may_see_calendar(session, user, owner)
    tz = user_zone(user)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    start, end = local_midnight(first, tz), local_midnight(following, tz)
    stmt = select(Activity).where(
        Activity.responsible_id == owner, Activity.deadline >= start, Activity.deadline < end, _owner_alive()
    )
    if not include_completed:
        stmt = stmt.where(Activity.completed.is_(False))
    days: dict[date, list[Activity]] = {}
    for activity in await session.scalars(stmt.order_by(Activity.deadline, Activity.id)):
        days.setdefault(activity.deadline.astimezone(tz).date(), []).append(activity)
    return days


def _owner_alive() -> Any:
    """The activity's item is not in the trash (items are referenced polymorphically)."""
    return or_(
        *(
            and_(
                Activity.owner_type == item_type,
                exists().where(model.id == Activity.owner_id, model.deleted_at.is_(None)),
            )
            for item_type, model in ITEM_MODELS.items()
        )
    )
