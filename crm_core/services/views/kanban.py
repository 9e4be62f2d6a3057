"""Kanban: a pipeline's columns with counts and sums, and one column's items paged."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound
from crm_core.models.items import ITEM_MODELS, Deal, ItemType, Lead, Pipeline, Stage, StageSemantics
from crm_core.models.users import User
from crm_core.permissions import ensure_active
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


def _money(v: Any) -> Decimal:
    return Decimal(str(v or 0)).quantize(Decimal("0.01"))


async def kanban(
    session: AsyncSession, actor: User, pipeline_id: int, *, include_closed: bool = False
) -> list[KanbanColumn]:
    """Columns of a lead/deal pipeline in stage order, each with the number of items the actor may
    see and the sum of their amounts (a lead's opportunity). `include_closed` adds the success and
    failure stages. One query for all the counts."""
    ensure_active(actor)
    pipeline = await session.get(Pipeline, pipeline_id)
    if pipeline is None:
        raise NotFound(pipeline_id=pipeline_id)
    model = Deal if ItemType(pipeline.entity_type) == ItemType.DEAL else Lead
    stage_q = select(Stage).where(Stage.pipeline_id == pipeline_id)
    if not include_closed:
        stage_q = stage_q.where(Stage.semantics == StageSemantics.PROCESS)
    stages = list((await session.scalars(stage_q.order_by(Stage.sort, Stage.id))).all())
    columns = {s.id: KanbanColumn(s) for s in stages}
    if not columns:
        return []
    stmt = (
        select(model.stage_id, model.currency, func.count(), func.sum(model.amount))
        .where(model.pipeline_id == pipeline_id, *fast_visible(actor, model))
        .group_by(model.stage_id, model.currency)
    )
    if not include_closed:
        stmt = stmt.where(model.stage_id.in_(list(columns)))
    for stage_id, currency, count, total in (await session.execute(stmt)).all():
        col = columns.get(stage_id)
        if col is None:
            continue
        col.count += int(count)
        if total is not None:
            col.amounts[currency] = _money(total)
            col.amount = _money(col.amount + _money(total))
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
    where = [model.stage_id == stage_id, *fast_visible(actor, model)]
    return await fetch_page(
        session,
        item_type,
        model,
        where,
        keys,
        limit=limit,
        cursor=cursor,
        offset=offset,
        with_total=with_total,
    )
