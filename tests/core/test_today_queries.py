"""/today's query: the user's open activities before a horizon, on items of all four types they
may see, nearest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_core.models.users import Role
from crm_core.services import activities as activities_svc
from crm_core.services import trash
from crm_core.services.today_queries import my_open_activities
from tests.core.factories import (
    make_admin,
    make_company,
    make_contact,
    make_deal,
    make_department,
    make_lead,
    make_user,
)

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def plan(session, actor, item, hours, responsible=None):
    activity = await activities_svc.create_activity(
        session,
        actor,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        deadline=NOW + timedelta(hours=hours),
        subject=f"{item.ref} {hours}",
        responsible_id=responsible.id if responsible else None,
    )
    return activity


async def test_all_item_types_nearest_first_and_only_what_the_user_may_see(session):
    admin = await make_admin(session)
    sales = await make_user(session)
    other = await make_user(session)
    lead, deal = await make_lead(session, sales), await make_deal(session, sales)
    contact, company = await make_contact(session, sales), await make_company(session, sales)
    trashed, lost = await make_lead(session, sales), await make_deal(session, sales)
    expected = [
        await plan(session, sales, company, -1),  # overdue
        await plan(session, sales, deal, 1),
        await plan(session, sales, contact, 2),
        await plan(session, sales, lead, 3),
    ]
    await plan(session, sales, lead, 24 * 30)  # beyond the horizon
    done = await plan(session, sales, deal, 4)
    await activities_svc.complete_activity(session, sales, done.id)
    await plan(session, sales, trashed, 5)
    admins = await plan(session, admin, trashed, 8, responsible=admin)  # trashed: hidden from all
    await trash.delete_item(session, sales, trashed)
    await plan(session, sales, lost, 6)
    lost.responsible_id = other.id  # handed over: no longer the salesperson's to see
    await session.flush()
    await plan(session, admin, lead, 7, responsible=other)  # someone else's activity

    until = NOW + timedelta(days=8)
    entries = await my_open_activities(session, sales, until=until)
    assert [e.activity.id for e in entries] == [a.id for a in expected]
    assert [e.item for e in entries] == [company, deal, contact, lead]
    assert [e.activity.id for e in await my_open_activities(session, sales, until=until, limit=2)] == [
        a.id for a in expected[:2]
    ]
    assert admins.id not in [e.activity.id for e in await my_open_activities(session, admin, until=until)]
    # Other's activity is on a lead only the salesperson may see.
    assert await my_open_activities(session, other, until=until) == []


async def test_a_head_sees_the_departments_items(session):
    dept, other_dept = await make_department(session), await make_department(session, "Other")
    head = await make_user(session, Role.HEAD, department=dept)
    member = await make_user(session, department=dept)
    outsider = await make_user(session, department=other_dept)
    team_lead, outside_lead = await make_lead(session, member), await make_lead(session, outsider)
    seen = await plan(session, member, team_lead, 1, responsible=head)
    await plan(session, outsider, outside_lead, 2, responsible=head)
    entries = await my_open_activities(session, head, until=NOW + timedelta(days=8))
    assert [e.activity.id for e in entries] == [seen.id]
