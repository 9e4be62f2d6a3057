"""The fast paths of the views agree with the slow ones after a mix of changes: kanban totals kept
by triggers (stage_totals) against aggregating the items; a non-admin's merged list pages against
one query with visible_clause; trigram-indexed "contains" search against the LIKE semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, text, update

from crm_core.models.items import (
    ITEM_MODELS,
    Communication,
    Deal,
    ItemObserver,
    ItemType,
    Lead,
    StageSemantics,
)
from crm_core.permissions import visible_clause
from crm_core.services import activities, bulk, conversion, trash
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services import views as v
from crm_core.services.search import search_items
from crm_core.services.views.observed import COPIED
from tests.core.factories import (
    make_admin,
    make_company,
    make_contact,
    make_deal,
    make_department,
    make_lead,
    make_user,
)


def _columns(cols: list[v.KanbanColumn]) -> list[tuple[int, int, Decimal, dict[str, Decimal]]]:
    return [(c.stage_id, c.count, c.amount, dict(c.amounts)) for c in cols]


async def _assert_totals_agree(session, actors, pipeline_ids) -> None:
    for actor in actors:
        for pipeline_id in pipeline_ids:
            for closed in (False, True):
                fast = await v.kanban(session, actor, pipeline_id, include_closed=closed)
                slow = await v.kanban_by_scan(session, actor, pipeline_id, include_closed=closed)
                assert _columns(fast) == _columns(slow), (actor.role, pipeline_id, closed)


async def _assert_copies_agree(session) -> int:
    """Every observation's copies (migration 0024) equal its item's columns; returns how many
    observations were compared."""
    compared = 0
    for item_type, model in ITEM_MODELS.items():
        names = [n for n in COPIED if n != "id" and hasattr(model, n)]
        o = ItemObserver
        stmt = (
            select(
                o.owner_id,
                o.user_id,
                *(getattr(o, COPIED[n]) for n in names),
                *(getattr(model, n) for n in names),
            )
            .join(model, model.id == o.owner_id)
            .where(o.owner_type == item_type)
        )
        for row in (await session.execute(stmt)).all():
            copies, items = row[2 : 2 + len(names)], row[2 + len(names) :]
            assert dict(zip(names, copies, strict=True)) == dict(zip(names, items, strict=True)), (
                item_type,
                row[0],
            )
            compared += 1
    assert compared == await session.scalar(select(func.count()).select_from(ItemObserver))  # none missed
    return compared


async def test_kanban_totals_follow_every_kind_of_change(session) -> None:
    admin = await make_admin(session)
    dept = await make_department(session)
    head = await make_user(session, "head", department=dept)
    s1 = await make_user(session, department=dept)
    s2 = await make_user(session)
    s3 = await make_user(session)
    actors = [admin, head, s1, s2, s3]
    deal_pipe = await pl.default_pipeline(session, ItemType.DEAL)
    lead_pipe = await pl.default_pipeline(session, ItemType.LEAD)
    other_pipe = await pl.create_pipeline(session, admin, name="Wholesale")
    stages = list(await pl.list_stages(session, deal_pipe.id))
    process = [s for s in stages if s.semantics == StageSemantics.PROCESS]

    people = [s1, s2, s3, head]
    deals = []
    for i in range(24):
        amount = None if i % 5 == 0 else f"{i * 1234.56 % 9999:.2f}"
        deals.append(
            await make_deal(
                session,
                admin,
                responsible_id=people[i % 4].id,
                stage_id=process[i % len(process)].id,
                amount=amount,
                currency="USD" if i % 3 == 0 else "RUB",
                observer_ids=[s3.id] if i % 7 == 0 else [],
            )
        )
    leads = [
        await make_lead(
            session, admin, responsible_id=people[i % 4].id, amount=str(100 + i) if i % 2 else None
        )
        for i in range(8)
    ]
    await _assert_totals_agree(session, actors, [deal_pipe.id, lead_pipe.id])
    await session.flush()
    assert await _assert_copies_agree(session) == 3

    # stage moves, to a closed stage too; a responsible change; amounts and currency edited
    await pl.move_stage(session, admin, deals[1], process[-1].id)
    await pl.move_stage(session, admin, deals[2], (await pl.success_stage(session, deal_pipe.id)).id)
    await items_svc.change_responsible(session, admin, deals[3], s2.id)
    await items_svc.update_item(session, admin, deals[4], {"amount": Decimal("0.01")})
    await items_svc.update_item(session, admin, deals[5], {"amount": None, "currency": "EUR"})
    await items_svc.update_item(session, admin, deals[6], {"title": "renamed only"})
    # another pipeline; trash, restore and trash again; bulk actions (one refused in its savepoint)
    await pl.move_to_pipeline(session, admin, deals[7], other_pipe.id)
    await trash.delete_item(session, admin, deals[8])
    await trash.delete_item(session, admin, deals[9])
    await trash.restore_item(session, admin, ItemType.DEAL, deals[9].id)
    await bulk.move_stage(session, admin, ItemType.DEAL, [deals[10].id, deals[11].id, 10**9], process[0].id)
    await bulk.change_responsible(session, s2, ItemType.DEAL, [deals[12].id, deals[13].id], s3.id)
    await bulk.delete(session, admin, ItemType.DEAL, [deals[14].id])
    # a conversion (the lead closes, a deal is made); a raw UPDATE as bulk jobs write
    await conversion.convert_lead(session, admin, leads[1].id, "deal")
    await session.execute(update(Deal).where(Deal.id == deals[15].id).values(responsible_id=s1.id, amount=5))
    await session.execute(update(Lead).where(Lead.id == leads[2].id).values(currency="USD"))
    # observers come and go: of a live deal, a trashed one, one then given to its observer; a
    # head observing a team member's deal and an outsider's; an observer row rewritten in place
    await items_svc.add_observer(session, admin, deals[16], s3.id)
    await items_svc.add_observer(session, admin, deals[17], s1.id)
    await items_svc.add_observer(session, admin, deals[18], head.id)
    await items_svc.add_observer(session, admin, deals[17], head.id)
    await items_svc.add_observer(session, admin, deals[19], s2.id)
    await items_svc.add_observer(session, admin, leads[3], s2.id)
    await session.flush()
    await session.execute(  # the services refuse a trashed item; the counters must ignore it
        text(
            "INSERT INTO item_observers (owner_type, owner_id, user_id, created_at) "
            "VALUES ('deal', :i, :u, CURRENT_TIMESTAMP)"
        ),
        {"i": deals[8].id, "u": s2.id},
    )
    await _assert_totals_agree(session, actors, [deal_pipe.id, lead_pipe.id])
    assert await _assert_copies_agree(session) >= 9
    # contacts and companies carry the copies they have; an activity and a reminder's focus
    # change a deal's last activity and focus by raw UPDATEs
    contact = await make_contact(session, admin, responsible_id=s1.id, observer_ids=[s2.id])
    company = await make_company(session, admin, responsible_id=s2.id, observer_ids=[s1.id])
    await items_svc.update_item(session, admin, contact, {"name": "Renamed"})
    await items_svc.change_responsible(session, admin, company, s3.id)
    await activities.create_activity(
        session,
        admin,
        owner_type=ItemType.DEAL,
        owner_id=deals[16].id,
        deadline=datetime.now(UTC) + timedelta(hours=2),
    )
    await session.execute(update(Deal).where(Deal.id == deals[17].id).values(focused_at=datetime.now(UTC)))
    await session.flush()
    assert await _assert_copies_agree(session) >= 11
    await items_svc.remove_observer(session, admin, deals[0], s3.id)
    await items_svc.remove_observer(session, admin, deals[19], s2.id)
    await items_svc.change_responsible(session, admin, deals[16], s3.id)
    await items_svc.update_item(session, admin, deals[17], {"amount": Decimal("77.70")})
    await pl.move_stage(session, admin, deals[18], process[0].id)
    await trash.delete_item(session, admin, deals[21])
    await session.flush()
    await session.execute(
        text("UPDATE item_observers SET user_id = :u WHERE owner_type = 'lead' AND owner_id = :i"),
        {"u": s1.id, "i": leads[3].id},
    )
    # for good: the trash purged long after
    await trash.purge_trash(session, datetime.now(UTC) + timedelta(days=60))
    await session.flush()
    await _assert_totals_agree(session, actors, [deal_pipe.id, lead_pipe.id, other_pipe.id])
    assert await _assert_copies_agree(session) > 0
    cols = await v.kanban(session, admin, other_pipe.id)
    assert sum(c.count for c in cols) == 1


async def test_non_admin_pages_are_what_visible_clause_selects(session) -> None:
    admin = await make_admin(session)
    dept = await make_department(session)
    head = await make_user(session, "head", department=dept)
    mate = await make_user(session, department=dept)
    s1 = await make_user(session)
    s2 = await make_user(session)
    stages = [s for s in await pl.list_stages(session, (await pl.default_pipeline(session, "deal")).id)]
    for i in range(30):
        owner = [s1, s2, mate, head][i % 4]
        await make_deal(
            session,
            admin,
            responsible_id=owner.id,
            stage_id=stages[i % 2].id,
            amount=None if i % 6 == 0 else str(i * 10),
            observer_ids=[s1.id] if i % 5 == 1 else [],
        )
    gone = await make_deal(session, admin, responsible_id=s1.id, stage_id=stages[0].id)
    await trash.delete_item(session, admin, gone)
    for actor in (s1, s2, head):
        for sort in ([("amount", "desc")], [("updated_at", "asc")], None):
            expected = list(await session.scalars(select(Deal.id).where(visible_clause(actor, Deal))))
            seen, cursor = [], None
            while True:
                page = await v.list_items(session, actor, "deal", sort=sort, limit=4, cursor=cursor)
                seen += [d.id for d in page.items]
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))
            offset_page = await v.list_items(
                session, actor, "deal", sort=sort, limit=4, offset=4, with_total=True
            )
            assert [d.id for d in offset_page.items] == seen[4:8] and offset_page.total == len(expected)
            assert await v.count_items(session, actor, "deal") == len(expected)
        column = await v.stage_items(session, actor, stages[0].id, limit=50, with_total=True)
        want = await session.scalars(
            select(Deal.id).where(visible_clause(actor, Deal), Deal.stage_id == stages[0].id)
        )
        assert sorted(d.id for d in column.items) == sorted(want) and column.total == len(column.items)


async def test_contains_search_by_index_keeps_the_like_semantics(session) -> None:
    admin = await make_admin(session)
    s1 = await make_user(session)
    await make_deal(session, admin, title="Поставка ЁЛОК в офис", responsible_id=s1.id)
    await make_deal(session, admin, title="поставка елок", responsible_id=admin.id)
    await make_deal(session, admin, title="100% Prepaid_deal", responsible_id=admin.id)
    contact = await make_contact(session, admin, name="Пётр", last_name="Иванов", phones=["+7 916 123-45-67"])
    company = await make_company(session, admin, title="ООО Ромашка", phones=["+7 495 765-43-21"])
    await make_lead(session, admin, title="", name="Анна", last_name="Смирнова", company_title="Альфа Трейд")

    async def found(actor, q):
        return {(h.item_type, h.id) for h in await search_items(session, actor, q)}

    yolki = await found(admin, "ёлок")  # ё is not е, as before; any case
    assert {t for t, _ in yolki} == {ItemType.DEAL} and len(yolki) == 1
    assert len(await found(admin, "ЕЛОК")) == 1
    assert len(await found(admin, "ставка")) == 2
    assert len(await found(s1, "ставка")) == 1  # only what the salesperson sees
    assert (ItemType.CONTACT, contact.id) in await found(admin, "ванов пёт")  # "last first"
    assert (ItemType.CONTACT, contact.id) in await found(admin, "ётр ив")  # "first last"
    assert len(await found(admin, "0% prepaid_")) == 1  # LIKE's wildcards are literal
    assert len(await found(admin, "0% prepaidx")) == 0
    assert {t for t, _ in await found(admin, "льфа трей")} == {ItemType.LEAD}
    assert {t for t, _ in await found(admin, "на смир")} == {ItemType.LEAD}
    assert (ItemType.CONTACT, contact.id) in await found(admin, "1234567")  # a phone fragment
    assert (ItemType.COMPANY, company.id) in await found(admin, "7654321")
    assert await found(s1, "1234567") == set()
    # the index follows edits: the old text no longer matches, the new one does
    await items_svc.update_item(session, admin, company, {"title": "ООО Лютик"})
    await items_svc.update_item(session, admin, contact, {}, phones=["+7 916 000-11-22"])
    assert await found(admin, "омашк") == set()
    assert {t for t, _ in await found(admin, "ютик")} == {ItemType.COMPANY}
    assert (ItemType.CONTACT, contact.id) not in await found(admin, "1234567")
    assert (ItemType.CONTACT, contact.id) in await found(admin, "6000112")
    digits = await session.scalar(
        select(Communication.normalized).where(
            Communication.owner_type == ItemType.CONTACT, Communication.owner_id == contact.id
        )
    )
    assert digits == "+79160001122"
    if session.get_bind().dialect.name == "sqlite":  # the index holds the lowered text
        body = await session.scalar(
            text("SELECT body FROM companies_fts WHERE rowid = :i"), {"i": company.id}
        )
        assert body == "ооо лютик"


async def test_name_prefix_search_is_the_newest_matches_however_common(session) -> None:
    """A prefix is read through its own index when few names start with it, through the trigram
    index otherwise (search.FEW_PREFIX_ROWS): either way the newest matches the actor sees."""
    from crm_core.services.search import FEW_PREFIX_ROWS, RANK_PREFIX

    admin = await make_admin(session)
    s1 = await make_user(session)
    common, rare = [], []
    for i in range(FEW_PREFIX_ROWS + 5):
        owner = s1 if i % 10 == 0 else admin
        common.append((await make_deal(session, admin, title=f"Zeta {i}", responsible_id=owner.id), owner))
        if i % 8 == 0:  # contains "zeta" (and "a ze") without starting with it
            other = await make_deal(session, admin, title=f"Alpha zeta {i}", responsible_id=owner.id)
            rare.append((other, owner))

    async def prefix_hits(actor, q):
        hits = await search_items(session, actor, q)
        assert all(h.rank == RANK_PREFIX for h in hits)
        return [h.id for h in hits]

    def newest(rows, actor=None):
        return sorted((d.id for d, o in rows if actor is None or o.id == actor.id), reverse=True)[:20]

    assert await prefix_hits(admin, "zeta") == newest(common)  # many start with it
    assert await prefix_hits(s1, "zeta") == newest(common, s1)
    assert await prefix_hits(admin, "alpha ze") == newest(rare)  # few do, many contain "zeta"
    assert await prefix_hits(s1, "alpha ze") == newest(rare, s1)
