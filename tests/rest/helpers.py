"""Data for the REST tests: many leads at once (core inserts, consistent with what create_item
writes for a list: stage, pipeline, responsible, dates)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models.items import ItemType, Lead, Pipeline, Stage


async def insert_leads(db: Database, responsible_id: int, count: int, *, prefix: str = "Bulk") -> None:
    now = utcnow()
    async with db.unit_of_work() as s:
        pipeline = await s.scalar(select(Pipeline.id).where(Pipeline.entity_type == ItemType.LEAD))
        stage = await s.scalar(select(Stage.id).where(Stage.pipeline_id == pipeline, Stage.code == "NEW"))
        rows = [
            {
                "title": f"{prefix} {i}",
                "amount": Decimal(i),
                "currency": "RUB",
                "pipeline_id": pipeline,
                "stage_id": stage,
                "stage_entered_at": now,
                "responsible_id": responsible_id,
                "created_by_id": responsible_id,
                "updated_by_id": responsible_id,
                "created_at": now - timedelta(seconds=i),
                "updated_at": now,
                "version": 1,
                "closed": False,
                "won": False,
                "is_return_customer": False,
            }
            for i in range(count)
        ]
        for start in range(0, len(rows), 500):
            await s.execute(insert(Lead), rows[start : start + 500])
