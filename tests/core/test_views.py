"""Kanban, list filters/sorting/paging, date presets and saved filters (crm_core.services.views)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import and_, or_, true, update

from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.items import Deal, ItemType, Lead, StageSemantics
from crm_core.models.users import Role
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services import trash
from crm_core.services import views as v
from crm_core.services.views import Condition
from crm_core.services.views.paging import _resume, sort_keys
from tests.core.factories import make_admin, make_contact, make_deal, make_department, make_lead, make_user
from tests.core.sql_log import statements

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


async def _deal_stages(session):
    pipe = await pl.default_pipeline(session, ItemType.DEAL)
    return pipe, list(await pl.list_stages(session, pipe.id))


async def test_kanban_counts_sums_and_visibility(session) -> None:
    admin = await make_admin(session)
    s1 = await make_user(session)
    s2 = await make_user(session)
    pipe, stages = await _deal_stages(session)
    new, prep, won = stages[0], stages[1], next(s for s in stages if s.semantics == StageSemantics.SUCCESS)
    await make_deal(session, admin, responsible_id=s1.id, stage_id=new.id, amount="100.50")
    await make_deal(session, admin, responsible_id=s1.id, stage_id=new.id, amount="200")
    await make_deal(session, admin, responsible_id=s1.id, stage_id=new.id)  # no amount
    await make_deal(session, admin, responsible_id=s2.id, stage_id=new.id, amount="1000", currency="USD")
    await make_deal(session, admin, responsible_id=s2.id, stage_id=prep.id, amount="7", observer_ids=[s1.id])
    await make_deal(session, admin, responsible_id=s2.id, stage_id=won.id, amount="50")
    gone = await make_deal(session, admin, responsible_id=s1.id, stage_id=prep.id, amount="999")
    await trash.delete_item(session, admin, gone)

    cols = await v.kanban(session, admin, pipe.id)
    assert [c.stage.id for c in cols] == [s.id for s in stages if s.semantics == StageSemantics.PROCESS]
    by_id = {c.stage_id: c for c in cols}
    assert by_id[new.id].count == 4
    assert by_id[new.id].amount == Decimal("1300.50")
    assert by_id[new.id].amounts == {"RUB": Decimal("300.50"), "USD": Decimal("1000.00")}
    assert by_id[prep.id].count == 1 and by_id[prep.id].amount == Decimal("7.00")
    assert won.id not in by_id

    full = await v.kanban(session, admin, pipe.id, include_closed=True)
    assert [c.stage.id for c in full] == [s.id for s in stages]
    assert {c.stage_id: c.count for c in full}[won.id] == 1

    mine = {c.stage_id: c for c in await v.kanban(session, s1, pipe.id, include_closed=True)}
    assert mine[new.id].count == 3 and mine[new.id].amount == Decimal("300.50")
    assert mine[prep.id].count == 1  # observed deal; the trashed one is not counted
    assert mine[won.id].count == 0
    theirs = {c.stage_id: c for c in await v.kanban(session, s2, pipe.id, include_closed=True)}
    assert theirs[new.id].count == 1 and theirs[new.id].amounts == {"USD": Decimal("1000.00")}

    with pytest.raises(NotFound):
        await v.kanban(session, admin, 999_999)


async def test_kanban_of_leads_sums_opportunity(session) -> None:
    admin = await make_admin(session)
    pipe = await pl.default_pipeline(session, ItemType.LEAD)
    stages = list(await pl.list_stages(session, pipe.id))
    await make_lead(session, admin, stage_id=stages[0].id, amount="10")
    await make_lead(session, admin, stage_id=stages[0].id, amount="15.25")
    await make_lead(session, admin, stage_id=stages[1].id)
    cols = {c.stage_id: c for c in await v.kanban(session, admin, pipe.id)}
    assert cols[stages[0].id].count == 2 and cols[stages[0].id].amount == Decimal("25.25")
    assert cols[stages[1].id].count == 1 and cols[stages[1].id].amount == Decimal("0.00")


async def test_stage_items_focused_first_then_activity_and_paging(session) -> None:
    admin = await make_admin(session)
    sales = await make_user(session)
    _, stages = await _deal_stages(session)
    stage = stages[0]
    stage_id = stage.id
    deals = [await make_deal(session, admin, stage_id=stage_id, title=f"d{i}") for i in range(9)]
    ids = [d.id for d in deals]
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    # focus: d2 (newest), d5; activity: d1 (latest), d7, d3 (tie with d7 -> higher id first)
    sets = {
        2: {"focused_at": t0 + timedelta(hours=5), "last_activity_at": t0},
        5: {"focused_at": t0 + timedelta(hours=1)},
        1: {"last_activity_at": t0 + timedelta(days=3)},
        7: {"last_activity_at": t0 + timedelta(days=1)},
        3: {"last_activity_at": t0 + timedelta(days=1)},
    }
    for i, values in sets.items():
        await session.execute(update(Deal).where(Deal.id == ids[i]).values(**values))
    await items_svc.add_observer(session, admin, deals[3], sales.id)
    expected = [ids[i] for i in (2, 5, 1, 7, 3, 8, 6, 4, 0)]

    seen, cursor = [], None
    while True:
        page = await v.stage_items(session, admin, stage_id, limit=2, cursor=cursor)
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    by_offset = await v.stage_items(session, admin, stage_id, limit=3, offset=3, with_total=True)
    assert [d.id for d in by_offset.items] == expected[3:6] and by_offset.total == 9
    only = await v.stage_items(session, sales, stage_id, limit=10)
    assert [d.id for d in only.items] == [ids[3]] and only.next_cursor is None


def _expected_order(rows, sort):
    """Python model of the SQL order: NULLs last in both directions, then id in the last key's
    direction."""
    import functools

    keys = list(sort)
    if keys[-1][0] != "id":
        keys.append(("id", keys[-1][1]))

    def cmp(a, b):
        for field, direction in keys:
            x, y = getattr(a, field), getattr(b, field)
            if x == y:
                continue
            if x is None:
                return 1
            if y is None:
                return -1
            r = -1 if x < y else 1
            return -r if direction == "desc" else r
        return 0

    return [r.id for r in sorted(rows, key=functools.cmp_to_key(cmp))]


async def _paging_deals(session, viewer):
    """(actor, the deals the actor sees): thirteen deals with ties and NULLs in amount, title and
    source, a third the salesperson's own, a third observed by them, a third hidden from them."""
    admin = await make_admin(session)
    dept = await make_department(session)
    sales = await make_user(session, department=dept)
    other = await make_user(session, department=dept)
    _, stages = await _deal_stages(session)
    amounts = [None, "5", "5", "10", None, "7.5", "5", "10", "1", None, "5", "7.5", "3"]
    titles = ["b", "a", "b", "c", "a", "a", "b", "c", "a", "b", "c", "a", "b"]
    created = [NOW - timedelta(hours=i % 4) for i in range(len(amounts))]  # ties on created_at
    shown = []
    for i, (amount, title) in enumerate(zip(amounts, titles, strict=True)):
        # the salesperson's own, a colleague's they observe, a colleague's they may not see
        owner, observers = [(sales, []), (other, [sales.id]), (other, [])][i % 3]
        deal = await make_deal(
            session,
            admin,
            title=title,
            amount=amount,
            now=created[i],
            source=None if i % 4 else "web",
            stage_id=stages[i % 7].id,
            responsible_id=owner.id,
            observer_ids=observers,
        )
        if viewer == "admin" or i % 3 != 2:
            shown.append(deal)
    return (admin if viewer == "admin" else sales), shown


