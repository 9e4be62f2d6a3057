"""The REST API through fast_bitrix24 (PyPI), unchanged: call() with one item and with a list (it
packs them into batches), get_by_ID, get_all over more than 50 and more than 2,500 rows (it pages
through batches of list commands), filters with Bitrix24's prefixes and select."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models.items import ItemType, Lead
from crm_core.models.notifications import Notification
from crm_core.models.timeline import EventType, TimelineEvent
from tests.rest.conftest import bitrix, in_thread
from tests.rest.helpers import insert_leads


async def test_add_then_get_by_id_as_bitrix24_gives_it(rest) -> None:
    boris, vera = rest.users["boris"], rest.users["vera"]
    b = bitrix(rest.hooks["boris"])
    fields = {
        "TITLE": "Website request",
        "NAME": "Ivan",
        "LAST_NAME": "Petrov",
        "PHONE": [{"VALUE": "+7 900 123-45-67", "VALUE_TYPE": "MOBILE"}],
        "EMAIL": [{"VALUE": "ivan@example.com", "VALUE_TYPE": "WORK"}],
        "OPPORTUNITY": 1500.5,
        "CURRENCY_ID": "USD",
        "SOURCE_ID": "WEB",
        "COMMENTS": "from the API",
        "ASSIGNED_BY_ID": vera.id,
    }
    lead_id = await in_thread(lambda: b.call("crm.lead.add", {"fields": fields}))
    other_id = await in_thread(lambda: b.call("crm.lead.add", {"fields": {"TITLE": "Second"}}))
    assert isinstance(lead_id, int) and other_id > lead_id

    # Vera is responsible now; Boris made it but neither owns nor observes it.
    v = bitrix(rest.hooks["vera"])
    got = await in_thread(lambda: v.get_by_ID("crm.lead.get", [lead_id]))
    assert got["ID"] == str(lead_id)
    assert got["TITLE"] == "Website request" and got["NAME"] == "Ivan" and got["LAST_NAME"] == "Petrov"
    assert got["STATUS_ID"] == "NEW" and got["STATUS_SEMANTIC_ID"] == "P"
    assert got["OPPORTUNITY"] == "1500.50" and got["CURRENCY_ID"] == "USD"
    assert got["SOURCE_ID"] == "WEB" and got["COMMENTS"] == "from the API"
    assert got["ASSIGNED_BY_ID"] == str(vera.id) and got["CREATED_BY_ID"] == str(boris.id)
    [phone] = got["PHONE"]
    assert phone["VALUE"] == "+7 900 123-45-67" and phone["VALUE_TYPE"] == "MOBILE"
    assert phone["TYPE_ID"] == "PHONE" and phone["ID"].isdigit()
    assert [(e["VALUE"], e["VALUE_TYPE"]) for e in got["EMAIL"]] == [("ivan@example.com", "WORK")]
    assert got["DATE_CREATE"].endswith("+00:00")

    # Several ids: a dict by id.
    b2 = bitrix(rest.hooks["gleb"])  # the head sees his department's items
    both = await in_thread(lambda: b2.get_by_ID("crm.lead.get", [lead_id, other_id]))
    assert {k: v["TITLE"] for k, v in both.items()} == {
        str(lead_id): "Website request",
        str(other_id): "Second",
    }

    # As for a bot user: the timeline has the creation by Boris, Vera is told she got a lead.
    async with rest.db.unit_of_work() as s:
        created = await s.scalar(
            select(TimelineEvent).where(
                TimelineEvent.owner_type == ItemType.LEAD,
                TimelineEvent.owner_id == lead_id,
                TimelineEvent.event_type == EventType.CREATED,
            )
        )
        assert created is not None and created.author_id == boris.id
        told = list(await s.scalars(select(Notification).where(Notification.user_id == vera.id)))
        assert [n.category for n in told] == ["lead_assigned"]


async def test_call_with_a_list_and_get_all_with_filters_and_select(rest) -> None:
    b = bitrix(rest.hooks["boris"])
    items = [
        {
            "fields": {
                "TITLE": f"Lead {i}",
                "OPPORTUNITY": i * 100,
                "STATUS_ID": "IN_PROCESS" if i % 3 == 0 else "NEW",
            }
        }
        for i in range(120)
    ]
    ids = await in_thread(lambda: b.call("crm.lead.add", items))
    # fast_bitrix24 sends the 120 as three batches at once; each id comes back once
    assert len(ids) == 120 and len(set(ids)) == 120 and all(isinstance(i, int) for i in ids)

    async def titles(params: dict) -> set[str]:
        rows = await in_thread(lambda: b.get_all("crm.lead.list", params=params))
        return {r["TITLE"] for r in rows}

    rich = await in_thread(
        lambda: b.get_all(
            "crm.lead.list",
            params={"filter": {">=OPPORTUNITY": 5000}, "select": ["ID", "TITLE", "OPPORTUNITY"]},
        )
    )
    assert len(rich) == 70 and {r["TITLE"] for r in rich} == {f"Lead {i}" for i in range(50, 120)}
    assert all(set(r) == {"ID", "TITLE", "OPPORTUNITY"} for r in rich)
    assert await titles({"filter": {"STATUS_ID": "IN_PROCESS"}, "select": ["TITLE"]}) == {
        f"Lead {i}" for i in range(0, 120, 3)
    }
    assert await titles({"filter": {"!STATUS_ID": "NEW"}, "select": ["TITLE"]}) == {
        f"Lead {i}" for i in range(0, 120, 3)
    }
    assert await titles({"filter": {"%TITLE": "Lead 11"}, "select": ["TITLE"]}) == {"Lead 11"} | {
        f"Lead {i}" for i in range(110, 120)
    }
    assert await titles({"filter": {"<OPPORTUNITY": 1000, ">OPPORTUNITY": 100}, "select": ["TITLE"]}) == {
        f"Lead {i}" for i in range(2, 10)
    }
    by_id = {
        int(r["ID"]): r["TITLE"]
        for r in await in_thread(lambda: b.get_all("crm.lead.list", {"select": ["TITLE"]}))
    }
    assert set(by_id) == set(ids)
    some = sorted(ids)[5:8]
    assert await titles({"filter": {"@ID": some}, "select": ["TITLE"]}) == {by_id[i] for i in some}
    assert await titles({"filter": {"=STATUS_SEMANTIC_ID": "P", "<=OPPORTUNITY": 200}}) == {
        "Lead 0",
        "Lead 1",
        "Lead 2",
    }


async def test_get_all_pages_through_more_than_2500_rows_the_user_may_see(rest) -> None:
    boris, vera, anna = rest.users["boris"], rest.users["vera"], rest.users["anna"]
    await insert_leads(rest.db, boris.id, 2600, prefix="Boris")
    await insert_leads(rest.db, vera.id, 30, prefix="Vera")
    await insert_leads(rest.db, anna.id, 20, prefix="Anna")  # outside the department
    b = bitrix(rest.hooks["boris"])
    rows = await in_thread(lambda: b.get_all("crm.lead.list", params={"select": ["ID", "TITLE"]}))
    assert len(rows) == 2600 and {r["TITLE"] for r in rows} == {f"Boris {i}" for i in range(2600)}
    async with rest.db.unit_of_work() as s:
        mine = set(await s.scalars(select(Lead.id).where(Lead.responsible_id == boris.id)))
    assert {int(r["ID"]) for r in rows} == mine

    head = bitrix(rest.hooks["gleb"])
    seen = await in_thread(
        lambda: head.get_all("crm.lead.list", params={"filter": {"%TITLE": "a"}, "select": ["TITLE"]})
    )
    assert {r["TITLE"].split()[0] for r in seen} == {"Vera"}  # no "a" in Boris; Anna's are not his team's
    everything = await in_thread(
        lambda: bitrix(rest.hooks["anna"]).get_all("crm.lead.list", params={"select": ["ID"]})
    )
    assert len(everything) == 2650
