import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, NotFound, UserDeactivated
from crm_core.models.items import Deal, ItemType, Lead
from crm_core.models.users import Role
from crm_core.permissions import ObservedPart, can_view, visible_clause, visible_parts
from crm_core.refs import resolve_ref
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services import trash
from crm_core.services.timeline import list_events
from tests.core.factories import make_admin, make_deal, make_department, make_lead, make_user


async def _visible_ids(session, actor, model):
    return set(await session.scalars(select(model.id).where(visible_clause(actor, model))))


async def test_salesperson_cannot_read_or_change_others_items(session):
    owner = await make_user(session, Role.SALESPERSON)
    stranger = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, owner, title="Mine")
    stages = await pl.list_stages(session, deal.pipeline_id)
    for attempt in (
        lambda: items_svc.get_item(session, stranger, ItemType.DEAL, deal.id),
        lambda: resolve_ref(session, stranger, deal.ref),
        lambda: items_svc.update_item(session, stranger, deal, {"title": "Hacked"}),
        lambda: pl.move_stage(session, stranger, deal, stages[3].id),
        lambda: items_svc.change_responsible(session, stranger, deal, stranger.id),
        lambda: items_svc.add_observer(session, stranger, deal, stranger.id),
        lambda: trash.delete_item(session, stranger, deal),
    ):
        with pytest.raises(AccessDenied):
            await attempt()
    assert deal.title == "Mine" and deal.stage_id == stages[0].id and deal.deleted_at is None
    assert len(await list_events(session, owner_type=ItemType.DEAL, owner_id=deal.id)) == 1  # only "created"
    assert await _visible_ids(session, stranger, Deal) == set()
    assert await _visible_ids(session, owner, Deal) == {deal.id}


async def test_observer_sees_and_edits(session):
    owner = await make_user(session, Role.SALESPERSON)
    watcher = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, owner, observer_ids=[watcher.id])
    assert await items_svc.get_item(session, watcher, ItemType.LEAD, lead.id) is lead
    await items_svc.update_item(session, watcher, lead, {"comment": "called"})
    assert await _visible_ids(session, watcher, Lead) == {lead.id}
    await items_svc.remove_observer(session, owner, lead, watcher.id)
    with pytest.raises(AccessDenied):
        await items_svc.get_item(session, watcher, ItemType.LEAD, lead.id)
    assert await _visible_ids(session, watcher, Lead) == set()


async def test_head_sees_department_only(session):
    north = await make_department(session, "North")
    south = await make_department(session, "South")
    head = await make_user(session, Role.HEAD, department=north)
    mine = await make_user(session, Role.SALESPERSON, department=north)
    theirs = await make_user(session, Role.SALESPERSON, department=south)
    lead_team = await make_lead(session, mine, title="team")
    lead_other = await make_lead(session, theirs, title="other")
    lead_observed = await make_lead(session, theirs, title="observed", observer_ids=[head.id])
    assert await _visible_ids(session, head, Lead) == {lead_team.id, lead_observed.id}
    assert await items_svc.get_item(session, head, ItemType.LEAD, lead_team.id) is lead_team
    await items_svc.update_item(session, head, lead_team, {"title": "team, checked"})
    with pytest.raises(AccessDenied):
        await items_svc.get_item(session, head, ItemType.LEAD, lead_other.id)
    with pytest.raises(AccessDenied):
        await items_svc.update_item(session, head, lead_other, {"title": "x"})
    # A salesperson of the same department sees only their own items, not the head's view.
    assert await _visible_ids(session, mine, Lead) == {lead_team.id}


async def test_admin_sees_all_inactive_user_nothing(session):
    admin = await make_admin(session)
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user)
    assert await _visible_ids(session, admin, Lead) == {lead.id}
    assert await can_view(session, admin, lead)
    user.is_active = False
    await session.flush()
    assert await _visible_ids(session, user, Lead) == set()
    with pytest.raises(UserDeactivated):
        await items_svc.get_item(session, user, ItemType.LEAD, lead.id)
    with pytest.raises(AccessDenied):  # UserDeactivated is an AccessDenied
        await items_svc.update_item(session, user, lead, {"title": "x"})
    with pytest.raises(AccessDenied):
        await make_lead(session, user)


async def test_visible_clause_matches_can_view(session):
    north = await make_department(session, "North")
    users = [
        await make_admin(session),
        await make_user(session, Role.HEAD, department=north),
        await make_user(session, Role.SALESPERSON, department=north),
        await make_user(session, Role.SALESPERSON),
    ]
    leads = []
    for i, u in enumerate(users):
        leads.append(await make_lead(session, u, title=f"L{i}", observer_ids=[users[(i + 1) % 4].id]))
    for actor in users:
        expected = {lead.id for lead in leads if await can_view(session, actor, lead)}
        assert await _visible_ids(session, actor, Lead) == expected


async def test_visible_parts_split_the_rule_without_overlap(session):
    """A list reads what an actor sees as parts (by owner, observed only): together they are
    exactly visible_clause's rows, and no row is in two of them, for every role, over own, team,
    observed (a team row observed too) and trashed rows."""
    north = await make_department(session, "North")
    admin = await make_admin(session)
    head = await make_user(session, Role.HEAD, department=north)
    sales = await make_user(session, Role.SALESPERSON, department=north)
    lone = await make_user(session, Role.SALESPERSON)
    gone = await make_user(session, Role.SALESPERSON)
    users = [admin, head, sales, lone]
    deals = []
    for i, owner in enumerate(users):
        for j, watcher in enumerate([None, *users]):
            observers = [watcher.id] if watcher is not None and watcher is not owner else []
            deal = await make_deal(
                session, admin, title=f"D{i}{j}", responsible_id=owner.id, observer_ids=observers
            )
            deals.append(deal)
            if j % 2:
                await trash.delete_item(session, admin, deal)
    gone.is_active = False
    await session.flush()
    dialect = session.get_bind().dialect.name
    for actor in [*users, gone]:
        expected = await _visible_ids(session, actor, Deal)
        seen: list[int] = []
        for part in visible_parts(actor, Deal, dialect=dialect):
            if isinstance(part, ObservedPart):
                by_id = set(await session.scalars(select(Deal.id).where(*part.by_id)))
                by_copies = await session.scalars(select(part.observations.c.owner_id).where(*part.copies))
                assert set(by_copies) == by_id, actor.role  # the two forms agree
                seen += by_id
                continue
            seen += list(await session.scalars(select(Deal.id).where(*part)))
        assert sorted(seen) == sorted(expected), actor.role
        assert len(seen) == len(set(seen))
    assert await _visible_ids(session, sales, Deal)  # the cases are not all empty


async def test_trashed_item_is_not_found(session):
    user = await make_user(session, Role.SALESPERSON)
    lead = await make_lead(session, user)
    await trash.delete_item(session, user, lead)
    with pytest.raises(NotFound):
        await items_svc.get_item(session, user, ItemType.LEAD, lead.id)
    assert await _visible_ids(session, user, Lead) == set()