async def _check_paging(session, actor, sort, filters, expected) -> None:
    """Every page size, by cursor and by offset, walks exactly `expected` (ids, in order)."""
    for size in (1, 3, 4):
        seen, cursor = [], None
        while True:
            page = await v.list_items(
                session,
                actor,
                ItemType.DEAL,
                filters=filters,
                sort=sort,
                limit=size,
                cursor=cursor,
                with_total=True,
            )
            assert page.total == len(expected)  # a cursor narrows the page, not the total
            seen += [r.id for r in page.items]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == expected
        by_offset = []
        for off in range(0, len(expected), size):
            page = await v.list_items(
                session, actor, ItemType.DEAL, filters=filters, sort=sort, limit=size, offset=off
            )
            by_offset += [r.id for r in page.items]
        assert by_offset == expected


@pytest.mark.parametrize(
    "sort",
    [
        [("amount", "desc")],
        [("amount", "asc")],
        [("title", "asc"), ("amount", "desc")],
        [("closed", "asc"), ("amount", "asc"), ("id", "asc")],
        [("created_at", "desc")],
        [("source", "asc"), ("created_at", "asc")],
    ],
)
@pytest.mark.parametrize("viewer", ["admin", "salesperson"])
async def test_keyset_paging_returns_every_row_once(session, sort, viewer) -> None:
    actor, shown = await _paging_deals(session, viewer)
    rows = (await v.list_items(session, actor, ItemType.DEAL, sort=sort, limit=100)).items
    assert sorted(r.id for r in rows) == sorted(d.id for d in shown)
    expected = _expected_order(rows, sort)
    assert [r.id for r in rows] == expected
    await _check_paging(session, actor, sort, [], expected)


