"""Bulk actions: each item on its own; a refusal is reported for that item and undoes nothing else."""

from crm_core.errors import NotFound
from crm_core.models.items import ItemType, Lead
from crm_core.models.users import Role
from crm_core.services import bulk
from crm_core.services import pipelines as pipelines_svc
from tests.core.factories import make_admin, make_lead, make_user


async def test_each_item_succeeds_or_fails_on_its_own(session):
    admin = await make_admin(session)
    seller = await make_user(session, Role.SALESPERSON)
    other = await make_user(session, Role.SALESPERSON)
    mine = await make_lead(session, seller, title="Mine")
    also_mine = await make_lead(session, seller, title="Also mine")
    theirs = await make_lead(session, other, title="Theirs")
    results = await bulk.change_responsible(
        session, seller, ItemType.LEAD, [mine.id, theirs.id, also_mine.id, mine.id], other.id
    )
    assert [(r.ref, r.ok) for r in results] == [
        (mine.ref, True),
        (theirs.ref, False),
        (also_mine.ref, True),
    ]
    assert isinstance(results[1].error, NotFound)  # someone else's lead looks like no lead
    assert mine.responsible_id == other.id and also_mine.responsible_id == other.id
    assert (await session.get(Lead, theirs.id)).responsible_id == other.id

    # A move runs for each lead the actor may change.
    stages = await pipelines_svc.list_stages(session, mine.pipeline_id)
    results = await bulk.move_stage(session, admin, ItemType.LEAD, [mine.id, also_mine.id], stages[1].id)
    assert all(r.ok for r in results) and mine.stage_id == also_mine.stage_id == stages[1].id


async def test_bulk_delete_reports_missing_items(session):
    seller = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, seller)
    results = await bulk.delete(session, seller, ItemType.LEAD, [lead.id, 10_000])
    assert [r.ok for r in results] == [True, False]
    assert lead.deleted_at is not None
    assert isinstance(results[1].error, NotFound)
