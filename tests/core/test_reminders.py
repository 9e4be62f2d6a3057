"""Reminder offsets (resolution order, validation), reminder rows, and the claim/send/release cycle,
including two concurrent claimers and an expired lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, ValidationFailed
from crm_core.models.activities import ActivityReminder, ReminderKind, ReminderState
from crm_core.models.items import Deal, Lead
from crm_core.services import activities as acts
from crm_core.services import reminders as rem
from tests.core.factories import make_admin, make_deal, make_lead, make_user

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def live(session, activity_id):
    return await rem.pending_reminders(session, activity_id)


async def offsets_of(session, activity_id):
    return sorted(
        r.offset_minutes for r in await live(session, activity_id) if r.kind == ReminderKind.REMINDER
    )


def test_validate_offsets():
    assert rem.validate_offsets([15, 0, 15, 1440]) == [1440, 15, 0]
    assert rem.validate_offsets([7]) == [7]  # custom values are fine
    assert rem.validate_offsets([10080]) == [10080]
    for bad in ([-1], [10081], [1.5], ["5"], [True], list(range(11))):
        with pytest.raises(ValidationFailed):
            rem.validate_offsets(bad)


async def test_resolution_order_activity_user_pipeline_default(session):
    admin = await make_admin(session)
    plain = await make_user(session)
    picky = await make_user(session, reminder_offsets=[60])
    deal_plain = await make_deal(session, plain)
    deal_picky = await make_deal(session, picky)
    far = NOW + timedelta(days=3)

    # 4. nothing set anywhere: [0, 15]
    a1 = await acts.create_activity(
        session, plain, owner_type="deal", owner_id=deal_plain.id, deadline=far, now=NOW
    )
    assert await offsets_of(session, a1.id) == [0, 15]

    # 3. pipeline default beats the built-in default
    await rem.set_pipeline_defaults(session, admin, deal_plain.pipeline_id, [30, 120])
    a2 = await acts.create_activity(
        session, plain, owner_type="deal", owner_id=deal_plain.id, deadline=far, now=NOW
    )
    assert await offsets_of(session, a2.id) == [30, 120]

    # 2. the responsible's own default beats the pipeline's
    a3 = await acts.create_activity(
        session, picky, owner_type="deal", owner_id=deal_picky.id, deadline=far, now=NOW
    )
    assert await offsets_of(session, a3.id) == [60]

    # 1. the activity's explicit offsets beat everything; [] means none (the overdue notice stays)
    a4 = await acts.create_activity(
        session,
        picky,
        owner_type="deal",
        owner_id=deal_picky.id,
        deadline=far,
        reminder_offsets=[5, 1440],
        now=NOW,
    )
    assert await offsets_of(session, a4.id) == [5, 1440]
    a5 = await acts.create_activity(
        session, picky, owner_type="deal", owner_id=deal_picky.id, deadline=far, reminder_offsets=[], now=NOW
    )
    assert await offsets_of(session, a5.id) == []
    assert [r.kind for r in await live(session, a5.id)] == [ReminderKind.OVERDUE]

    # Clearing the override goes back to the defaults, at once.
    await acts.update_activity(session, picky, a4.id, reminder_offsets=None, now=NOW)
    assert await offsets_of(session, a4.id) == [60]

    with pytest.raises(AccessDenied):
        await rem.set_pipeline_defaults(session, plain, deal_plain.pipeline_id, [5])
    assert await rem.set_pipeline_defaults(session, admin, deal_plain.pipeline_id, None) is None
    a6 = await acts.create_activity(
        session, plain, owner_type="deal", owner_id=deal_plain.id, deadline=far, now=NOW
    )
    assert await offsets_of(session, a6.id) == [0, 15]


async def test_past_due_reminders_are_not_created(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    # 10 minutes ahead: the 15-minute reminder is already past, the one at the deadline is not.
    a1 = await acts.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(minutes=10), now=NOW
    )
    assert await offsets_of(session, a1.id) == [0]
    # Only a 60-minute reminder configured, deadline in 30 minutes: one at the deadline instead.
    a2 = await acts.create_activity(
        session,
        user,
        owner_type="lead",
        owner_id=lead.id,
        deadline=NOW + timedelta(minutes=30),
        reminder_offsets=[60],
        now=NOW,
    )
    assert await offsets_of(session, a2.id) == [0]
    # A deadline already passed: no reminder, no overdue notice (it is overdue already).
    a3 = await acts.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW - timedelta(hours=1), now=NOW
    )
    assert await live(session, a3.id) == []


async def _setup(db, *, n_activities=3, deadline=NOW + timedelta(hours=1)):
    async with db.unit_of_work() as s:
        user = await make_user(s)
        lead = await make_lead(s, user)
        deal = await make_deal(s, user)
        ids = []
        for i in range(n_activities):
            owner = lead if i % 2 == 0 else deal
            a = await acts.create_activity(
                s, user, owner_type=owner.ITEM_TYPE, owner_id=owner.id, deadline=deadline, now=NOW
            )
            ids.append(a.id)
    return user, lead, deal, ids


async def test_claim_mark_sent_focuses_the_item(db):
    user, lead, deal, ids = await _setup(db, n_activities=1)
    due_15 = NOW + timedelta(minutes=45)
    async with db.unit_of_work() as s:
        assert (
            await rem.claim_due(
                s, now=due_15 - timedelta(seconds=1), lease_seconds=60, worker_id="w", limit=10
            )
            == []
        )
        claimed = await rem.claim_due(s, now=due_15, lease_seconds=60, worker_id="w1", limit=10)
        assert [(r.offset_minutes, r.state, r.claimed_by, r.attempts) for r in claimed] == [
            (15, ReminderState.CLAIMED, "w1", 1)
        ]
        assert claimed[0].claimed_until == due_15 + timedelta(seconds=60)
        assert not claimed[0].late
        acts_by_id = await rem.activities_for(s, claimed)
        assert set(acts_by_id) == {ids[0]}
    async with db.unit_of_work() as s:
        assert await rem.mark_sent(s, [claimed[0].id], due_15) == 1
    async with db.unit_of_work() as s:
        row = await s.get(ActivityReminder, claimed[0].id)
        assert row.state == ReminderState.SENT and row.sent_at == due_15
        assert (await s.get(Lead, lead.id)).focused_at == due_15
        assert (await s.get(Deal, deal.id)).focused_at is None
        # Sent rows are not claimed again.
        assert await rem.claim_due(s, now=due_15, lease_seconds=60, worker_id="w2", limit=10) == []


async def test_late_flag_when_claimed_long_after_due(db):
    await _setup(db, n_activities=1)
    async with db.unit_of_work() as s:
        rows = await rem.claim_due(s, now=NOW + timedelta(hours=3), lease_seconds=60, worker_id="w", limit=10)
    assert len(rows) == 3 and all(r.late for r in rows)


async def test_expired_lease_is_reclaimed(db):
    await _setup(db, n_activities=1)
    t = NOW + timedelta(hours=1)
    async with db.unit_of_work() as s:
        first = await rem.claim_due(s, now=t, lease_seconds=30, worker_id="crashed", limit=10)
    assert len(first) == 3
    # The worker died without mark_sent. Within the lease nobody else takes the rows.
    async with db.unit_of_work() as s:
        assert (
            await rem.claim_due(s, now=t + timedelta(seconds=29), lease_seconds=30, worker_id="w2", limit=10)
            == []
        )
    async with db.unit_of_work() as s:
        again = await rem.claim_due(
            s, now=t + timedelta(seconds=31), lease_seconds=30, worker_id="w2", limit=10
        )
    assert {r.id for r in again} == {r.id for r in first}
    assert all(r.claimed_by == "w2" and r.attempts == 2 for r in again)


async def test_release_retries_later_then_gives_up(db):
    await _setup(db, n_activities=1)
    t = NOW + timedelta(minutes=45)
    async with db.unit_of_work() as s:
        [row] = await rem.claim_due(s, now=t, lease_seconds=30, worker_id="w", limit=1)
        await rem.release(s, [row.id], retry_at=t + timedelta(minutes=5))
    async with db.unit_of_work() as s:
        assert (
            await rem.claim_due(s, now=t + timedelta(minutes=4), lease_seconds=30, worker_id="w", limit=1)
            == []
        )
        [again] = await rem.claim_due(
            s, now=t + timedelta(minutes=5), lease_seconds=30, worker_id="w", limit=1
        )
        assert again.id == row.id and again.attempts == 2
    for i in range(rem.MAX_ATTEMPTS):
        async with db.unit_of_work() as s:
            await rem.release(s, [row.id], retry_at=t + timedelta(minutes=6 + i))
        async with db.unit_of_work() as s:
            claimed = await rem.claim_due(
                s, now=t + timedelta(minutes=6 + i), lease_seconds=30, worker_id="w", limit=1
            )
        if not claimed:
            break
    async with db.unit_of_work() as s:
        final = await s.get(ActivityReminder, row.id)
        assert final.state == ReminderState.CANCELLED and final.attempts == rem.MAX_ATTEMPTS


async def test_completed_or_rescheduled_while_claimed_is_not_marked_sent(db):
    user, _lead, _deal, ids = await _setup(db, n_activities=2)
    t = NOW + timedelta(minutes=45)
    async with db.unit_of_work() as s:
        claimed = await rem.claim_due(s, now=t, lease_seconds=60, worker_id="w", limit=10)
    assert len(claimed) == 2
    by_activity = {r.activity_id: r for r in claimed}
    async with db.unit_of_work() as s:
        actor = await s.get(type(user), user.id)
        await acts.complete_activity(s, actor, ids[0], now=t)
        await acts.reschedule_activity(s, actor, ids[1], NOW + timedelta(days=1), now=t)
    async with db.unit_of_work() as s:
        assert await rem.mark_sent(s, [r.id for r in claimed], t) == 0
        r0 = await s.get(ActivityReminder, by_activity[ids[0]].id)
        r1 = await s.get(ActivityReminder, by_activity[ids[1]].id)
        assert r0.state == ReminderState.CANCELLED
        # Moved to the new deadline and pending again.
        assert r1.state == ReminderState.PENDING
        assert r1.due_at == NOW + timedelta(days=1) - timedelta(minutes=15)


async def test_concurrent_claimers_never_share_a_row(db):
    await _setup(db, n_activities=6)  # 18 due rows
    t = NOW + timedelta(hours=2)

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with db.unit_of_work() as s:
                rows = await rem.claim_due(s, now=t, lease_seconds=300, worker_id=name, limit=2)
            if not rows:
                return got
            got.extend(r.id for r in rows)

    results = await asyncio.gather(*(worker(f"w{i}") for i in range(3)))
    all_ids = [i for r in results for i in r]
    assert len(all_ids) == 18 and len(set(all_ids)) == 18


async def test_two_open_transactions_skip_each_others_rows_on_postgresql(db):
    if db.is_sqlite:
        pytest.skip("SQLite serialises writers: a second claimer waits for the first to commit")
    await _setup(db, n_activities=2)  # 6 due rows
    t = NOW + timedelta(hours=2)
    async with db.sessionmaker() as s1, db.sessionmaker() as s2:
        a = await rem.claim_due(s1, now=t, lease_seconds=300, worker_id="a", limit=4)
        # s1 has not committed: its rows are locked, s2 skips them instead of waiting.
        b = await asyncio.wait_for(rem.claim_due(s2, now=t, lease_seconds=300, worker_id="b", limit=10), 10)
        assert len(a) == 4 and len(b) == 2
        assert not {r.id for r in a} & {r.id for r in b}
        await s1.commit()
        await s2.commit()
    async with db.unit_of_work() as s:
        rows = list(await s.scalars(select(ActivityReminder)))
        assert {r.claimed_by for r in rows} == {"a", "b"}
        assert all(r.state == ReminderState.CLAIMED for r in rows)


async def test_completing_clears_focus_once_nothing_fired_is_open(db):
    user, lead, _deal, ids = await _setup(db, n_activities=3)  # activities 0 and 2 are on the lead
    t = NOW + timedelta(minutes=45)
    async with db.unit_of_work() as s:
        claimed = await rem.claim_due(s, now=t, lease_seconds=60, worker_id="w", limit=10)
        await rem.mark_sent(s, [r.id for r in claimed], t)
    async with db.unit_of_work() as s:
        actor = await s.get(type(user), user.id)
        await acts.complete_activity(s, actor, ids[0], now=t)
        assert (await s.get(Lead, lead.id)).focused_at == t  # activity 2 still fired and open
        await acts.complete_activity(s, actor, ids[2], now=t)
        assert (await s.get(Lead, lead.id)).focused_at is None


async def test_default_changes_replan_open_future_activities(session):
    admin = await make_admin(session)
    user = await make_user(session)
    deal = await make_deal(session, user)
    far = NOW + timedelta(days=3)
    a = await acts.create_activity(session, user, owner_type="deal", owner_id=deal.id, deadline=far, now=NOW)
    fixed = await acts.create_activity(
        session, user, owner_type="deal", owner_id=deal.id, deadline=far, reminder_offsets=[5], now=NOW
    )
    await rem.set_pipeline_defaults(session, admin, deal.pipeline_id, [120], now=NOW)
    assert await offsets_of(session, a.id) == [120]
    assert await offsets_of(session, fixed.id) == [5]
    user.reminder_offsets = [30]
    assert await rem.resync_user_defaults(session, user.id, now=NOW) == 1
    assert await offsets_of(session, a.id) == [30]


async def test_trash_suspends_and_restore_resumes_reminders(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    a = await acts.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=NOW + timedelta(days=1), now=NOW
    )
    await rem.suspend_item_reminders(session, "lead", lead.id)
    assert await live(session, a.id) == []
    assert await rem.resume_item_reminders(session, "lead", lead.id, now=NOW) == 1
    assert len(await live(session, a.id)) == 3