# A filter on the first sort key that leaves NULLs out lets a page after a cursor start at the
# cursor's value in the index (paging._resume); one that keeps them must not.
AMOUNT_FILTERS = {
    "gte": (Condition("amount", "gte", "5"), lambda a: a is not None and a >= Decimal("5")),
    "between": (
        Condition("amount", "between", ["3", "7.5"]),
        lambda a: a is not None and 3 <= a <= Decimal("7.5"),
    ),
    "in": (Condition("amount", "in", ["5", "10"]), lambda a: a in (Decimal("5"), Decimal("10"))),
    "not_null": (Condition("amount", "not_null"), lambda a: a is not None),
    "ne, keeps NULLs": (Condition("amount", "ne", "5"), lambda a: a != Decimal("5")),
}


@pytest.mark.parametrize("sort", [[("amount", "desc")], [("amount", "asc")], [("created_at", "desc")]])
@pytest.mark.parametrize("flt", list(AMOUNT_FILTERS))
@pytest.mark.parametrize("viewer", ["admin", "salesperson"])
async def test_keyset_paging_of_a_filtered_list(session, sort, flt, viewer) -> None:
    actor, shown = await _paging_deals(session, viewer)
    condition, keeps = AMOUNT_FILTERS[flt]
    wanted = [d for d in shown if keeps(d.amount)]
    assert wanted and len(wanted) < len(shown)
    await _check_paging(session, actor, sort, [condition], _expected_order(wanted, sort))


def test_a_page_after_a_cursor_is_bounded_where_nulls_cannot_follow() -> None:
    """The plain bound on the first sort key, which lets an index start at the cursor: there when
    the key cannot be NULL or a filter leaves NULLs out, absent when NULLs (sorted last) may follow."""

    def bound(sort, clauses, values):
        keys = sort_keys(ItemType.DEAL, sort, [])
        extra = _resume(Deal, keys, values, clauses)[1:]
        return [str(c) for c in extra]

    at = [Decimal("5"), 7]
    assert bound([("amount", "desc")], [Deal.amount >= 1], at) == ["deals.amount <= :amount_1"]
    assert bound([("amount", "asc")], [and_(true(), Deal.amount >= 1, Deal.amount <= 9)], at) == [
        "deals.amount >= :amount_1"
    ]
    assert bound([("amount", "asc")], [Deal.amount.in_([1, 5])], at) == ["deals.amount >= :amount_1"]
    assert bound([("amount", "desc")], [Deal.amount.is_not(None)], at) == ["deals.amount <= :amount_1"]
    assert bound([("created_at", "desc")], [], [NOW, 7]) == ["deals.created_at <= :created_at_1"]
    # NULLs may follow: no filter, a filter that keeps them, a filter on another column
    assert bound([("amount", "desc")], [], at) == []
    assert bound([("amount", "desc")], [or_(Deal.amount != 5, Deal.amount.is_(None))], at) == []
    assert bound([("amount", "desc")], [Deal.stage_id == 3], at) == []
    # the cursor among the NULLs: `_after` alone already reads only NULLs
    assert bound([("amount", "desc")], [Deal.amount.is_not(None)], [None, 7]) == []


