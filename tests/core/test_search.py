"""Global search (crm_core.services.search): refs, phones typed any way, emails in any case, names,
ranking and visibility."""

from __future__ import annotations

import random

import pytest

from crm_core.models.items import ItemType
from crm_core.services import search, trash
from crm_core.services.search import RANK_CONTAINS, RANK_EXACT, RANK_PREFIX, RANK_REF, search_items
from tests.core.factories import make_admin, make_company, make_contact, make_deal, make_lead, make_user
from tests.core.sql_log import statements


def _keys(hits):
    return [(h.item_type, h.id) for h in hits]


async def test_phone_typed_differently_and_partial_digits(session) -> None:
    admin = await make_admin(session)
    ivan = await make_contact(session, admin, name="Ivan", last_name="Petrov", phones=["+7 (916) 123-45-67"])
    acme = await make_company(session, admin, title="Acme", phones=["8 916 123 45 67"])
    await make_contact(session, admin, name="Other", phones=["+7 903 000 11 22"])

    for typed in ("89161234567", "+7 916 123 45 67", "8 (916) 123-45-67", "+79161234567"):
        hits = await search_items(session, admin, typed)
        assert set(_keys(hits)) == {(ItemType.CONTACT, ivan.id), (ItemType.COMPANY, acme.id)}, typed
        assert all(h.rank == RANK_EXACT and h.matched_by == "phone" for h in hits)
    hits = await search_items(session, admin, "123-45")
    assert set(_keys(hits)) == {(ItemType.CONTACT, ivan.id), (ItemType.COMPANY, acme.id)}
    assert all(h.rank == RANK_CONTAINS for h in hits)
    assert await search_items(session, admin, "1234") == []  # fewer than 5 digits: not a phone fragment


async def test_email_any_case(session) -> None:
    admin = await make_admin(session)
    c = await make_contact(session, admin, name="Anna", emails=["Anna.Smith@Example.COM"])
    lead = await make_lead(
        session, admin, title="From site", emails=["anna.smith@example.com"], auto_link_client=False
    )
    hits = await search_items(session, admin, "ANNA.smith@example.com")
    assert set(_keys(hits)) == {(ItemType.CONTACT, c.id), (ItemType.LEAD, lead.id)}
    assert all(h.rank == RANK_EXACT and h.matched_by == "email" for h in hits)
    assert "Anna.Smith@Example.COM" in next(h for h in hits if h.item_type == ItemType.CONTACT).subtitle


async def test_ref_then_prefix_then_contains(session) -> None:
    admin = await make_admin(session)
    d = await make_deal(session, admin, title="Window order")
    best = await make_company(session, admin, title="Best Window Co")
    win = await make_company(session, admin, title="WINDOWS Ltd")
    hits = await search_items(session, admin, f"d-{d.id}")
    assert hits[0].rank == RANK_REF and (hits[0].item_type, hits[0].id) == (ItemType.DEAL, d.id)
    assert hits[0].title == "Window order" and hits[0].ref == f"D-{d.id}"
    hits = await search_items(session, admin, "window")
    assert [(h.item_type, h.id, h.rank) for h in hits] == [
        (ItemType.DEAL, d.id, RANK_PREFIX),
        (ItemType.COMPANY, win.id, RANK_PREFIX),
        (ItemType.COMPANY, best.id, RANK_CONTAINS),
    ]
    assert (await search_items(session, admin, "window", limit=2)) == hits[:2]


async def test_contact_names_both_orders(session) -> None:
    admin = await make_admin(session)
    c = await make_contact(session, admin, name="Ivan", last_name="Petrov")
    for text in ("petrov", "Ivan Petrov", "petrov ivan", "van pet"):
        hits = await search_items(session, admin, text)
        assert _keys(hits) == [(ItemType.CONTACT, c.id)], text
    assert hits[0].title == "Ivan Petrov"


