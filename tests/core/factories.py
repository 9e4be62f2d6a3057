"""Test helpers: users, departments and items. Shared by all crm_core tests; keep stable."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, ReminderState
from crm_core.models.items import Company, Contact, Deal, Lead
from crm_core.models.users import Department, Role, User
from crm_core.services import items as items_svc

_tg_ids = itertools.count(1_000_001)


async def make_department(session: AsyncSession, name: str = "Sales") -> Department:
    dept = Department(name=name)
    session.add(dept)
    await session.flush()
    return dept


async def make_user(
    session: AsyncSession,
    role: Role | str = Role.SALESPERSON,
    *,
    department: Department | None = None,
    name: str | None = None,
    **fields: Any,
) -> User:
    """An active user (unique telegram_id) with the given role and department."""
    tg = next(_tg_ids)
    user = User(
        telegram_id=tg,
        full_name=name or f"{Role(role).value} {tg}",
        role=Role(role),
        department_id=department.id if department else fields.pop("department_id", None),
        **fields,
    )
    session.add(user)
    await session.flush()
    return user


async def make_admin(session: AsyncSession, **kw: Any) -> User:
    return await make_user(session, Role.ADMIN, **kw)


async def make_lead(session: AsyncSession, actor: User, **kw: Any) -> Lead:
    kw.setdefault("title", "Test lead")
    return await items_svc.create_lead(session, actor, **kw)


async def make_deal(session: AsyncSession, actor: User, **kw: Any) -> Deal:
    kw.setdefault("title", "Test deal")
    return await items_svc.create_deal(session, actor, **kw)


async def make_contact(session: AsyncSession, actor: User, **kw: Any) -> Contact:
    kw.setdefault("name", "Ivan")
    return await items_svc.create_contact(session, actor, **kw)


async def make_company(session: AsyncSession, actor: User, **kw: Any) -> Company:
    kw.setdefault("title", "Acme LLC")
    return await items_svc.create_company(session, actor, **kw)


async def make_due_reminders(
    session: AsyncSession, users: list[User], lead: Lead, count: int, *, due_at: datetime, now: datetime
) -> list[Activity]:
    """`count` activities on `lead`, spread over `users`, each with one pending reminder at `due_at`
    (rows added in bulk; their subjects are "job-<n>-" so a delivered text names its activity)."""
    activities = [
        Activity(
            owner_type="lead", owner_id=lead.id, deadline=due_at, responsible_id=users[i % len(users)].id,
            subject=f"job-{i}-", created_at=now, updated_at=now,
        )
        for i in range(count)
    ]  # fmt: skip
    session.add_all(activities)
    await session.flush()
    session.add_all(
        ActivityReminder(
            activity_id=a.id, user_id=a.responsible_id, kind=ReminderKind.REMINDER, offset_minutes=0,
            due_at=due_at, state=ReminderState.PENDING, attempts=0, late=False, created_at=now,
        )
        for a in activities
    )  # fmt: skip
    return activities