async def test_cursor_of_another_sort_is_refused(session) -> None:
    admin = await make_admin(session)
    for i in range(3):
        await make_deal(session, admin, title=f"t{i}")
    page = await v.list_items(session, admin, "deal", sort=[("title", "asc")], limit=1)
    with pytest.raises(ValidationFailed):
        await v.list_items(session, admin, "deal", sort=[("amount", "asc")], limit=1, cursor=page.next_cursor)
    with pytest.raises(ValidationFailed):
        await v.list_items(session, admin, "deal", limit=1, cursor="garbage!")


async def test_filters(session, db) -> None:
    admin = await make_admin(session)
    s1 = await make_user(session)
    s2 = await make_user(session)
    _, stages = await _deal_stages(session)
    ivan = await make_contact(
        session, admin, name="Ivan", phones=["+7 (916) 123-45-67"], emails=["Ivan@Mail.RU"]
    )
    d1 = await make_deal(
        session,
        admin,
        title="Big Window Order",
        amount="5000",
        stage_id=stages[0].id,
        responsible_id=s1.id,
        contact_id=ivan.id,
        source="web",
    )
    d2 = await make_deal(
        session,
        admin,
        title="small door",
        amount="150",
        stage_id=stages[1].id,
        responsible_id=s2.id,
        observer_ids=[s1.id],
    )
    d3 = await make_deal(session, admin, title="Windows 100%", stage_id=stages[2].id, responsible_id=s2.id)
    await items_svc.update_item(session, admin, d3, phones=["8 916 765 43 21"], emails=["boss@corp.com"])

    async def ids(actor, *conds, item_type=ItemType.DEAL):
        page = await v.list_items(
            session, actor, item_type, filters=list(conds), limit=50, now=NOW, with_total=True
        )
        assert page.total == len(page.items)
        assert await v.count_items(session, actor, item_type, filters=list(conds), now=NOW) == page.total
        return {r.id for r in page.items}

    assert await ids(admin, Condition("title", "contains", "WINDOW")) == {d1.id, d3.id}
    with statements(db) as seen:
        assert await ids(admin, Condition("title", "contains", "0%")) == {d3.id}  # % is literal
    assert any("LIKE '%0\\%%'" in s for s in seen)  # planned for this text (see crm_core.services.like)
    assert await ids(admin, Condition("title", "contains", "WIN\x00DOW")) == {d1.id, d3.id}  # NUL dropped
    assert await ids(admin, Condition("title", "contains", "win\udc00")) == set()  # a lone surrogate
    assert await ids(admin, Condition("stage_id", "in", [stages[0].id, stages[1].id])) == {d1.id, d2.id}
    assert await ids(admin, Condition("amount", "between", ["100", 1000])) == {d2.id}
    assert await ids(admin, Condition("amount", "gte", 150)) == {d1.id, d2.id}
    assert await ids(admin, Condition("amount", "is_null")) == {d3.id}
    assert await ids(admin, Condition("source", "ne", "web")) == {d2.id, d3.id}
    assert await ids(admin, Condition("responsible_id", "eq", s2.id)) == {d2.id, d3.id}
    assert await ids(admin, Condition("contact_id", "not_null")) == {d1.id}
    assert await ids(admin, Condition("observer_id", "eq", s1.id)) == {d2.id}
    assert await ids(admin, Condition("closed", "eq", False)) == {d1.id, d2.id, d3.id}
    assert await ids(admin, Condition("phone", "eq", "+79167654321")) == {d3.id}
    assert await ids(admin, Condition("phone", "contains", "765-43")) == {d3.id}
    assert await ids(admin, Condition("email", "eq", "BOSS@corp.com")) == {d3.id}
    assert await ids(admin, Condition("phone", "not_null")) == {d3.id}
    assert await ids(admin, Condition("phone", "eq", "8 (916) 123 45 67"), item_type=ItemType.CONTACT) == {
        ivan.id
    }
    assert await ids(admin, Condition("email", "contains", "mail.ru"), item_type=ItemType.CONTACT) == {
        ivan.id
    }
    # dict conditions (as stored in saved filters) work the same
    assert await ids(admin, {"field": "title", "op": "contains", "value": "door"}) == {d2.id}
    # visibility: s1 sees their own deal and the one they observe
    assert await ids(s1) == {d1.id, d2.id}
    assert await ids(s1, Condition("amount", "lt", 1000)) == {d2.id}
    # the same filters read the observed deal from its copies (amount, stage, creation) or by id
    # (the rest): what s1 gets is the admin's answer among what s1 sees
    for cond in (
        Condition("stage_id", "in", [stages[0].id, stages[1].id]),
        Condition("amount", "between", ["100", 1000]),
        Condition("amount", "is_null"),
        Condition("created_at", "last_30_days"),
        Condition("responsible_id", "eq", s2.id),
        Condition("observer_id", "eq", s1.id),
        Condition("observer_id", "is_null"),
        Condition("contact_id", "not_null"),
        Condition("phone", "not_null"),
        Condition("title", "contains", "door"),
        Condition("source", "ne", "web"),
    ):
        assert await ids(s1, cond) == await ids(admin, cond) & {d1.id, d2.id}, cond

    for bad in (
        Condition("nope", "eq", 1),
        Condition("title", "gt", "x"),
        Condition("amount", "eq", "lots"),
        Condition("amount", "between", [1]),
        Condition("stage_id", "in", []),
        Condition("created_at", "fortnight"),
        Condition("phone", "eq", "not a phone"),
    ):
        with pytest.raises(ValidationFailed):
            await v.list_items(session, admin, ItemType.DEAL, filters=[bad])
    with pytest.raises(ValidationFailed):
        await v.list_items(session, admin, ItemType.DEAL, sort=[("phone", "asc")])
    with pytest.raises(ValidationFailed):
        await v.list_items(session, admin, ItemType.DEAL, sort=[("amount", "sideways")])