async def test_visibility_and_trash(session) -> None:
    admin = await make_admin(session)
    s1 = await make_user(session)
    s2 = await make_user(session)
    theirs = await make_deal(session, admin, title="Secret deal", responsible_id=s2.id)
    mine = await make_deal(session, admin, title="Secret mine", responsible_id=s1.id)
    watched = await make_contact(
        session, admin, name="Secret", responsible_id=s2.id, observer_ids=[s1.id], phones=["+7 916 555 44 33"]
    )
    hidden = await make_contact(
        session, admin, name="Hidden", responsible_id=s2.id, phones=["+7 916 555 44 34"]
    )
    gone = await make_company(session, admin, title="Secret Co", responsible_id=s1.id)
    await trash.delete_item(session, admin, gone)

    assert set(_keys(await search_items(session, s1, "secret"))) == {
        (ItemType.DEAL, mine.id),
        (ItemType.CONTACT, watched.id),
    }
    assert await search_items(session, s1, f"D-{theirs.id}") == []
    assert await search_items(session, s1, "+7 916 555 44 34") == []
    assert _keys(await search_items(session, s1, "89165554433")) == [(ItemType.CONTACT, watched.id)]
    assert set(_keys(await search_items(session, s2, "secret"))) == {
        (ItemType.DEAL, theirs.id),
        (ItemType.CONTACT, watched.id),
    }
    assert _keys(await search_items(session, s2, "hidden")) == [(ItemType.CONTACT, hidden.id)]
    assert (ItemType.COMPANY, gone.id) not in _keys(await search_items(session, admin, "secret"))
    assert await search_items(session, admin, f"CO-{gone.id}") == []
    assert await search_items(session, admin, "   ") == []


async def test_typed_text_is_matched_literally_and_planned_for_itself(session, db) -> None:
    """Quotes, backslashes, % and _ are plain characters. The text is written into the SQL, not
    bound: PostgreSQL would otherwise keep one plan for every text of a prepared statement, one
    that cannot use the trigram or prefix index for any of them."""
    admin = await make_admin(session)
    odd = await make_company(session, admin, title="O'Brien 100% \\ x_y")
    await make_company(session, admin, title="O'Brien 1000 \\ xzy")
    with statements(db) as seen:
        for typed, rank in (
            ("'brien 100%", RANK_CONTAINS),
            ("o'brien 100%", RANK_PREFIX),
            ("\\ x_", RANK_CONTAINS),
        ):
            hits = await search_items(session, admin, typed, types=(ItemType.COMPANY,))
            assert [(h.id, h.rank) for h in hits] == [(odd.id, rank)], typed
    assert any("LIKE '%''brien 100\\%%'" in s for s in seen)
    assert any("LIKE '%\\\\ x\\_%'" in s for s in seen)
    if db.engine.dialect.name == "postgresql":  # SQLite reads a prefix as a range of its index
        assert any("LIKE 'o''brien 100\\%%'" in s for s in seen)
    # What no stored text holds: NUL is dropped (as the field parsers drop it), a lone surrogate (a
    # forged JSON body) finds nothing; neither breaks the statement nor the unit of work after it.
    assert _keys(await search_items(session, admin, "brien 100\x00%")) == [(ItemType.COMPANY, odd.id)]
    assert await search_items(session, admin, "brien\ud800") == []
    assert _keys(await search_items(session, admin, "o'brien 1000")) != []
    assert await search_items(session, admin, "x' OR '1'='1") == []  # a quote cannot end the literal


