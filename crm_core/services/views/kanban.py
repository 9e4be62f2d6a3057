"""Kanban: a pipeline's columns with counts and sums, and one column's items paged."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, cast, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound
from crm_core.models.items import (
    ITEM_MODELS,
    Deal,
    ItemType,
    Lead,
    Pipeline,
    Stage,
    StageSemantics,
)
from crm_core.models.users import Role, User
from crm_core.models.views import ObserverTotal, StageTotal
from crm_core.permissions import ensure_active, visible_parts
from crm_core.services.views.filters import fast_visible
from crm_core.services.views.paging import Page, fetch_page, sort_keys


@dataclass
class KanbanColumn:
    stage: Stage
    count: int = 0
    amount: Decimal = Decimal("0.00")  # sum over all currencies (see amounts for each one)
    amounts: dict[str, Decimal] = field(default_factory=dict)

    @property
    def stage_id(self) -> int:
        return self.stage.id

    @property
    def semantics(self) -> StageSemantics:
        return self.stage.semantics


CENT = Decimal("0.01")


def _money(v: Any) -> Decimal:
    return Decimal(str(v or 0)).quantize(CENT)


async def _columns(
    session: AsyncSession, actor: User, pipeline_id: int, include_closed: bool
) -> tuple[Any, dict[int, KanbanColumn]]:
    ensure_active(actor)
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(pipeline_id=pipeline_id)
    model = Deal if ItemType(pipeline.entity_type) == ItemType.DEAL else Lead
    stage_q = select(Stage).where(Stage.pipeline_id == pipeline_id)
    if not include_closed:
        stage_q = stage_q.where(Stage.semantics == StageSemantics.PROCESS)
    stages = list((await session.scalars(stage_q.order_by(Stage.sort, Stage.id))).all())
    return model, {s.id: KanbanColumn(s) for s in stages}


def _add(col: KanbanColumn | None, currency: str, count: int, amounted: int, cents: int) -> None:
    if col is None or not count:
        return
    col.count += int(count)
    if amounted:  # a currency none of whose items has an amount shows no sum, as SUM() gives NULL
        total = (Decimal(int(cents)) / 100).quantize(CENT)
        col.amounts[currency] = col.amounts.get(currency, Decimal("0.00")) + total
        col.amount = _money(col.amount + total)


def _cents(model: Any) -> Any:
    return func.sum(cast(func.round(model.amount * 100), BigInteger))


async def kanban(
    session: AsyncSession, actor: User, pipeline_id: int, *, include_closed: bool = False
) -> list[KanbanColumn]:
    """Columns of a lead/deal pipeline in stage order, each with the number of items the actor may
    see and the sum of their amounts (a lead's opportunity). `include_closed` adds the success and
    failure stages. One query for all the counts: the actor's share of stage_totals (whole rows
    per responsible: everyone's for an admin, their own and their team's otherwise), plus their
    observer_totals rows whose responsible is not in that share (the items they observe)."""
    model, columns = await _columns(session, actor, pipeline_id, include_closed)
    if not columns:
        return []
    t = StageTotal
    totals = select(t.stage_id, t.currency, t.items, t.amounted, t.amount_cents).where(
        t.pipeline_id == pipeline_id
    )
    if not include_closed:
        totals = totals.where(t.stage_id.in_(list(columns)))
    stmt: Any = totals
    if actor.role != Role.ADMIN:
        o = ObserverTotal
        mine: Any = t.responsible_id == actor.id
        theirs: Any = o.responsible_id != actor.id
        if actor.role == Role.HEAD and actor.department_id is not None:
            team = select(User.id).where(User.department_id == actor.department_id).scalar_subquery()
            mine = or_(mine, t.responsible_id.in_(team))
            theirs = and_(theirs, o.responsible_id.not_in(team))
        observed = select(o.stage_id, o.currency, o.items, o.amounted, o.amount_cents).where(
            o.user_id == actor.id, o.pipeline_id == pipeline_id, theirs
        )
        if not include_closed:
            observed = observed.where(o.stage_id.in_(list(columns)))
        stmt = union_all(totals.where(mine), observed)
    for stage_id, currency, count, amounted, cents in (await session.execute(stmt)).all():
        _add(columns.get(stage_id), currency, count, amounted, cents)
    return list(columns.values())


async def kanban_by_scan(
    session: AsyncSession, actor: User, pipeline_id: int, *, include_closed: bool = False
) -> list[KanbanColumn]:
    """kanban() computed by aggregating the items themselves (what stage_totals must agree with;
    its time grows with the pipeline's size)."""
    model, columns = await _columns(session, actor, pipeline_id, include_closed)
    if not columns:
        return []
    stmt = (
        select(model.stage_id, model.currency, func.count(), func.count(model.amount), _cents(model))
        .where(model.pipeline_id == pipeline_id, *fast_visible(actor, model))
        .group_by(model.stage_id, model.currency)
    )
    if not include_closed:
        stmt = stmt.where(model.stage_id.in_(list(columns)))
    for stage_id, currency, count, amounted, cents in (await session.execute(stmt)).all():
        _add(columns.get(stage_id), currency, count, amounted, cents or 0)
    return list(columns.values())


STAGE_ORDER = [("focused_at", "desc"), ("last_activity_at", "desc"), ("id", "desc")]


async def stage_items(
    session: AsyncSession,
    actor: User,
    stage_id: int,
    *,
    limit: int = 20,
    cursor: str | None = None,
    offset: int | None = None,
    with_total: bool = False,
) -> Page:
    """Items of one kanban column the actor may see: focused first (newest focus), then by latest
    activity, then newest id. Keyset (`cursor`) or `offset` paging."""
    ensure_active(actor)
    stage = await session.get(Stage, stage_id)
    if stage is None:
        raise NotFound(stage_id=stage_id)
    pipeline = await session.get(Pipeline, stage.pipeline_id)
    assert pipeline is not None
    item_type = ItemType(pipeline.entity_type)
    model = ITEM_MODELS[item_type]
    keys = sort_keys(item_type, STAGE_ORDER, STAGE_ORDER)
    return await fetch_page(
        session,
        item_type,
        model,
        lambda source: [source.stage_id == stage_id],
        keys,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
        parts=visible_parts(actor, model, dialect=session.get_bind().dialect.name),
    )
