"""Refusals: no or wrong credentials, a revoked token, a deactivated user, unknown methods, bad
arguments (nothing changes), another person's items (exactly that user's rights), and the token's
request rate (503 QUERY_LIMIT_EXCEEDED, other tokens unaffected)."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_core.models.items import Lead
from crm_core.models.users import User
from crm_core.services import rest_tokens, users
from tests.rest.conftest import bitrix, in_thread


async def test_credentials(rest) -> None:
    http = rest.http
    async with http.get(f"{rest.base}/rest/crm.lead.list") as resp:
        assert (resp.status, await resp.json()) == (
            401,
            {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"},
        )
    boris = rest.users["boris"]
    secret = rest.hooks["boris"].rstrip("/").rsplit("/", 1)[1]
    for path in (
        f"/rest/{boris.id}/wrongsecret/profile",
        f"/rest/{rest.users['vera'].id}/{secret}/profile",  # Boris's secret under Vera's id
        f"/rest/abc/{secret}/profile",
    ):
        async with http.get(rest.base + path) as resp:
            body = await resp.json()
            assert (resp.status, body["error"]) == (401, "INVALID_CREDENTIALS"), path
    status, body = await rest.call("boris", "crm.lead.nothing")
    assert (status, body) == (
        404,
        {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"},
    )


async def test_revoked_token_and_deactivated_user_are_refused(rest) -> None:
    assert (await rest.call("vera", "profile"))[0] == 200
    assert (await rest.call("gleb", "profile"))[0] == 200
    async with rest.db.unit_of_work() as s:
        anna = await s.get(User, rest.users["anna"].id)
        [vera_token] = [
            t for t in await rest_tokens.list_tokens(s, anna) if t.user_id == rest.users["vera"].id
        ]
        await rest_tokens.revoke_token(s, anna, vera_token.id)
        await users.deactivate_user(s, anna, rest.users["gleb"].id)
    for who in ("vera", "gleb"):
        status, body = await rest.call(who, "profile")
        assert (status, body["error"]) == (401, "INVALID_CREDENTIALS")


async def test_bad_arguments_change_nothing(rest) -> None:
    cases = [
        ("crm.lead.get", {}),
        ("crm.lead.get", {"id": "abc"}),
        ("crm.lead.add", {"fields": {"TITLE": "x", "OPPORTUNITY": "lots"}}),
        ("crm.lead.add", {"fields": {"TITLE": "x", "CURRENCY_ID": "dollars"}}),
        ("crm.lead.add", {"fields": {"TITLE": "x", "STATUS_ID": "WHATEVER"}}),
        ("crm.lead.add", {"fields": {"TITLE": "x", "PHONE": [{"VALUE": "not a phone"}]}}),
        ("crm.lead.add", {"fields": {"TITLE": "x" * 300}}),
        ("crm.lead.add", {"fields": {"TITLE": "x", "ASSIGNED_BY_ID": 999999}}),
        ("crm.lead.add", {"fields": "TITLE"}),
        ("crm.lead.list", {"filter": {"NO_SUCH_FIELD": 1}}),
        ("crm.lead.list", {"filter": {">DATE_CREATE": "yesterday"}}),
        ("crm.lead.list", {"order": {"PHONE": "ASC"}}),
        ("crm.deal.add", {"fields": {"TITLE": "x", "CATEGORY_ID": 987}}),
        ("crm.activity.add", {"fields": {"OWNER_TYPE_ID": 1, "OWNER_ID": 1}}),
        ("crm.status.list", {"filter": {"NAME": "x"}}),
    ]
    for method, params in cases:
        status, body = await rest.call("boris", method, json=params)
        assert status == 400 and set(body) == {"error", "error_description"}, (method, params, body)
    async with rest.db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(Lead)) == 0
    async with rest.http.post(
        rest.hooks["boris"] + "crm.lead.add", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400


async def test_a_token_has_exactly_its_users_rights(rest) -> None:
    boris_b = bitrix(rest.hooks["boris"])
    vera_lead = (await rest.call("vera", "crm.lead.add", json={"fields": {"TITLE": "Vera's"}}))[1]["result"]
    anna_contact = (await rest.call("anna", "crm.contact.add", json={"fields": {"NAME": "Private"}}))[1][
        "result"
    ]
    mine = await in_thread(lambda: boris_b.call("crm.lead.add", {"fields": {"TITLE": "Boris's"}}))

    for method, params in (
        ("crm.lead.get", {"id": vera_lead}),
        ("crm.lead.update", {"id": vera_lead, "fields": {"TITLE": "taken"}}),
        ("crm.lead.delete", {"id": vera_lead}),
        ("crm.contact.get", {"id": anna_contact}),
        (
            "crm.timeline.comment.add",
            {"fields": {"ENTITY_TYPE": "lead", "ENTITY_ID": vera_lead, "COMMENT": "hi"}},
        ),
        (
            "crm.activity.add",
            {"fields": {"OWNER_TYPE_ID": 1, "OWNER_ID": vera_lead, "DEADLINE": "2030-01-01T10:00:00"}},
        ),
        ("crm.activity.list", {"filter": {"OWNER_TYPE_ID": 1, "OWNER_ID": vera_lead}}),
        # linking his lead to a contact he may not see is refused as well
        ("crm.lead.update", {"id": mine, "fields": {"CONTACT_ID": anna_contact}}),
    ):
        status, body = await rest.call("boris", method, json=params)
        assert (status, body) == (403, {"error": "ACCESS_DENIED", "error_description": "Access denied."}), (
            method
        )
    rows = await in_thread(lambda: boris_b.get_all("crm.lead.list", params={"select": ["TITLE"]}))
    assert [r["TITLE"] for r in rows] == ["Boris's"]
    # the head of their department sees both; nobody's data changed
    rows = await in_thread(
        lambda: bitrix(rest.hooks["gleb"]).get_all("crm.lead.list", params={"select": ["TITLE"]})
    )
    assert sorted(r["TITLE"] for r in rows) == ["Boris's", "Vera's"]
    async with rest.db.unit_of_work() as s:
        assert (await s.get(Lead, vera_lead)).deleted_at is None
