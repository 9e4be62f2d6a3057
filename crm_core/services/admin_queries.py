"""Read-only queries for the admin screens (no rules here: they live in users/pipelines/
required_fields)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import Deal, ItemType, Lead, RequiredField


async def required_fields_of(
    session: AsyncSession, item_type: ItemType | str, *, pipeline_id: int | None = None
) -> list[str]:
    """The fields required exactly at this scope: the item type's own set when `pipeline_id` is
    None, else only the set of that deal pipeline (without the type-wide ones)."""
    cond = (
        RequiredField.pipeline_id.is_(None)
        if pipeline_id is None
        else RequiredField.pipeline_id == pipeline_id
    )
    rows = await session.scalars(
        select(RequiredField.field).where(RequiredField.item_type == ItemType(item_type), cond)
    )
    return sorted(set(rows))


async def stage_item_counts(session: AsyncSession, pipeline_id: int) -> dict[int, int]:
    """How many leads/deals (trashed ones included, as stage deletion counts them) sit on each
    stage of a pipeline."""
    counts: dict[int, int] = {}
    for model in (Lead, Deal):
        rows = await session.execute(
            select(model.stage_id, func.count())
            .where(model.pipeline_id == pipeline_id)
            .group_by(model.stage_id)
        )
        for stage_id, n in rows:
            counts[stage_id] = counts.get(stage_id, 0) + n
    return counts
