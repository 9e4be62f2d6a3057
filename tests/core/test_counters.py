"""Counters (overdue / today / incoming / idle), the activities view and the calendar, across
timezones: the same deadlines seen from UTC+10 and UTC-5 at the same instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event

from crm_core.errors import AccessDenied
from crm_core.models.items import ItemType
from crm_core.models.users import Role
from crm_core.services import activities as acts
from crm_core.services import pipelines as pl
from crm_core.services.counters import Counters, activities_view, calendar_month, get_counters
from tests.core.factories import make_deal, make_department, make_lead, make_user

# Tuesday 10 March 2026, 20:00 UTC = Wednesday 11 March 06:00 in Vladivostok (UTC+10)
#                                  = Tuesday 10 March 15:00 in Bogota (UTC-5).
NOW = datetime(2026, 3, 10, 20, 0, tzinfo=UTC)


def at(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


async def plan(session, user, item, deadline, **kw):
    return await acts.create_activity(
        session, user, owner_type=item.ITEM_TYPE, owner_id=item.id, deadline=deadline, now=NOW, **kw
    )


async def build_portfolio(session, user, colleague):
    """The same set of items and deadlines for any user."""
    overdue_in_east = await make_lead(session, user, title="A")
    await plan(session, user, overdue_in_east, at(10, 10))  # Vlad: 10 Mar 20:00 | Bogota: 10 Mar 05:00
    today_both = await make_deal(session, user, title="B")
    await plan(session, user, today_both, at(11, 3))  # Vlad: 11 Mar 13:00 | Bogota: 10 Mar 22:00
    tomorrow_in_west = await make_lead(session, user, title="C")
    await plan(session, user, tomorrow_in_west, at(11, 12))  # Vlad: 11 Mar 22:00 | Bogota: 11 Mar 07:00
    await make_lead(session, user, title="idle")
    incoming = await make_lead(session, user, title="incoming")
    await acts.create_incoming_activity(session, owner_type="lead", owner_id=incoming.id, now=NOW)
    twice_overdue = await make_deal(session, user, title="two overdue")
    await plan(session, user, twice_overdue, at(9, 10))
    await plan(session, user, twice_overdue, at(9, 11))
    done_only = await make_lead(session, user, title="completed only")
    done = await plan(session, user, done_only, at(9, 10))
    await acts.complete_activity(session, user, done.id, now=NOW)

    # Not counted: won deal, trashed lead, someone else's lead.
    pipeline = await pl.default_pipeline(session, ItemType.DEAL)
    won = await pl.success_stage(session, pipeline.id)
    won_deal = await make_deal(session, user, title="won", stage_id=won.id)
    await plan(session, user, won_deal, at(1, 10))
    trashed = await make_lead(session, user, title="trashed")
    await plan(session, user, trashed, at(1, 10))
    trashed.deleted_at = NOW
    theirs = await make_lead(session, colleague, title="theirs", observer_ids=[user.id])
    await plan(session, colleague, theirs, at(1, 10))
    await session.flush()


async def test_counters_differ_across_a_timezone_boundary(session, db):
    east = await make_user(session, timezone="Asia/Vladivostok")
    west = await make_user(session, timezone="America/Bogota")
    colleague = await make_user(session)
    await build_portfolio(session, east, colleague)
    await build_portfolio(session, west, colleague)

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        east_counts = await get_counters(session, east, NOW)
        assert len(statements) == 1  # one SQL statement for the whole counter set
        west_counts = await get_counters(session, west, NOW)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)

    assert east_counts == Counters(overdue=2, today=3, incoming=1, idle=2)
    assert west_counts == Counters(overdue=1, today=3, incoming=1, idle=2)
    assert east_counts.total == 6

    # At midnight in Bogota (05:00 UTC) yesterday's deadlines there become overdue, C becomes today.
    assert await get_counters(session, west, at(11, 4)) == west_counts
    assert await get_counters(session, west, at(11, 5)) == Counters(overdue=4, today=1, incoming=1, idle=2)


async def test_counters_of_a_user_with_nothing(session):
    user = await make_user(session)
    assert await get_counters(session, user, NOW) == Counters(0, 0, 0, 0)


async def test_completing_the_last_activity_makes_the_item_idle(session):
    user = await make_user(session, timezone="Asia/Vladivostok")
    lead = await make_lead(session, user)
    a = await plan(session, user, lead, at(10, 10))
    assert await get_counters(session, user, NOW) == Counters(overdue=1, today=0, incoming=0, idle=0)
    await acts.complete_activity(session, user, a.id, now=NOW)
    assert await get_counters(session, user, NOW) == Counters(overdue=0, today=0, incoming=0, idle=1)


async def test_activities_view_groups_by_nearest_open_activity(session):
    user = await make_user(session, timezone="Asia/Vladivostok")  # local now: Wed 11 Mar 06:00
    items = {}
    for name, deadlines in {
        "overdue": [at(10, 10), at(1, 0, month=4)],  # nearest decides: overdue
        "today": [at(11, 3), at(1, 0, month=4)],
        "this_week": [at(13, 0)],  # Fri 13 Mar local
        "next_week": [at(17, 0)],  # Tue 17 Mar local
        "later": [at(1, 0, month=4)],
        "none": [],
    }.items():
        lead = await make_lead(session, user, title=name)
        items[name] = lead
        for d in deadlines:
            await plan(session, user, lead, d)
    extra_today = await make_deal(session, user, title="today too")
    await plan(session, user, extra_today, at(10, 23))  # 11 Mar 09:00 local

    view = await activities_view(session, user, NOW)
    assert view.counts == {"overdue": 1, "today": 2, "this_week": 1, "next_week": 1, "later": 1, "none": 1}
    for name, lead in items.items():
        if name != "today":
            assert [(e.owner_type, e.owner_id) for e in view.groups[name]] == [(ItemType.LEAD, lead.id)]
    # Today's group: nearest first.
    assert [(e.owner_type, e.owner_id) for e in view.groups["today"]] == [
        (ItemType.DEAL, extra_today.id),
        (ItemType.LEAD, items["today"].id),
    ]
    assert view.groups["today"][0].nearest_deadline == at(10, 23)
    assert view.groups["none"][0].nearest_deadline is None

    paged = await activities_view(session, user, NOW, limit_per_group=1)
    assert paged.counts["today"] == 2 and len(paged.groups["today"]) == 1


async def test_calendar_places_activities_on_local_days(session):
    east = await make_user(session, timezone="Asia/Vladivostok")
    lead = await make_lead(session, east)
    first = await plan(session, east, lead, at(28, 15, month=2))  # 1 Mar 01:00 in Vladivostok
    last = await plan(session, east, lead, at(31, 13))  # 31 Mar 23:00
    april = await plan(session, east, lead, at(31, 15))  # 1 Apr 01:00: next month
    done = await plan(session, east, lead, at(15, 2))
    await acts.complete_activity(session, east, done.id, now=NOW)

    days = await calendar_month(session, east, 2026, 3)
    assert {d: [a.id for a in v] for d, v in days.items()} == {
        date(2026, 3, 1): [first.id],
        date(2026, 3, 15): [done.id],
        date(2026, 3, 31): [last.id],
    }
    open_only = await calendar_month(session, east, 2026, 3, include_completed=False)
    assert date(2026, 3, 15) not in open_only

    # A head of the department may look at a member's calendar, a peer may not.
    dept = await make_department(session)
    east.department_id = dept.id
    head = await make_user(session, Role.HEAD, department=dept, timezone="America/Bogota")
    peer = await make_user(session, department=dept)
    seen_by_head = await calendar_month(session, head, 2026, 3, responsible_id=east.id)
    # In Bogota the first activity is still on 28 February, so not in March.
    assert date(2026, 3, 1) not in seen_by_head
    assert [a.id for a in seen_by_head[date(2026, 3, 31)]] == [last.id, april.id]
    with pytest.raises(AccessDenied):
        await calendar_month(session, peer, 2026, 3, responsible_id=east.id)
    december = await calendar_month(session, east, 2026, 12)
    assert december == {}


def test_day_bounds_follow_local_midnight():
    from crm_core.services.counters import day_bounds

    class U:
        timezone = "America/Bogota"

    b = day_bounds(U(), NOW)
    assert b.today_start == at(10, 5) and b.tomorrow_start == at(11, 5)
    assert b.next_week_start == at(16, 5) and b.week_after_start == at(23, 5)
    assert timedelta(days=1) == b.tomorrow_start - b.today_start
