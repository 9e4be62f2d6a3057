"""A salesperson as a hostile client, through the real bot (issue 15): callback data of every class
with ids at the edges, an admin's payloads replayed and mutated, any 64 bytes; any text up to
4,096 characters. Every press is answered, every text gets a reply, nothing the salesperson may
not change changes, and no handler raises (the `bot` fixture fails the test on a logged error or
a Telegram 4xx). Bounded: a few hundred examples in all, a minute or so."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.services import activities as activities_service
from crm_core.services import comments as comments_service
from crm_core.services import items as items_service
from crm_core.services import tasks as tasks_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.hostile import built_payloads, mutated, protected_state, raw_payloads, texts
from tests.e2e.people import add_member, admin_user
from tests.reliability.report import REPORT

SALES_ID = 4401
E2E = settings(
    max_examples=int(os.environ.get("HOSTILE_E2E_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ADMIN_SCREENS = ["/menu", "/leads", "/deals", "/contacts", "/companies", "/today", "/kanban", "/trash",
                 "/settings", "/admin", "/invite", "/find", "L-1", "D-1", "C-1", "CO-1"]  # fmt: skip


def on_loop(step: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Hypothesis runs examples synchronously: it runs in a worker thread (`await in_thread(...)`)
    and each example runs on the test's event loop, where the bot lives."""
    loop = asyncio.get_running_loop()

    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run_coroutine_threadsafe(step(*args, **kwargs), loop).result(timeout=60)

    return run


async def _world(bot: Harness) -> tuple[User, list[str]]:
    """An admin with a lead, a deal, a contact, a company, a task, an activity and a comment, the
    callback data of the admin's screens (and one press deeper), and a salesperson."""
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, admin.id)
        lead = await items_service.create_lead(s, actor, title="Admin's lead", amount=1000)
        deal = await items_service.create_deal(s, actor, title="Admin's deal")
        await items_service.create_contact(s, actor, name="Ivan")
        await items_service.create_company(s, actor, title="Acme")
        await tasks_service.create_task(s, actor, owner_type="deal", owner_id=deal.id, title="Call back")
        await activities_service.create_activity(
            s, actor, owner_type="lead", owner_id=lead.id, deadline=utcnow() + timedelta(days=1)
        )
        await comments_service.add_comment(s, actor, owner_type="lead", owner_id=lead.id, text="secret")
    sales = await add_member(bot, SALES_ID, "Sam Seller")
    payloads: set[str] = set()
    for command in ADMIN_SCREENS:
        for message in await bot.say(ADMIN_ID, command):
            payloads.update(d for row in message.inline_keyboard for (_l, d, _u) in row if d)
    await bot.say(ADMIN_ID, "/cancel")
    return sales, sorted(payloads)


async def _press_as_sales(bot: Harness, data: str, with_message: bool, menu: list[int]) -> None:
    if with_message and bot.tg.get_message(SALES_ID, menu[0]).deleted:  # type: ignore[union-attr]
        # A press may delete the message it came on (a reply prompt's cancel); Telegram then
        # takes no press on it, so the client opens another menu.
        [again] = await bot.say(SALES_ID, "/menu")
        menu[0] = again.message_id
    update = bot.tg.forge_callback(SALES_ID, data, message_id=menu[0] if with_message else None)
    await bot.settle()
    REPORT.inputs["callback data (e2e)"] += 1
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None, f"press {data!r} was not answered"


async def test_a_salesperson_pressing_forged_buttons_changes_nothing(bot: Harness) -> None:
    sales, payloads = await _world(bot)
    assert len(payloads) > 20, payloads
    [menu] = await bot.say(SALES_ID, "/menu")
    menu_id = [menu.message_id]
    async with bot.app.db.sessionmaker() as s:
        before = await protected_state(s, sales.id)

    @E2E
    @given(
        data=st.one_of(st.sampled_from(payloads), mutated(payloads), built_payloads(), raw_payloads),
        with_message=st.booleans(),
    )
    # Once drawn at random: one press deletes the message it came on, the next changes the
    # person's own language (and with it the cache's version).
    @example(data="cc:c:0", with_message=True)
    @example(data="lang:lang:ru", with_message=True)
    @on_loop
    async def press(data: str, with_message: bool) -> None:
        await _press_as_sales(bot, data, with_message, menu_id)

    await asyncio.to_thread(press)
    await bot.say(SALES_ID, "/cancel")  # whatever form a press opened
    async with bot.app.db.sessionmaker() as s:
        after = await protected_state(s, sales.id)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, changed


async def test_any_text_gets_a_clear_reply(bot: Harness) -> None:
    sales, _ = await _world(bot)
    async with bot.app.db.sessionmaker() as s:
        before = await protected_state(s, sales.id)

    @E2E
    @given(text=texts)
    @on_loop
    async def say(text: str) -> None:
        replies = await bot.say(SALES_ID, text)
        REPORT.inputs["message text (e2e)"] += 1
        assert replies, f"no reply to {text[:80]!r}"
        await bot.say(SALES_ID, "/cancel")  # a text may have opened a form (a new lead)

    await asyncio.to_thread(say)
    async with bot.app.db.sessionmaker() as s:
        after = await protected_state(s, sales.id)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
    assert not changed, changed


async def test_every_text_in_a_form_is_kept_or_refused(bot: Harness) -> None:
    """Typed into the salesperson's own lead's fields: a clear answer, never a crash."""
    sales, _ = await _world(bot)
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        lead = await items_service.create_lead(s, me, title="Mine")
        lead_id = lead.id
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    fields_screen = (await bot.press(SALES_ID, card, "Fields"))[-1]
    labels = [label for row in fields_screen.inline_keyboard for (label, _d, _u) in row]

    @E2E
    @given(label=st.sampled_from(labels), text=texts)
    @on_loop
    async def type_into(label: str, text: str) -> None:
        [screen] = await bot.say(SALES_ID, f"L-{lead_id}")
        screen = (await bot.press(SALES_ID, screen, "Fields"))[-1]
        form = await bot.press(SALES_ID, screen, label)
        replies = await bot.say(SALES_ID, text)
        REPORT.inputs["form text (e2e)"] += 1
        assert form and (replies or text.startswith("/")), (label, text[:80])
        await bot.say(SALES_ID, "/cancel")

    await asyncio.to_thread(type_into)
    async with bot.app.db.sessionmaker() as s:
        assert await s.scalar(select(User.role).where(User.id == sales.id)) == sales.role
