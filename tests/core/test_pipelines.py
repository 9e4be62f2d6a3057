from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, ConcurrencyConflict, PipelineInvariantViolated, StageNotEmpty
from crm_core.models.items import Deal, ItemType, StageHistory, StageSemantics
from crm_core.models.timeline import EventType
from crm_core.models.users import Role
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services.timeline import list_events
from tests.core.factories import make_admin, make_deal, make_lead, make_user

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_seeded_default_pipelines(session):
    lead_pipe = await pl.default_pipeline(session, ItemType.LEAD)
    stages = await pl.list_stages(session, lead_pipe.id)
    # Seeded rows carry codes and no literal name: the bot names them in the reader's language.
    assert (lead_pipe.code, lead_pipe.name) == (pl.LEAD_PIPELINE_CODE, None)
    assert [(s.entity_type, s.code, s.name, s.semantics) for s in stages] == [
        (ItemType.LEAD, "NEW", None, StageSemantics.PROCESS),
        (ItemType.LEAD, "IN_PROCESS", None, StageSemantics.PROCESS),
        (ItemType.LEAD, "PROCESSED", None, StageSemantics.PROCESS),
        (ItemType.LEAD, "CONVERTED", None, StageSemantics.SUCCESS),
        (ItemType.LEAD, "JUNK", None, StageSemantics.FAILURE),
    ]
    deal_pipe = await pl.default_pipeline(session, ItemType.DEAL)
    assert (deal_pipe.code, deal_pipe.name) == (pl.GENERAL_PIPELINE_CODE, None)
    deal_stages = await pl.list_stages(session, deal_pipe.id)
    assert [s.code for s in deal_stages] == [code for code, _, _ in pl.DEFAULT_DEAL_STAGES]
    assert {(s.entity_type, s.name) for s in deal_stages} == {(ItemType.DEAL, None)}
    await pl.check_invariants(session, lead_pipe.id)
    await pl.check_invariants(session, deal_pipe.id)


async def test_admin_edits_pipelines_and_invariants_hold(session):
    admin = await make_admin(session)
    sales = await make_user(session, Role.SALESPERSON)
    pipe = await pl.create_pipeline(session, admin, name="Wholesale")
    stages = await pl.list_stages(session, pipe.id)
    assert pipe.name == "Wholesale" and pipe.code is None
    assert len(stages) == 8
    assert (stages[0].code, stages[0].name, stages[0].entity_type) == ("NEW", None, ItemType.DEAL)
    await pl.check_invariants(session, pipe.id)

    with pytest.raises(AccessDenied):
        await pl.create_stage(session, sales, pipe.id, name="x")
    with pytest.raises(AccessDenied):
        await pl.rename_pipeline(session, sales, pipe.id, name="Hack")

    new = await pl.create_stage(session, admin, pipe.id, name="Согласование", color="#aabbcc")
    assert new.color == "#AABBCC" and new.semantics == StageSemantics.PROCESS
    assert (new.name, new.code, new.entity_type) == ("Согласование", f"C{new.id}", ItemType.DEAL)
    process = [s for s in await pl.list_stages(session, pipe.id) if s.semantics == StageSemantics.PROCESS]
    assert process[-1].id == new.id  # appended to the process group
    with pytest.raises(PipelineInvariantViolated):
        await pl.create_stage(session, admin, pipe.id, name="Another win", semantics="success")

    await pl.update_stage(session, admin, new.id, name="Sign-off", color="#112233")
    await pl.rename_pipeline(session, admin, pipe.id, name="Wholesale B2B")
    assert new.name == "Sign-off" and new.color == "#112233" and pipe.name == "Wholesale B2B"

    ids = [s.id for s in await pl.list_stages(session, pipe.id)]
    reordered = [ids[1], ids[0], *ids[2:]]
    await pl.reorder_stages(session, admin, pipe.id, reordered)
    assert [s.id for s in await pl.list_stages(session, pipe.id)] == reordered

    success = await pl.success_stage(session, pipe.id)
    with pytest.raises(PipelineInvariantViolated):
        await pl.delete_stage(session, admin, success.id)
    failures = await pl.failure_stages(session, pipe.id)
    await pl.delete_stage(session, admin, failures[0].id)
    with pytest.raises(PipelineInvariantViolated):  # the last failure stage
        await pl.delete_stage(session, admin, failures[1].id)

    deal = await make_deal(session, admin, pipeline_id=pipe.id, stage_id=new.id)
    with pytest.raises(StageNotEmpty):
        await pl.delete_stage(session, admin, new.id)
    await pl.move_stage(session, admin, deal, ids[2])
    await pl.delete_stage(session, admin, new.id)
    assert new.id not in [s.id for s in await pl.list_stages(session, pipe.id)]
    await pl.check_invariants(session, pipe.id)


