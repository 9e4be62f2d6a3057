"""Reports: the funnel of a pipeline, deals won and lost over a period, and each salesperson's
numbers. What a person may see is the items rule (crm_core.permissions): a head sees the
department, an admin everyone, a salesperson themselves. Numbers only; the bot draws them."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.errors import ValidationFailed
from crm_core.fields import FieldContext
from crm_core.fields.kinds import parse_date
from crm_core.models.activities import Activity
from crm_core.models.items import Deal, ItemType, Lead, Pipeline, Stage, StageHistory, StageSemantics
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active
from crm_core.services import pipelines as pipelines_service
from crm_core.services.counters import local_midnight
from crm_core.services.views import fast_visible

PERIODS = ("week", "month", "last_month")
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class Period:
    kind: str  # week, month, last_month, range
    first: date  # local days, both inclusive
    last: date
    start: datetime  # [start, end) in UTC
    end: datetime


def period(kind: str, actor: User, now: datetime | None = None, first: date | None = None,
           last: date | None = None) -> Period:  # fmt: skip
    """This week, this month, last month or a range of days, in the actor's timezone."""
    zone = zone_of(actor.timezone)
    today = ensure_utc(now or utcnow()).astimezone(zone).date()
    if kind == "week":
        first = today - timedelta(days=today.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = today.replace(day=1)
        last = _month_end(first)
    elif kind == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        first = last.replace(day=1)
    elif kind == "range":
        if first is None or last is None or last < first:
            raise ValidationFailed("invalid range", field="period")
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationFailed("range too long", field="period", max=MAX_RANGE_DAYS)
    else:
        raise ValidationFailed("unknown period", field="period", value=kind)
    return Period(
        kind, first, last, local_midnight(first, zone), local_midnight(last + timedelta(days=1), zone)
    )


def _month_end(first: date) -> date:
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


# --- the funnel -------------------------------------------------------------------------------------


@dataclass
class FunnelStage:
    stage: Stage
    items: int = 0  # on the stage now
    sums: dict[str, Decimal] = field(default_factory=dict)  # currency -> sum of amounts
    reached: int = 0  # got this far (or further) in the pipeline
    conversion: Decimal | None = None  # reached here / reached the previous stage, percent


@dataclass
class Funnel:
    pipeline: Pipeline
    stages: list[FunnelStage]
    lost: list[FunnelStage]  # failure stages (not part of the conversion chain)
    period: Period | None = None  # the items created in it; None: all items

    @property
    def total(self) -> int:
        return sum(s.items for s in self.stages) + sum(s.items for s in self.lost)


async def funnel(session: AsyncSession, actor: User, pipeline_id: int, when: Period | None = None) -> Funnel:
    """Items and sums per stage of a pipeline (what the actor sees), and the conversion from each
    stage to the next: of the items that reached a stage, the share that reached the next one
    (a stage counts as reached when the item was ever on it or on a later one). With a period,
    the items that came in it (created then): where that period's leads or deals are now."""
    ensure_active(actor)
    pipeline = await pipelines_service.get_pipeline(session, pipeline_id)
    model = Lead if pipeline.entity_type == ItemType.LEAD else Deal
    stages = list(await pipelines_service.list_stages(session, pipeline_id))
    chain = [s for s in stages if s.semantics != StageSemantics.FAILURE]
    lost = [s for s in stages if s.semantics == StageSemantics.FAILURE]
    by_id = {s.id: FunnelStage(s) for s in stages}
    where = [*fast_visible(actor, model), model.pipeline_id == pipeline_id]
    if when is not None:
        where += [model.created_at >= when.start, model.created_at < when.end]
    rows = await session.execute(
        select(model.stage_id, model.currency, func.count(), func.sum(model.amount))
        .where(*where)
        .group_by(model.stage_id, model.currency)
    )
    for stage_id, currency, count, total in rows:
        if stage_id in by_id:
            fs = by_id[stage_id]
            fs.items += count
            if total is not None:
                fs.sums[currency] = fs.sums.get(currency, Decimal(0)) + Decimal(total)
    index = {s.id: i for i, s in enumerate(chain)}
    furthest: dict[int, int] = {}
    visible_ids = select(model.id).where(*where)
    history = await session.execute(
        select(StageHistory.owner_id, StageHistory.stage_id).where(
            StageHistory.owner_type == pipeline.entity_type,
            StageHistory.pipeline_id == pipeline_id,
            StageHistory.owner_id.in_(visible_ids),
        )
    )
    current = await session.execute(select(model.id, model.stage_id).where(*where))
    for owner_id, stage_id in [*history, *current]:
        if stage_id in index:
            furthest[owner_id] = max(furthest.get(owner_id, -1), index[stage_id])
    for i, s in enumerate(chain):
        fs = by_id[s.id]
        fs.reached = sum(1 for f in furthest.values() if f >= i)
        if i > 0:
            before = by_id[chain[i - 1].id].reached
            fs.conversion = (Decimal(fs.reached * 100) / before).quantize(Decimal("0.1")) if before else None
    return Funnel(pipeline, [by_id[s.id] for s in chain], [by_id[s.id] for s in lost], when)


# --- won and lost ---------------------------------------------------------------------------------


@dataclass
class WonLost:
    period: Period
    won: int = 0
    lost: int = 0
    won_sums: dict[str, Decimal] = field(default_factory=dict)
    lost_sums: dict[str, Decimal] = field(default_factory=dict)
    # per week of the period (its Monday, local): (won, lost)
    weeks: dict[date, list[int]] = field(default_factory=dict)


async def won_lost(session: AsyncSession, actor: User, when: Period) -> WonLost:
    """Deals closed in the period (what the actor sees), won and lost, with sums per currency."""
    ensure_active(actor)
    zone = zone_of(actor.timezone)
    out = WonLost(when)
    monday = when.first - timedelta(days=when.first.weekday())
    while monday <= when.last:
        out.weeks[monday] = [0, 0]
        monday += timedelta(days=7)
    rows = await session.execute(
        select(Deal.won, Deal.currency, Deal.amount, Deal.closed_at).where(
            *fast_visible(actor, Deal),
            Deal.closed.is_(True),
            Deal.closed_at >= when.start,
            Deal.closed_at < when.end,
        )
    )
    for won, currency, amount, closed_at in rows:
        sums = out.won_sums if won else out.lost_sums
        if won:
            out.won += 1
        else:
            out.lost += 1
        if amount is not None:
            sums[currency] = sums.get(currency, Decimal(0)) + Decimal(amount)
        day = ensure_utc(closed_at).astimezone(zone).date()
        week = day - timedelta(days=day.weekday())
        out.weeks.setdefault(week, [0, 0])[0 if won else 1] += 1
    return out


# --- salespeople ----------------------------------------------------------------------------------


@dataclass
class PersonStats:
    user_id: int
    name: str
    activities_done: int = 0
    overdue: int = 0
    leads_converted: int = 0
    deals_won: int = 0


async def report_people(session: AsyncSession, actor: User) -> list[User]:
    """Whose numbers the actor sees: an admin everyone active, a head the department, others
    themselves."""
    ensure_active(actor)
    if actor.role == Role.ADMIN:
        stmt = select(User).where(User.is_active.is_(True))
    elif actor.role == Role.HEAD and actor.department_id is not None:
        stmt = select(User).where(
            User.is_active.is_(True), (User.department_id == actor.department_id) | (User.id == actor.id)
        )
    else:
        return [actor]
    return list(await session.scalars(stmt.order_by(User.full_name, User.id)))


async def salespeople(
    session: AsyncSession, actor: User, when: Period, now: datetime | None = None
) -> list[PersonStats]:
    now = ensure_utc(now or utcnow())
    people = await report_people(session, actor)
    stats = {u.id: PersonStats(u.id, u.full_name or f"#{u.id}") for u in people}
    ids = list(stats)
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    queries = {
        "activities_done": select(Activity.responsible_id, func.count()).where(
            Activity.completed.is_(True),
            Activity.completed_at >= when.start,
            Activity.completed_at < when.end,
        ),
        "overdue": select(Activity.responsible_id, func.count()).where(
            Activity.completed.is_(False), Activity.deadline < now
        ),
        "leads_converted": select(Lead.responsible_id, func.count()).where(
            Lead.deleted_at.is_(None),
            Lead.won.is_(True),
            Lead.closed_at >= when.start,
            Lead.closed_at < when.end,
        ),
        "deals_won": select(Deal.responsible_id, func.count()).where(
            Deal.deleted_at.is_(None),
            Deal.won.is_(True),
            Deal.closed_at >= when.start,
            Deal.closed_at < when.end,
        ),
    }
    for name, stmt in queries.items():
        col = stmt.selected_columns[0]
        for uid, count in await session.execute(stmt.where(col.in_(ids)).group_by(col)):
            counts[name][uid] = count
    for uid, s in stats.items():
        s.activities_done = counts["activities_done"].get(uid, 0)
        s.overdue = counts["overdue"].get(uid, 0)
        s.leads_converted = counts["leads_converted"].get(uid, 0)
        s.deals_won = counts["deals_won"].get(uid, 0)
    return list(stats.values())


_RANGE_SPLIT = re.compile(r"\s+[-–—]\s+|\s*[–—]\s*|\s*\.\.\s*|\s+(?:по|to|until|до)\s+", re.IGNORECASE)


def parse_range(text: str, ctx: FieldContext) -> tuple[date, date]:
    """ "01.11.2026 - 15.11.2026", "1.11 – 15.11", "2026-11-01 .. 2026-11-15": two days, typed as the
    field schema reads dates. ValidationFailed when it is not two days in order."""
    parts = [p for p in _RANGE_SPLIT.split((text or "").strip()) if p.strip()]
    if len(parts) != 2:
        raise ValidationFailed("invalid range", field="period", value=text)
    first, last = (parse_date(p, ctx) for p in parts)
    if last < first:
        raise ValidationFailed("invalid range", field="period", value=text)
    return first, last