async def test_lead_fields(session) -> None:
    admin = await make_admin(session)
    lead = await make_lead(session, admin, title="Lead A", amount="12")
    await make_lead(session, admin, title="Lead B")
    got = await v.list_items(session, admin, "lead", filters=[Condition("opportunity", "eq", "12")])
    assert [r.id for r in got.items] == [lead.id]
    got = await v.list_items(session, admin, "lead", filters=[Condition("is_return_customer", "eq", False)])
    assert len(got.items) == 2


async def test_date_presets_follow_the_actors_timezone(session) -> None:
    vlad = await make_user(session, Role.ADMIN, timezone="Asia/Vladivostok")  # UTC+10
    utc = await make_user(session, Role.ADMIN, timezone="UTC")
    ny = await make_user(session, Role.ADMIN, timezone="America/New_York")  # UTC-4 in March (DST)
    now = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # Vladivostok: April 1, 01:00
    a = await make_deal(session, vlad, title="a", now=datetime(2026, 3, 31, 14, 30, tzinfo=UTC))  # VL Apr 1
    b = await make_deal(session, vlad, title="b", now=datetime(2026, 3, 31, 13, 59, tzinfo=UTC))  # VL Mar 31
    c = await make_deal(session, vlad, title="c", now=datetime(2026, 3, 31, 3, 0, tzinfo=UTC))  # NY Mar 30
    d = await make_deal(session, vlad, title="d", now=datetime(2026, 3, 1, 3, 0, tzinfo=UTC))  # NY Feb 28
    e = await make_deal(session, vlad, title="e", now=datetime(2026, 2, 25, 12, 0, tzinfo=UTC))

    async def ids(actor, op, value=None):
        page = await v.list_items(
            session, actor, "deal", filters=[Condition("created_at", op, value)], now=now
        )
        return {r.id for r in page.items}

    assert await ids(vlad, "today") == {a.id}
    assert await ids(vlad, "yesterday") == {b.id, c.id}
    assert await ids(utc, "today") == {a.id, b.id, c.id}
    assert await ids(ny, "today") == {a.id, b.id}
    assert await ids(ny, "yesterday") == {c.id}
    assert await ids(vlad, "this_month") == {a.id}
    assert await ids(utc, "this_month") == {a.id, b.id, c.id, d.id}
    assert await ids(ny, "this_month") == {a.id, b.id, c.id}
    assert await ids(vlad, "last_7_days") == {a.id, b.id, c.id}
    assert await ids(vlad, "last_30_days") == {a.id, b.id, c.id}  # from Mar 3 local
    assert await ids(utc, "last_30_days") == {a.id, b.id, c.id}  # Mar 2..31: d (Mar 1) is out
    assert await ids(ny, "range", ["2026-03-01", None]) == {a.id, b.id, c.id}  # d is Feb 28 in NY
    assert await ids(utc, "range", ["2026-03-01", None]) == {a.id, b.id, c.id, d.id}
    # this week: Vladivostok's Wednesday Apr 1 -> from Monday Mar 30 local
    assert await ids(vlad, "this_week") == {a.id, b.id, c.id}
    # custom range of local days (inclusive) and the "preset" operator form
    assert await ids(ny, "range", ["2026-02-28", "2026-03-30"]) == {c.id, d.id}
    assert await ids(vlad, "preset", "today") == {a.id}
    assert await ids(vlad, "preset", ["range", "2026-04-01", None]) == {a.id}
    assert await ids(utc, "between", ["2026-02-25", "2026-02-25"]) == {e.id}
    assert await ids(utc, "gte", "2026-03-31T14:00:00+00:00") == {a.id}
    assert await ids(vlad, "lt", "2026-03-31T14:00:00") == {c.id, d.id, e.id}  # naive = local (04:00Z)


