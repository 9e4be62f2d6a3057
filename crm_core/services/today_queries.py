"""/today: the open activities a user is responsible for, up to a horizon, on items they may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc
from crm_core.models.activities import Activity
from crm_core.models.items import ITEM_MODELS, AnyItem
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active, role_visible_clause

MAX_ROWS = 1000


@dataclass(frozen=True)
class AgendaEntry:
    activity: Activity
    item: AnyItem


def _agenda_stmt(role: Role, in_department: bool) -> Select[Any]:
    """The agenda query for every active user of `role` (with or without a department): one
    statement over the four item tables, each outer-joined on its own owner_type; a row is kept
    when the item it found is one the user may see. Built once: it costs milliseconds to build."""
    user_id = bindparam("user_id")
    department_id = bindparam("department_id") if in_department else None
    stmt = select(Activity, *ITEM_MODELS.values())
    visible = []
    for item_type, model in ITEM_MODELS.items():
        owned = and_(Activity.owner_type == item_type, Activity.owner_id == model.id)
        stmt = stmt.outerjoin(model, owned)
        seen = role_visible_clause(role, user_id, department_id, model)
        visible.append(and_(model.id.is_not(None), seen))
    return (
        stmt.where(
            Activity.responsible_id == user_id,
            Activity.completed.is_(False),
            Activity.deadline < bindparam("until"),
            or_(*visible),
        )
        .order_by(Activity.deadline, Activity.id)
        .limit(bindparam("limit"))
    )


_AGENDA = {(role, dept): _agenda_stmt(role, dept) for role in Role for dept in (False, True)}


async def my_open_activities(
    session: AsyncSession, user: User, *, until: datetime, limit: int = MAX_ROWS
) -> list[AgendaEntry]:
    """The user's open activities with a deadline before `until` (overdue ones included), nearest
    first, each with its item. Trashed items and items the user may no longer see are left out."""
    ensure_active(user)
    in_department = user.department_id is not None
    params = {"user_id": user.id, "until": ensure_utc(until), "limit": limit}
    if in_department:
        params["department_id"] = user.department_id
    rows = await session.execute(_AGENDA[user.role, in_department], params)
    return [AgendaEntry(activity, next(i for i in items if i is not None)) for activity, *items in rows]