@pytest.mark.parametrize("large", [False, True])
async def test_a_common_text_pages_the_newest_visible_matches(session, monkeypatch, large) -> None:
    """More matches than the page: the page is the newest the actor may see, whichever way the
    database finds them. On PostgreSQL a large table is read newest first (`large`: this one
    counts as large), then the observed rows newer than the last of the actor's own; a small
    one, or a text in few names, goes to the trigram index."""
    monkeypatch.setattr(search, "LARGE_TABLE", float("-inf") if large else float("inf"))
    admin = await make_admin(session)
    s1 = await make_user(session)
    s2 = await make_user(session)
    owner_of = [s1, s2, s1, s2, s1, s1, s2, s1, s2, s1, s2, s1]
    deals = []
    for i, owner in enumerate(owner_of):
        observers = [s1.id] if i in (3, 8) else []  # two of s2's that s1 observes
        deals.append(
            await make_deal(
                session, admin, title=f"Window frame {i}", responsible_id=owner.id, observer_ids=observers
            )
        )
    await make_deal(session, admin, title="Door frame", responsible_id=s1.id)  # no match
    await trash.delete_item(session, admin, deals[11])  # s1's newest: trashed
    visible_to_s1 = [d.id for i, d in enumerate(deals) if i != 11 and (owner_of[i] is s1 or i in (3, 8))]
    alive = [d.id for d in deals[:11]]

    for limit in (2, 3, 4, 20):
        hits = await search_items(session, s1, "ndow fr", limit=limit, types=(ItemType.DEAL,))
        assert [h.id for h in hits] == sorted(visible_to_s1, reverse=True)[:limit], limit
        assert all(h.rank == RANK_CONTAINS for h in hits)
        hits = await search_items(session, admin, "ndow fr", limit=limit, types=(ItemType.DEAL,))
        assert [h.id for h in hits] == sorted(alive, reverse=True)[:limit], limit
    hits = await search_items(session, s2, "ndow fr", limit=3, types=(ItemType.DEAL,))
    assert [h.id for h in hits] == sorted(
        (d.id for i, d in enumerate(deals) if owner_of[i] is s2), reverse=True
    )[:3]


def _incompressible(n: int, seed: int) -> str:
    """n characters of four bytes each that no compression shrinks (emoji and the like)."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randrange(0x1F300, 0x1FAFF)) for _ in range(n))


@pytest.mark.parametrize("large", [False, True])
async def test_the_widest_leads_are_kept_and_found_in_their_place(session, monkeypatch, large) -> None:
    """A lead whose title, names and company are all as long as they may be, in four-byte
    characters, saves (on PostgreSQL it is too wide for the index of a salesperson's newest leads
    with their names), and a search finds it in its place among the newest matches, also when
    the newest-first reading's windows are smaller than the leads."""
    monkeypatch.setattr(search, "LARGE_TABLE", float("-inf") if large else float("inf"))
    monkeypatch.setattr(search, "PROBE_FIRST", 2)
    admin = await make_admin(session)
    s1 = await make_user(session)
    wide = {0, 3, 6}
    leads = []
    for i in range(9):
        fields = {"title": f"Window frame {i}"}
        if i in wide:
            fields = {
                "title": f"Window frame {i} " + _incompressible(255 - 15, i),
                "name": _incompressible(100, 100 + i),
                "last_name": _incompressible(100, 200 + i),
                "company_title": _incompressible(255, 300 + i),
            }
        leads.append(await make_lead(session, admin, responsible_id=s1.id, **fields))
    newest = sorted((lead.id for lead in leads), reverse=True)
    for limit in (1, 2, 3, 4, 5, 20):
        for actor in (s1, admin):
            hits = await search_items(session, actor, "ndow fr", limit=limit, types=(ItemType.LEAD,))
            assert [h.id for h in hits] == newest[:limit], (limit, actor.role)
    hits = await search_items(session, s1, leads[6].company_title[100:110], types=(ItemType.LEAD,))
    assert [h.id for h in hits] == [leads[6].id]


async def test_every_item_with_its_longest_names_in_four_byte_characters_is_kept(session) -> None:
    """The indexes of names (a salesperson's newest rows with their names, lowered and raw: 0022,
    0025, 0026) have room for the longest names of every type, in characters no compression
    shrinks; a search finds each."""
    admin = await make_admin(session)
    s1 = await make_user(session)
    made = [
        await make_deal(session, admin, responsible_id=s1.id, title=_incompressible(255, 1)),
        await make_company(session, admin, responsible_id=s1.id, title=_incompressible(255, 2)),
        await make_contact(
            session, admin, responsible_id=s1.id, name=_incompressible(100, 3),
            last_name=_incompressible(100, 4),
        ),
        await make_lead(
            session, admin, responsible_id=s1.id, title=_incompressible(255, 5), name=_incompressible(100, 6),
            last_name=_incompressible(100, 7), company_title=_incompressible(255, 8),
        ),
    ]  # fmt: skip
    for item, seed in zip(made, (1, 2, 4, 8), strict=True):
        text = _incompressible(100, seed)[50:58]
        hits = await search_items(session, s1, text)
        assert [h.id for h in hits] == [item.id], item
