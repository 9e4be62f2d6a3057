"""The REST API over plain HTTP as a site snippet or a script calls it: GET query strings and form
bodies with PHP-style brackets, POST JSON; every entity's methods, pipelines and stage codes,
activities and comments, batch with references and halt, list paging (start, next, start=-1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select

from crm_core.models.activities import ActivityReminder, ReminderKind
from crm_core.models.comments import Comment
from crm_core.models.items import ItemType, Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.services import pipelines
from tests.rest.helpers import insert_leads


async def _events(rest, item_type: ItemType, item_id: int) -> list[str]:
    async with rest.db.unit_of_work() as s:
        rows = await s.scalars(
            select(TimelineEvent.event_type)
            .where(TimelineEvent.owner_type == item_type, TimelineEvent.owner_id == item_id)
            .order_by(TimelineEvent.id)
        )
        return [str(r) for r in rows]


async def test_a_site_snippet_adds_a_lead_by_get_and_by_form(rest) -> None:
    query = (
        "fields[TITLE]=" + quote("Заявка с сайта")
        + "&fields[NAME]=Olga&fields[PHONE][0][VALUE]=" + quote("+7 (901) 555-12-34")
        + "&fields[PHONE][0][VALUE_TYPE]=WORK&fields[EMAIL][0][VALUE]=olga@example.com"
        + "&fields[SOURCE_ID]=WEBFORM"
    )  # fmt: skip
    status, body = await rest.call("boris", "crm.lead.add.json", query=query)
    assert status == 200 and isinstance(body["result"], int)
    assert set(body["time"]) >= {"start", "finish", "duration", "processing", "date_start", "date_finish"}
    status, body = await rest.call(
        "boris",
        "crm.lead.add",
        data={"fields[TITLE]": "Form", "fields[OPPORTUNITY]": "2 500", "fields[CURRENCY_ID]": "EUR"},
    )
    assert (status, body["error"]) == (400, "")  # "2 500" is typed text, not a number: refused
    status, body = await rest.call(
        "boris", "crm.lead.add", data={"fields[TITLE]": "Form", "fields[OPPORTUNITY]": "2500.5"}
    )
    assert status == 200
    status, got = await rest.call("boris", "crm.lead.get", query=f"ID={body['result']}")
    assert got["result"]["OPPORTUNITY"] == "2500.50" and got["result"]["TITLE"] == "Form"
    status, listed = await rest.call(
        "boris", "crm.lead.list", query="filter[NAME]=Olga&select[]=PHONE&select[]=EMAIL"
    )
    [olga] = listed["result"]
    assert (
        olga["PHONE"][0]["VALUE"] == "+7 (901) 555-12-34" and olga["EMAIL"][0]["VALUE"] == "olga@example.com"
    )
    assert set(olga) == {"ID", "PHONE", "EMAIL"}
    async with rest.db.unit_of_work() as s:
        assert await s.scalar(select(Lead.title).where(Lead.name == "Olga")) == "Заявка с сайта"


async def test_update_moves_the_stage_changes_multifields_and_delete_trashes(rest) -> None:
    _, body = await rest.call(
        "boris",
        "crm.lead.add",
        json={"fields": {"TITLE": "Call me", "PHONE": [{"VALUE": "+79001112233", "VALUE_TYPE": "WORK"}]}},
    )
    lead_id = body["result"]
    _, got = await rest.call("boris", "crm.lead.get", query=f"id={lead_id}")
    phone_id = got["result"]["PHONE"][0]["ID"]
    status, body = await rest.call(
        "boris",
        "crm.lead.update",
        json={
            "id": lead_id,
            "fields": {
                "TITLE": "Called back",
                "STATUS_ID": "IN_PROCESS",
                "PHONE": [
                    {"ID": phone_id, "VALUE": "+79001112233", "VALUE_TYPE": "MOBILE"},
                    {"VALUE": "+79004445566", "VALUE_TYPE": "HOME"},
                ],
            },
        },
    )
    assert (status, body["result"]) == (200, True)
    _, got = await rest.call("boris", "crm.lead.get", query=f"id={lead_id}")
    record = got["result"]
    assert record["TITLE"] == "Called back" and record["STATUS_ID"] == "IN_PROCESS"
    assert [(p["VALUE"], p["VALUE_TYPE"]) for p in record["PHONE"]] == [
        ("+79001112233", "MOBILE"),
        ("+79004445566", "HOME"),
    ]
    # delete one phone the Bitrix24 way
    first = record["PHONE"][0]["ID"]
    await rest.call(
        "boris", "crm.lead.update", json={"id": lead_id, "fields": {"PHONE": [{"ID": first, "DELETE": "Y"}]}}
    )
    _, got = await rest.call("boris", "crm.lead.get", query=f"id={lead_id}")
    assert [p["VALUE"] for p in got["result"]["PHONE"]] == ["+79004445566"]
    # a stage that does not exist: refused, nothing changed
    status, body = await rest.call(
        "boris", "crm.lead.update", json={"id": lead_id, "fields": {"STATUS_ID": "NOPE", "TITLE": "X"}}
    )
    assert status == 400 and "STATUS_ID" in body["error_description"]
    events = await _events(rest, ItemType.LEAD, lead_id)
    assert events.count(str(EventType.STAGE_CHANGED)) == 1 and str(EventType.FIELD_CHANGED) in events
    # to JUNK: closed as a failure
    await rest.call("boris", "crm.lead.update", json={"id": lead_id, "fields": {"STATUS_ID": "JUNK"}})
    _, got = await rest.call("boris", "crm.lead.get", query=f"id={lead_id}")
    assert got["result"]["STATUS_SEMANTIC_ID"] == "F" and got["result"]["DATE_CLOSED"]

    status, body = await rest.call("boris", "crm.lead.delete", query=f"id={lead_id}")
    assert (status, body["result"]) == (200, True)
    status, body = await rest.call("boris", "crm.lead.get", query=f"id={lead_id}")
    assert (status, body) == (400, {"error": "", "error_description": "Not found"})
    async with rest.db.unit_of_work() as s:
        assert (await s.get(Lead, lead_id)).deleted_at is not None  # in the trash, restorable


async def test_deals_in_pipelines_contacts_and_companies(rest) -> None:
    anna = rest.users["anna"]
    async with rest.db.unit_of_work() as s:
        wholesale = await pipelines.create_pipeline(s, await s.get(User, anna.id), name="Wholesale")
    _, cats = await rest.call("anna", "crm.category.list", query="entityTypeId=2")
    categories = cats["result"]["categories"]
    assert [(c["id"], c["isDefault"]) for c in categories] == [(0, "Y"), (wholesale.id, "N")]
    assert categories[1]["name"] == "Wholesale"
    _, stages = await rest.call(
        "anna", "crm.status.list", json={"filter": {"ENTITY_ID": f"DEAL_STAGE_{wholesale.id}"}}
    )
    codes = [r["STATUS_ID"] for r in stages["result"]]
    assert codes[0] == f"C{wholesale.id}:NEW" and f"C{wholesale.id}:WON" in codes
    _, lead_stages = await rest.call("anna", "crm.status.list", json={"filter": {"ENTITY_ID": "STATUS"}})
    assert [r["STATUS_ID"] for r in lead_stages["result"]] == [
        "NEW",
        "IN_PROCESS",
        "PROCESSED",
        "CONVERTED",
        "JUNK",
    ]
    assert [r["NAME"] for r in lead_stages["result"]][0] == "New"
    _, sources = await rest.call("anna", "crm.status.list", json={"filter": {"ENTITY_ID": "SOURCE"}})
    assert "WEB" in [r["STATUS_ID"] for r in sources["result"]]

    _, body = await rest.call(
        "boris", "crm.company.add", json={"fields": {"TITLE": "Acme", "PHONE": [{"VALUE": "+74950001122"}]}}
    )
    company_id = body["result"]
    _, body = await rest.call(
        "boris",
        "crm.contact.add",
        json={"fields": {"NAME": "Ivan", "LAST_NAME": "Petrov", "POST": "CEO", "COMPANY_ID": company_id}},
    )
    contact_id = body["result"]
    _, got = await rest.call("boris", "crm.contact.get", query=f"id={contact_id}")
    assert got["result"]["COMPANY_ID"] == str(company_id) and got["result"]["POST"] == "CEO"
    _, body = await rest.call(
        "boris",
        "crm.deal.add",
        json={
            "fields": {
                "TITLE": "Big order",
                "CATEGORY_ID": wholesale.id,
                "OPPORTUNITY": "100000",
                "CONTACT_ID": contact_id,
                "COMPANY_ID": company_id,
                "CLOSEDATE": "2026-12-31T00:00:00+03:00",
            }
        },
    )
    deal_id = body["result"]
    _, got = await rest.call("boris", "crm.deal.get", query=f"id={deal_id}")
    deal = got["result"]
    assert deal["CATEGORY_ID"] == str(wholesale.id) and deal["STAGE_ID"] == f"C{wholesale.id}:NEW"
    assert deal["CONTACT_ID"] == str(contact_id) and deal["CLOSEDATE"].startswith("2026-12-31")
    await rest.call(
        "boris", "crm.deal.update", json={"id": deal_id, "fields": {"STAGE_ID": f"C{wholesale.id}:WON"}}
    )
    _, got = await rest.call("boris", "crm.deal.get", query=f"id={deal_id}")
    assert (got["result"]["STAGE_SEMANTIC_ID"], got["result"]["CLOSED"]) == ("S", "Y")
    _, listed = await rest.call(
        "boris", "crm.deal.list", json={"filter": {"CATEGORY_ID": wholesale.id, "STAGE_SEMANTIC_ID": "S"}}
    )
    assert [d["ID"] for d in listed["result"]] == [str(deal_id)]
    _, fields = await rest.call("boris", "crm.deal.fields")
    assert (
        fields["result"]["STAGE_ID"]["type"] == "crm_status" and fields["result"]["ID"]["isReadOnly"] is True
    )
    assert fields["result"]["TITLE"]["title"] == "Title"
    _, profile = await rest.call("boris", "profile")
    assert profile["result"]["ID"] == str(rest.users["boris"].id) and profile["result"]["ADMIN"] is False


async def test_activities_and_timeline_comments_behave_as_in_the_bot(rest) -> None:
    _, body = await rest.call("boris", "crm.lead.add", json={"fields": {"TITLE": "Needs a call"}})
    lead_id = body["result"]
    deadline = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    status, body = await rest.call(
        "boris",
        "crm.activity.add",
        json={
            "fields": {
                "OWNER_TYPE_ID": 1,
                "OWNER_ID": lead_id,
                "TYPE_ID": 2,
                "SUBJECT": "Call back",
                "DEADLINE": deadline.isoformat(),
                "RESPONSIBLE_ID": rest.users["boris"].id,
                "COMMUNICATIONS": [{"VALUE": "+79001234567"}],
            }
        },
    )
    assert status == 200
    activity_id = body["result"]
    _, listed = await rest.call(
        "boris", "crm.activity.list", json={"filter": {"OWNER_TYPE_ID": 1, "OWNER_ID": lead_id}}
    )
    [activity] = listed["result"]
    assert activity["ID"] == str(activity_id) and activity["SUBJECT"] == "Call back"
    assert activity["TYPE_ID"] == "2" and activity["COMPLETED"] == "N"
    assert datetime.fromisoformat(activity["DEADLINE"]) == deadline
    async with rest.db.unit_of_work() as s:  # the default reminders, as for an activity planned in the bot
        offsets = sorted(
            await s.scalars(
                select(ActivityReminder.offset_minutes).where(
                    ActivityReminder.activity_id == activity_id,
                    ActivityReminder.kind == ReminderKind.REMINDER,
                )
            )
        )
    assert offsets == [0, 15]

    status, body = await rest.call(
        "boris",
        "crm.timeline.comment.add",
        json={"fields": {"ENTITY_ID": lead_id, "ENTITY_TYPE": "lead", "COMMENT": "Spoke <b>briefly</b>"}},
    )
    assert status == 200
    async with rest.db.unit_of_work() as s:
        comment = await s.get(Comment, body["result"])
        assert comment.text == "Spoke <b>briefly</b>" and comment.author_id == rest.users["boris"].id
    assert str(EventType.COMMENT_ADDED) in await _events(rest, ItemType.LEAD, lead_id)


async def test_batch_with_references_and_halt(rest) -> None:
    status, body = await rest.call(
        "boris",
        "batch",
        json={
            "halt": 0,
            "cmd": {
                "lead": "crm.lead.add?fields[TITLE]=" + quote("From batch") + "&fields[NAME]=Ann",
                "again": "crm.lead.get?id=$result[lead]",
                "name": "crm.lead.list?filter[NAME]=$result[again][NAME]&select[]=TITLE",
                "bad": "crm.lead.nope",
                "nested": "batch?cmd[x]=profile",
                "after": "profile",
            },
        },
    )
    assert status == 200
    result = body["result"]
    assert isinstance(result["result"]["lead"], int)
    assert result["result"]["again"]["TITLE"] == "From batch"
    assert [r["TITLE"] for r in result["result"]["name"]] == ["From batch"]
    assert result["result_total"] == {"name": 1}
    assert result["result_error"]["bad"]["error"] == "ERROR_METHOD_NOT_FOUND"
    assert result["result_error"]["nested"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    assert "after" in result["result"] and set(result["result_time"]["lead"]) >= {"start", "duration"}

    _, body = await rest.call(
        "boris", "batch", json={"halt": 1, "cmd": {"a": "crm.lead.get?id=999999", "b": "profile"}}
    )
    assert body["result"]["result"] == [] and list(body["result"]["result_error"]) == ["a"]

    too_many = {f"c{i}": "profile" for i in range(52)}
    _, body = await rest.call("boris", "batch", json={"cmd": too_many})
    assert len(body["result"]["result"]) == 50
    assert {k: v["error"] for k, v in body["result"]["result_error"].items()} == {
        "c50": "ERROR_BATCH_LENGTH_EXCEEDED",
        "c51": "ERROR_BATCH_LENGTH_EXCEEDED",
    }


async def test_list_pages_by_50_with_start_next_and_total(rest) -> None:
    await insert_leads(rest.db, rest.users["boris"].id, 120)
    _, first = await rest.call("boris", "crm.lead.list", query="select[]=ID")
    assert (len(first["result"]), first["next"], first["total"]) == (50, 50, 120)
    _, last = await rest.call("boris", "crm.lead.list", query="select[]=ID&start=100")
    assert (len(last["result"]), last["total"]) == (20, 120) and "next" not in last
    _, uncounted = await rest.call("boris", "crm.lead.list", query="select[]=ID&start=-1")
    assert len(uncounted["result"]) == 50 and "total" not in uncounted and "next" not in uncounted
    seen = [
        r["ID"]
        for page in (0, 50, 100)
        for r in (await rest.call("boris", "crm.lead.list", query=f"start={page}&order[ID]=DESC"))[1][
            "result"
        ]
    ]
    assert len(set(seen)) == 120 and [int(i) for i in seen] == sorted((int(i) for i in seen), reverse=True)


async def test_texts_no_database_can_store_are_refused_or_dropped_never_a_500(rest) -> None:
    # PostgreSQL answered 500 to both: a lone surrogate (json.loads let it through; no UTF-8 holds
    # it) and a NUL in a comment (the text fields dropped NUL, comments did not).
    lone = b'{"fields": {"TITLE": "Broken \\ud800 title"}}'
    status, body = await rest.call("boris", "crm.lead.add", data=lone)
    assert (status, body["error_description"]) == (400, "Cannot read the request: the body is not valid JSON")
    deep = b'{"fields": {"TITLE": "Deep", "X": ' + b"[" * 40 + b"]" * 40 + b"}}"
    status, body = await rest.call("boris", "crm.lead.add", data=deep)
    assert (status, body["error_description"]) == (
        400,
        "Cannot read the request: parameters nested too deep",
    )
    status, body = await rest.call("boris", "crm.lead.add", data=b'{"fields": {"TITLE": "Nul\\u0000led"}}')
    assert status == 200
    lead_id = body["result"]
    on_lead = f"fields[ENTITY_ID]={lead_id}&fields[ENTITY_TYPE]=lead"
    comment = {"fields": {"ENTITY_ID": lead_id, "ENTITY_TYPE": "lead", "COMMENT": "Said\x00 yes"}}
    status, _ = await rest.call("boris", "crm.timeline.comment.add", json=comment)
    assert status == 200
    # "%00" in a query string and in a batch's command decodes to a NUL too
    add = "crm.timeline.comment.add"
    status, _ = await rest.call("boris", add, query=f"{on_lead}&fields[COMMENT]=By%00 query")
    assert status == 200
    _, body = await rest.call(
        "boris", "batch", json={"cmd": {"a": f"{add}?{on_lead}&fields[COMMENT]=By%00 batch"}}
    )
    assert body["result"]["result_error"] == []
    async with rest.db.unit_of_work() as s:
        assert list(await s.scalars(select(Lead.title))) == ["Nulled"]  # the refused body added nothing
        texts = await s.scalars(select(Comment.text).where(Comment.owner_id == lead_id).order_by(Comment.id))
        assert list(texts) == ["Said yes", "By query", "By batch"]
