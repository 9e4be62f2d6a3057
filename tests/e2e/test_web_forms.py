"""Web forms over real HTTP: `POST /forms/<key>` on the bot's HTTP server makes a lead for the
form's responsible, who gets the card in Telegram; unknown keys, bad fields, big bodies and too
many submissions from one address are refused with 404, 422, 413 and 429."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from crm_core.models import FormSubmission, Lead, User
from crm_core.services import forms as forms_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, free_port, running_bot
from tests.e2e.people import add_member, admin_user

SELLER_ID = 2002

RATE = 5


@pytest.fixture
async def web(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    port = free_port()
    async with running_bot(
        database_url, admin_ids=[ADMIN_ID], http_port=port, form_rate_per_minute=RATE, form_max_bytes=2048
    ) as harness:
        harness.http_base = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
        yield harness
    check_clean_run(harness, request.node)


async def _form(h: Harness, responsible_tg: int | None = None) -> str:
    async with h.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
        responsible = await s.scalar(select(User).where(User.telegram_id == (responsible_tg or ADMIN_ID)))
        assert admin is not None and responsible is not None
        form = await forms_service.create_form(s, admin, "Site", responsible_id=responsible.id)
        return form.key


async def test_json_urlencoded_and_multipart_make_leads_for_the_responsible(web: Harness) -> None:
    await admin_user(web)
    await add_member(web, SELLER_ID, "Sergey")
    key = await _form(web, SELLER_ID)
    url = f"{web.http_base}/forms/{key}"  # type: ignore[attr-defined]
    marker = web.tg.mark()
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json={"name": "Anna <b>", "phone": "+7 999 111-22-33", "utm_source": "ya"}
        ) as r:
            assert r.status == 201, await r.text()
            first = await r.json()
        async with http.post(
            url, data={"name": "Boris", "email": "boris@example.com", "company": "Acme"}
        ) as r:
            assert r.status == 201
        multipart = aiohttp.FormData()
        multipart.add_field("name", "Vera")
        multipart.add_field("phone", "+7 999 111-22-33")
        multipart.add_field("comment", "Call after 6 pm")
        async with http.post(url, data=multipart) as r:
            assert r.status == 201
            third = await r.json()
    assert first["ok"] is True and third["repeat"] is False  # a lead is not a client
    await web.settle()
    async with web.app.db.sessionmaker() as s:
        leads = list(await s.scalars(select(Lead).order_by(Lead.id)))
        seller = await s.scalar(select(User).where(User.telegram_id == SELLER_ID))
        tagged = list(await s.scalars(select(FormSubmission).order_by(FormSubmission.id)))
    assert [lead.title for lead in leads] == ["Site: Anna <b>", "Site: Boris", "Site: Vera"]
    assert {lead.responsible_id for lead in leads} == {seller.id}  # type: ignore[union-attr]
    assert leads[1].company_title == "Acme" and leads[2].comment == "Call after 6 pm"
    assert [t.lead_id for t in tagged] == [lead.id for lead in leads]
    assert tagged[0].utm == {"utm_source": "ya"} and tagged[0].address == "127.0.0.1"
    # The responsible gets each card in Telegram, the name escaped.
    told = web.new_bot_messages(SELLER_ID, marker)
    assert len(told) == 3
    assert "Site: Anna <b>" in (told[0].text or "") and "A new lead" in (told[0].text or "")
    assert all(m.inline_keyboard for m in told)


async def test_a_known_phone_makes_a_repeat_lead(web: Harness) -> None:
    await admin_user(web)
    key = await _form(web)
    async with web.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
        from crm_core.services import items

        await items.create_contact(s, admin, name="Olga", phones=["+79995554433"])
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{web.http_base}/forms/{key}",  # type: ignore[attr-defined]
            json={"name": "Olga", "phone": "8 999 555 44 33"},
        ) as r:
            assert r.status == 201
            assert (await r.json())["repeat"] is True
    await web.settle()


async def test_refusals_404_422_413_and_429(web: Harness) -> None:
    await admin_user(web)
    key = await _form(web)
    base = web.http_base  # type: ignore[attr-defined]
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/forms/no-such-key", json={"phone": "+79991112233"}) as r:
            assert r.status == 404 and (await r.json())["error"] == "unknown_form"
        async with http.post(f"{base}/forms/{key}", json={"name": "x" * 101, "phone": "call me"}) as r:
            assert r.status == 422
            assert (await r.json())["errors"] == {"name": "too_long", "phone": "invalid_phone"}
        async with http.post(f"{base}/forms/{key}", data={"comment": "x" * 3000}) as r:
            assert r.status == 413
        async with http.post(
            f"{base}/forms/{key}", data="[1, 2]", headers={"Content-Type": "application/json"}
        ) as r:
            assert r.status == 422 and (await r.json())["errors"] == {"body": "not_an_object"}
        # Every attempt counts: this is the fifth from this address (RATE per minute), the next is refused.
        async with http.post(f"{base}/forms/{key}", json={"phone": "+79991112233"}) as r:
            assert r.status == 201
        async with http.post(f"{base}/forms/{key}", json={"phone": "+79991112233"}) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) > 0
    async with web.app.db.sessionmaker() as s:
        assert len(list(await s.scalars(select(Lead)))) == 1  # nothing refused made a lead


async def test_a_text_no_database_can_store_is_refused_or_dropped(web: Harness) -> None:
    # json.loads let a lone surrogate through, which no UTF-8 holds; a NUL is no character meant
    await admin_user(web)
    key = await _form(web)
    url = f"{web.http_base}/forms/{key}"  # type: ignore[attr-defined]
    as_json = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, data=b'{"name": "Br\\ud800ken", "phone": "+79991112233"}', headers=as_json
        ) as r:
            assert (r.status, (await r.json())["errors"]) == (422, {"body": "not_an_object"})
        async with http.post(url, data=b'{"name": ' + b"[" * 40 + b"]" * 40 + b"}", headers=as_json) as r:
            assert (r.status, (await r.json())["errors"]) == (422, {"body": "not_an_object"})
        nul = b'{"name": "An\\u0000na", "phone": "+79991112233", "utm_source": "y\\u0000a"}'
        async with http.post(url, data=nul, headers=as_json) as r:
            assert r.status == 201, await r.text()
        async with http.post(
            url, data={"name": "Bo\x00ris", "phone": "+79991112244", "utm_term": "a\x00b"}
        ) as r:
            assert r.status == 201, await r.text()
    async with web.app.db.sessionmaker() as s:
        assert list(await s.scalars(select(Lead.title).order_by(Lead.id))) == ["Site: Anna", "Site: Boris"]
        utm = list(await s.scalars(select(FormSubmission.utm).order_by(FormSubmission.id)))
        assert utm == [{"utm_source": "ya"}, {"utm_term": "ab"}]


async def test_a_revoked_key_answers_404(web: Harness) -> None:
    await admin_user(web)
    key = await _form(web)
    async with web.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
        form = await forms_service.active_form(s, key)
        assert admin is not None and form is not None
        await forms_service.revoke_form(s, admin, form.id)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{web.http_base}/forms/{key}", json={"phone": "+79991112233"}) as r:  # type: ignore[attr-defined]
            assert r.status == 404


async def test_admin_creates_lists_and_revokes_a_form_in_the_bot(web: Harness) -> None:
    web.tg.set_rate_limits(False)  # people do not tap several times a second
    await admin_user(web)
    await add_member(web, SELLER_ID, "Sergey")
    [home] = await web.say(ADMIN_ID, "/admin")
    [screen] = await web.press(ADMIN_ID, home, "Web forms")
    assert "No web forms yet." in (screen.text or "")
    [prompt] = await web.press(ADMIN_ID, screen, "New form")
    assert "Type the form's name" in (prompt.text or "")
    [picker] = await web.say(ADMIN_ID, "Landing <spring>")
    assert "Landing <spring>" in (picker.text or "") and "who gets its leads" in (picker.text or "")
    assert "⭐" in picker.inline_keyboard[0][0][0]  # the admin first: the default
    [card] = await web.press(ADMIN_ID, picker, "Sergey")
    text = card.text or ""
    assert "Leads go to: Sergey" in text and "0 submissions so far" in text
    url = next(line for line in text.splitlines() if line.startswith("Address: ")).removeprefix("Address: ")
    assert url.startswith(web.http_base + "/forms/")  # type: ignore[attr-defined]
    assert f'<form action="{url}" method="post">' in text and 'name="phone"' in text
    # The address works as given.
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"name": "Nina", "phone": "+7 912 000-00-01"}) as r:
            assert r.status == 201
    await web.settle()
    [listing] = await web.press(ADMIN_ID, card, "Back")
    assert "Landing <spring>, leads go to Sergey" in (listing.text or "")
    [card] = await web.press(ADMIN_ID, listing, "Landing")
    assert "1 submission so far" in (card.text or "")
    [ask] = await web.press(ADMIN_ID, card, "Revoke")
    [listing] = await web.press(ADMIN_ID, ask, "Yes, revoke")
    assert "No web forms yet." in (listing.text or "")
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"name": "Nina", "phone": "+7 912 000-00-01"}) as r:
            assert r.status == 404


async def test_a_form_by_the_routing_rule_gives_leads_to_whom_the_rule_picks(web: Harness) -> None:
    from crm_core.models.clients import RoutingRule
    from crm_core.services import routing

    web.tg.set_rate_limits(False)
    await admin_user(web, lang="ru")
    await add_member(web, SELLER_ID, "Sergey")
    async with web.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
        seller = await s.scalar(select(User).where(User.telegram_id == SELLER_ID))
        assert admin is not None and seller is not None
        await routing.set_rule(s, admin, RoutingRule.FIXED, fixed_user_id=seller.id)
    [home] = await web.say(ADMIN_ID, "/admin")
    [screen] = await web.press(ADMIN_ID, home, "Веб-формы")
    [prompt] = await web.press(ADMIN_ID, screen, "Новая форма")
    [picker] = await web.say(ADMIN_ID, "Лендинг")
    [card] = await web.press(ADMIN_ID, picker, "По правилу распределения")
    assert "правило распределения клиентов" in (card.text or "")
    url = next(line for line in (card.text or "").splitlines() if "/forms/" in line).split(": ", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data={"name": "Nina", "phone": "+7 912 000-00-02"}) as r:
            assert r.status == 201
    await web.settle()
    async with web.app.db.sessionmaker() as s:
        lead = await s.scalar(select(Lead).order_by(Lead.id.desc()))
    assert lead is not None and lead.responsible_id == seller.id


async def test_non_admins_cannot_make_or_revoke_forms_with_forged_buttons(web: Harness) -> None:
    from handlers.admin_forms import FormAction, FormsCB

    web.tg.set_rate_limits(False)
    await admin_user(web)
    await add_member(web, SELLER_ID, "Sergey")
    key = await _form(web)
    async with web.app.db.sessionmaker() as s:
        form = await forms_service.active_form(s, key)
        seller = await s.scalar(select(User).where(User.telegram_id == SELLER_ID))
    assert form is not None and seller is not None
    [menu] = await web.say(SELLER_ID, "/menu")
    forged = [
        FormsCB().pack(),
        FormsCB(action=FormAction.REVOKE_SURE, id=form.id).pack(),
        FormsCB(action=FormAction.PICK, id=seller.id).pack(),
        FormsCB(action=FormAction.OPEN, id=form.id).pack(),
    ]
    updates = [web.tg.forge_callback(SELLER_ID, data, message_id=menu.message_id) for data in forged]
    await web.settle()
    for update in updates:
        answer = web.tg.callback_answers[update["callback_query"]["id"]]
        assert answer is not None and "only" in answer["text"]
    async with web.app.db.sessionmaker() as s:
        assert await forms_service.active_form(s, key) is not None
        assert len(await forms_service.list_forms(s, await s.get(User, form.created_by_id))) == 1


async def test_with_redis_the_rate_per_address_is_held_there(
    request: pytest.FixtureRequest, database_url: str
) -> None:
    """Several processes behind a balancer count one address together: the count lives in Redis."""
    import os

    import redis.asyncio as aioredis

    redis_url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = aioredis.from_url(redis_url)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {redis_url}")
    port = free_port()
    async with running_bot(
        database_url, admin_ids=[ADMIN_ID], http_port=port, form_rate_per_minute=2, redis_url=redis_url
    ) as harness:
        keys = [k async for k in client.scan_iter(f"formrate:{harness.tg.bot_id}:*")]
        if keys:
            await client.delete(*keys)
        await admin_user(harness)
        key = await _form(harness)
        statuses = []
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                async with http.post(
                    f"http://127.0.0.1:{port}/forms/{key}", json={"phone": "+79991112233"}
                ) as r:
                    statuses.append(r.status)
        assert statuses == [201, 201, 429]
        assert [k async for k in client.scan_iter(f"formrate:{harness.tg.bot_id}:127.0.0.1")]
    await client.aclose()
    check_clean_run(harness, request.node)
