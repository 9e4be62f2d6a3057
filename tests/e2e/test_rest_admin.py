"""/admin → REST API: an admin makes a token for a salesperson (its webhook address is shown once),
the address works against the REST API with that person's rights, and revoking it refuses it."""

from __future__ import annotations

import re

import aiohttp
from sqlalchemy import func, select

from crm_core.models.rest import RestToken
from crm_core.services import items as items_service
from handlers.context import HandlerOptions
from tests.e2e.harness import Harness
from tests.e2e.people import ADMIN_ID, add_member, admin_user
from tests.rest.conftest import start_server

SALES_ID = 4101


async def test_admin_creates_uses_and_revokes_a_token(bot: Harness) -> None:
    admin = await admin_user(bot)
    sam = await add_member(bot, SALES_ID, "Sam Seller")
    async with bot.app.db.unit_of_work() as s:
        await items_service.create_lead(s, await s.get(type(admin), admin.id), title="Admin's own lead")

    [home] = await bot.say(ADMIN_ID, "/admin")
    [screen] = await bot.press(ADMIN_ID, home, "REST API")
    assert "No tokens yet." in (screen.text or "")
    [picker] = await bot.press(ADMIN_ID, screen, "New token")
    [created] = await bot.press(ADMIN_ID, picker, "Sam Seller")
    text = created.text or ""
    assert "Sam Seller" in text
    path = re.findall(r"/rest/\d+/[\w-]+/", text)[0]
    assert path.startswith(f"/rest/{sam.id}/")
    # the secret is not stored: only its hash
    async with bot.app.db.unit_of_work() as s:
        token = await s.get(RestToken, 1)
        assert token is not None and token.user_id == sam.id and path.split("/")[3] not in token.secret_hash

    runner, base = await start_server(bot.app.db, HandlerOptions())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}{path}profile.json") as resp:
                assert resp.status == 200
                assert (await resp.json())["result"]["ID"] == str(sam.id)
            async with http.post(f"{base}{path}crm.lead.add", json={"fields": {"TITLE": "Sam's"}}) as resp:
                assert resp.status == 200
            async with http.get(f"{base}{path}crm.lead.list", params={"select[]": "TITLE"}) as resp:
                titles = [r["TITLE"] for r in (await resp.json())["result"]]
            assert titles == ["Sam's"]  # Sam's rights: not the admin's lead

            [screen] = await bot.press(ADMIN_ID, created, "Back")
            assert "Sam Seller" in (screen.text or "")
            [screen] = await bot.press(ADMIN_ID, screen, "Revoke 1")
            assert "No tokens yet." in (bot.current(screen).text or "")
            async with http.get(f"{base}{path}profile") as resp:
                assert (resp.status, (await resp.json())["error"]) == (401, "INVALID_CREDENTIALS")
    finally:
        await runner.cleanup()


async def test_only_admins_reach_the_token_screens(bot: Harness) -> None:
    await admin_user(bot)
    await add_member(bot, SALES_ID, "Sam Seller")
    [home] = await bot.say(ADMIN_ID, "/admin")
    [screen] = await bot.press(ADMIN_ID, home, "REST API")
    [picker] = await bot.press(ADMIN_ID, screen, "New token")
    # Sam forges the admin's "create a token for me" button: refused, nothing made
    data = next(d for row in picker.inline_keyboard for (label, d, _url) in row if "Sam" in label)
    sent = await bot.say(SALES_ID, "/start")
    update = bot.tg.forge_callback(SALES_ID, str(data), message_id=sent[-1].message_id)
    await bot.settle()
    assert "admin" in bot.tg.callback_answers[update["callback_query"]["id"]]["text"].lower()
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(RestToken)) == 0
