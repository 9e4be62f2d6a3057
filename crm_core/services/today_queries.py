"""/today: the open activities a user is responsible for, up to a horizon, on items they may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc
from crm_core.models.activities import Activity
from crm_core.models.items import ITEM_MODELS, AnyItem
from crm_core.models.users import User
from crm_core.permissions import ensure_active, visible_clause

MAX_ROWS = 1000


@dataclass(frozen=True)
class AgendaEntry:
    activity: Activity
    item: AnyItem


async def my_open_activities(
    session: AsyncSession, user: User, *, until: datetime, limit: int = MAX_ROWS
) -> list[AgendaEntry]:
    """The user's open activities with a deadline before `until` (overdue ones included), nearest
    first, each with its item. Trashed items and items the user may no longer see are left out."""
    ensure_active(user)
    until = ensure_utc(until)
    # One statement for the four item tables: each is outer-joined on its own owner_type, and a
    # row is kept when the item it found is one the user may see.
    stmt = select(Activity, *ITEM_MODELS.values())
    visible = []
    for item_type, model in ITEM_MODELS.items():
        mine = and_(Activity.owner_type == item_type, Activity.owner_id == model.id)
        stmt = stmt.outerjoin(model, mine)
        visible.append(and_(model.id.is_not(None), visible_clause(user, model)))
    rows = await session.execute(
        stmt.where(
            Activity.responsible_id == user.id,
            Activity.completed.is_(False),
            Activity.deadline < until,
            or_(*visible),
        )
        .order_by(Activity.deadline, Activity.id)
        .limit(limit)
    )
    return [AgendaEntry(activity, next(i for i in items if i is not None)) for activity, *items in rows]