async def test_move_stage_history_events_and_closing(session):
    user = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, user, now=T0)
    stages = {s.code: s for s in await pl.list_stages(session, deal.pipeline_id)}
    assert deal.stage_id == stages["NEW"].id and not deal.closed

    t1 = T0 + timedelta(hours=2)
    assert await pl.move_stage(session, user, deal, stages["FINAL_INVOICE"].id, now=t1)  # skipping is allowed
    assert await pl.move_stage(session, user, deal, stages["FINAL_INVOICE"].id, now=t1) is False
    t2 = t1 + timedelta(hours=1)
    await pl.move_stage(session, user, deal, stages["WON"].id, now=t2)
    assert deal.closed and deal.won and deal.closed_at == t2
    t3 = t2 + timedelta(minutes=5)
    await pl.move_stage(session, user, deal, stages["APOLOGY"].id, now=t3)
    assert deal.closed and not deal.won
    await pl.move_stage(session, user, deal, stages["EXECUTING"].id, now=t3 + timedelta(minutes=1))
    assert not deal.closed and not deal.won and deal.closed_at is None

    history = await pl.stage_history(session, deal)
    assert [h.stage_id for h in history] == [
        stages[c].id for c in ("NEW", "FINAL_INVOICE", "WON", "APOLOGY", "EXECUTING")
    ]
    assert history[0].left_at == t1 and history[1].entered_at == t1 and history[-1].left_at is None
    assert all(h.by_user_id == user.id for h in history)

    events = await list_events(
        session, owner_type=ItemType.DEAL, owner_id=deal.id, event_types=[EventType.STAGE_CHANGED]
    )
    assert len(events) == 4
    first = events[-1]
    assert first.payload["from_stage_id"] == stages["NEW"].id
    assert first.payload["to_stage_id"] == stages["FINAL_INVOICE"].id
    assert first.payload["seconds_in_previous"] == 7200
    # The stages by code and literal name (None: a default stage named in the reader's language).
    assert (first.payload["from_code"], first.payload["to_code"]) == ("NEW", "FINAL_INVOICE")
    assert first.payload["from_name"] is None and first.payload["to_name"] is None
    assert first.author_id == user.id and first.created_at == t1


async def test_a_move_closes_the_stage_record_already_loaded(session):
    """The open record is closed by a plain UPDATE: the session's loaded copy must say so too."""
    user = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, user, now=T0)
    stages = {s.code: s for s in await pl.list_stages(session, deal.pipeline_id)}
    [opened] = await pl.stage_history(session, deal)
    assert opened.left_at is None
    t1 = T0 + timedelta(hours=1)
    await pl.move_stage(session, user, deal, stages["PREPARATION"].id, now=t1)
    assert opened.left_at == t1
    assert opened not in session.dirty  # as loaded, not a change of its own to flush
    left = await session.scalar(select(StageHistory.left_at).where(StageHistory.id == opened.id))
    assert left == t1


async def test_lead_failure_stage_closes_as_poor(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user)
    junk = (await pl.failure_stages(session, lead.pipeline_id))[0]
    await pl.move_stage(session, user, lead, junk.id)
    assert lead.closed and not lead.won
    assert (await items_svc.get_item(session, user, ItemType.LEAD, lead.id)).id == lead.id  # stays in the CRM


async def test_move_deal_to_another_pipeline(session):
    admin = await make_admin(session)
    deal = await make_deal(session, admin)
    other = await pl.create_pipeline(session, admin, name="Service")
    await pl.move_to_pipeline(session, admin, deal, other.id)
    first = await pl.first_stage(session, other.id)
    assert (deal.pipeline_id, deal.stage_id) == (other.id, first.id)
    target = (await pl.list_stages(session, other.id))[3]
    general = await pl.default_pipeline(session, ItemType.DEAL)
    back = (await pl.list_stages(session, general.id))[2]
    await pl.move_to_pipeline(session, admin, deal, general.id, stage_id=back.id)
    assert (deal.pipeline_id, deal.stage_id) == (general.id, back.id)
    await pl.move_stage(session, admin, deal, target.id)  # a stage of another pipeline moves it there too
    assert deal.pipeline_id == other.id
    events = await list_events(
        session, owner_type=ItemType.DEAL, owner_id=deal.id, event_types=[EventType.STAGE_CHANGED]
    )
    assert events[-1].payload["to_pipeline_id"] == other.id


async def test_concurrent_stage_moves_conflict(db):
    async with db.unit_of_work() as s:
        user = await make_user(s, Role.SALESPERSON)
        deal = await make_deal(s, user)
        stages = await pl.list_stages(s, deal.pipeline_id)
        deal_id = deal.id
    # Two people open the same card.
    s1, s2 = db.sessionmaker(), db.sessionmaker()
    try:
        actor1 = await s1.get(type(user), user.id)
        d1 = await items_svc.get_item(s1, actor1, ItemType.DEAL, deal_id)
        await s1.commit()
        actor2 = await s2.get(type(user), user.id)
        d2 = await items_svc.get_item(s2, actor2, ItemType.DEAL, deal_id)
        await s2.commit()
        seen_version = d2.version
        # The first move wins.
        await pl.move_stage(s1, actor1, d1, stages[2].id)
        await s1.commit()
        # The second, made on the stale card, is refused instead of silently overwriting.
        with pytest.raises(ConcurrencyConflict):
            await pl.move_stage(s2, actor2, d2, stages[4].id)
        await s2.rollback()
        actor2 = await s2.get(type(user), user.id)  # the rollback expired everything
        # A fresh load with the version the user saw is refused as well.
        fresh = await items_svc.get_item(s2, actor2, ItemType.DEAL, deal_id)
        with pytest.raises(ConcurrencyConflict):
            await pl.move_stage(s2, actor2, fresh, stages[4].id, expected_version=seen_version)
        await s2.rollback()
    finally:
        await s1.close()
        await s2.close()
    async with db.unit_of_work() as s:
        final = await s.scalar(select(Deal).where(Deal.id == deal_id))
        assert final.stage_id == stages[2].id
        assert final.version == 2