async def test_date_field_presets(session) -> None:
    admin = await make_admin(session, timezone="Asia/Vladivostok")
    now = datetime(2026, 3, 31, 15, 0, tzinfo=UTC)  # April 1 local
    apr = await make_deal(session, admin, title="apr", close_date="2026-04-01")
    await make_deal(session, admin, title="mar", close_date="2026-03-31")
    page = await v.list_items(session, admin, "deal", filters=[Condition("close_date", "today")], now=now)
    assert [r.id for r in page.items] == [apr.id]


async def test_saved_filters_default_pinning_and_privacy(session) -> None:
    dept = await make_department(session)
    alice = await make_user(session, Role.HEAD, department=dept)
    bob = await make_user(session, department=dept)
    mine = await make_deal(session, alice, title="Window", amount="10")
    await make_deal(session, alice, title="Door", amount="20")

    f1 = await v.create_saved_filter(
        session,
        alice,
        "deal",
        "Windows",
        [Condition("title", "contains", "win")],
        [("amount", "desc")],
        is_default=True,
    )
    f2 = await v.create_saved_filter(
        session, alice, "deal", "Big", [{"field": "amount", "op": "gt", "value": 15}]
    )
    lead_f = await v.create_saved_filter(session, alice, "lead", "All leads", is_default=True)
    assert f1.is_default and not f2.is_default
    assert (await v.default_filter(session, alice, "deal")).id == f1.id

    await v.set_default_filter(session, alice, f2.id)
    assert (await v.default_filter(session, alice, "deal")).id == f2.id
    assert (await v.default_filter(session, alice, "lead")).id == lead_f.id  # other type untouched
    listed = await v.list_saved_filters(session, alice, "deal")
    assert [(f.name, f.is_default) for f in listed] == [("Big", True), ("Windows", False)]

    f3 = await v.create_saved_filter(session, alice, "deal", "Third", is_default=True)
    assert [f.id for f in await v.list_saved_filters(session, alice, "deal") if f.is_default] == [f3.id]
    await v.set_default_filter(session, alice, f3.id, pinned=False)
    assert await v.default_filter(session, alice, "deal") is None

    page = await v.list_with_filter(session, alice, f1.id)
    assert [r.id for r in page.items] == [mine.id]
    await v.rename_saved_filter(session, alice, f1.id, "Window deals")
    assert f1.name == "Window deals"
    with pytest.raises(ValidationFailed):
        await v.rename_saved_filter(session, alice, f2.id, "Window deals")
    with pytest.raises(ValidationFailed):
        await v.create_saved_filter(session, alice, "deal", "Bad", [Condition("amount", "contains", "x")])

    # Bob sees none of Alice's filters and cannot touch them.
    assert await v.list_saved_filters(session, bob) == []
    assert await v.default_filter(session, bob, "lead") is None
    for call in (
        v.rename_saved_filter(session, bob, f1.id, "mine now"),
        v.set_default_filter(session, bob, f1.id),
        v.delete_saved_filter(session, bob, f1.id),
        v.list_with_filter(session, bob, f1.id),
    ):
        with pytest.raises(NotFound):
            await call
    await v.create_saved_filter(session, bob, "deal", "Windows")  # same name, other user: fine

    await v.delete_saved_filter(session, alice, f2.id)
    names = [f.name for f in await v.list_saved_filters(session, alice)]
    assert names == ["Third", "Window deals", "All leads"]


async def test_trashed_items_are_not_listed(session) -> None:
    admin = await make_admin(session)
    keep = await make_deal(session, admin, title="keep")
    gone = await make_deal(session, admin, title="gone")
    await trash.delete_item(session, admin, gone)
    page = await v.list_items(session, admin, "deal", with_total=True)
    assert [r.id for r in page.items] == [keep.id] and page.total == 1
    assert isinstance(page.items[0], Deal) and not isinstance(page.items[0], Lead)


async def test_observed_part_reads_the_copies_when_the_list_names_only_copied_columns(session) -> None:
    """A salesperson's observed items are read from their observations' copies (in the page's
    order, from an index) when every filter and sort key has a copy; otherwise by id. Both give
    the same rows, which the paging tests check; here, which way is taken."""
    from crm_core.permissions import ObservedPart, visible_parts
    from crm_core.services.views.filters import filtered
    from crm_core.services.views.observed import Copies
    from crm_core.services.views.paging import _source, sort_keys

    sales = await make_user(session)
    part = visible_parts(sales, Deal)[1]
    assert isinstance(part, ObservedPart)

    def source(filters, sort):
        _, where, _ = filtered(session, sales, ItemType.DEAL, filters, NOW)
        keys = sort_keys(ItemType.DEAL, sort, [("created_at", "desc")])
        return _source(Deal, part, where, keys)[0]

    copied = [Condition("amount", "gt", 5), Condition("created_at", "last_30_days")]
    assert isinstance(source(copied, [("amount", "desc")]), Copies)
    assert isinstance(source([], None), Copies)
    assert isinstance(source([], [("focused_at", "desc"), ("last_activity_at", "desc")]), Copies)
    assert source([], [("title", "asc")]) is Deal  # no copy of the title
    assert source([Condition("title", "contains", "x")], None) is Deal
    assert source([Condition("source", "eq", "web")], [("amount", "desc")]) is Deal
