"""Telegram misbehaving (issue 15), injected by the fake (bot/fake_telegram/faults.py): 429 storms on
sends and on getUpdates, 5xx on each method the bot uses, requests that time out (delivered or not),
an update delivered twice, a press answered after its deadline. The bot loses no update (each one's
changes are committed: its row in processed_updates), applies none twice, and logs no error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import BotApp, create_bot
from bot.fake_telegram.errors import NOT_MODIFIED, QUERY_TOO_OLD
from crm_core.db import Database
from crm_core.models import ProcessedUpdate, User
from crm_core.models.items import Lead, Stage
from crm_core.models.timeline import TimelineEvent
from crm_core.services import items as items_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import admin_user
from tests.reliability.report import REPORT

NEW, IN_PROGRESS = "New", "In progress"


async def _lead(bot: Harness) -> int:
    bot.tg.set_rate_limits(False)  # only the injected 429s
    admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        lead = await items_service.create_lead(s, await s.get(User, admin.id), title="Faulty")
        return lead.id


async def _stage_name(bot: Harness, lead_id: int) -> str:
    """The lead's stage by its default name (the sort order of the default lead pipeline)."""
    async with bot.app.db.sessionmaker() as s:
        lead = await s.get(Lead, lead_id)
        stage = await s.get(Stage, lead.stage_id)  # type: ignore[union-attr]
        assert stage is not None
        return {1: NEW, 2: IN_PROGRESS}.get(stage.id, str(stage.code))


async def _account(bot: Harness, updates: list[dict[str, Any]]) -> None:
    """Every injected update was handled to the end: its changes and its processed_updates row
    were committed together."""
    ids = [u["update_id"] for u in updates]
    async with bot.app.db.sessionmaker() as s:
        done = set(
            await s.scalars(select(ProcessedUpdate.update_id).where(ProcessedUpdate.update_id.in_(ids)))
        )
    lost = [i for i in ids if i not in done]
    REPORT.updates_sent += len(ids)
    REPORT.updates_lost += len(lost)
    assert lost == [], f"updates never handled to the end: {lost}"


async def _move_to_in_progress(bot: Harness, lead_id: int) -> list[dict[str, Any]]:
    """Open the card by its ref, press Stage, press In progress: the updates injected."""
    updates = [bot.tg.send_text(ADMIN_ID, f"L-{lead_id}")]
    await bot.settle(timeout=30)
    card = bot.tg.last_bot_message(ADMIN_ID)
    assert card is not None and "Faulty" in (card.text or "")
    updates.append(bot.tg.press_button(ADMIN_ID, card.message_id, f"c:lead:{lead_id}:stage"))
    await bot.settle(timeout=30)
    screen = bot.tg.get_message(ADMIN_ID, card.message_id)
    assert screen is not None and "Choose the new stage" in (screen.text or ""), screen
    data = next(d for row in screen.inline_keyboard for (label, d, _u) in row if label == IN_PROGRESS)
    updates.append(bot.tg.press_button(ADMIN_ID, card.message_id, data))
    await bot.settle(timeout=30)
    return updates


async def _stage_moves(bot: Harness, lead_id: int) -> int:
    async with bot.app.db.sessionmaker() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(TimelineEvent)
                .where(TimelineEvent.owner_id == lead_id, TimelineEvent.event_type == "stage_changed")
            )
            or 0
        )


async def test_a_429_storm_on_sends_delays_replies_and_loses_none(bot: Harness) -> None:
    await _lead(bot)
    bot.tg.storm("sendMessage", 6, retry_after=1)
    marker = bot.tg.mark()
    updates = [bot.tg.send_text(ADMIN_ID, "/menu") for _ in range(3)]
    await bot.settle(timeout=60)
    assert len(bot.new_bot_messages(ADMIN_ID, marker)) == 3
    assert not bot.tg.early_retries, "the bot retried before retry_after"
    await _account(bot, updates)


async def test_a_429_storm_on_get_updates_is_waited_out(bot: Harness) -> None:
    lead_id = await _lead(bot)
    bot.tg.storm("getUpdates", 4, retry_after=1)
    updates = await _move_to_in_progress(bot, lead_id)
    assert await _stage_name(bot, lead_id) == IN_PROGRESS
    await _account(bot, updates)


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("getUpdates", 502),
        ("sendMessage", 500),
        ("editMessageText", 502),
        ("answerCallbackQuery", 500),
    ],
)
async def test_a_server_error_on_a_method_is_retried(bot: Harness, method: str, code: int) -> None:
    lead_id = await _lead(bot)
    bot.tg.server_errors(method, 1, code=code)
    updates = await _move_to_in_progress(bot, lead_id)
    assert await _stage_name(bot, lead_id) == IN_PROGRESS
    assert await _stage_moves(bot, lead_id) == 1
    await _account(bot, updates)


@pytest.mark.parametrize("method", ["sendMessage", "editMessageText", "answerCallbackQuery"])
@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "not-delivered"])
@pytest.mark.telegram_errors_expected(reason="a retried edit or answer that had arrived is refused")
async def test_a_request_that_timed_out(bot: Harness, method: str, delivered: bool) -> None:
    """The connection drops without an answer. The bot retries: a call that had arrived is then
    made twice. A second send shows the card twice (counted as a duplicate); a second edit or
    answer is refused by Telegram as a repeat ("not modified", "query is too old") and taken as
    done, so the press stands."""
    lead_id = await _lead(bot)
    bot.tg.drop_next(method, delivered=delivered)
    updates = await _move_to_in_progress(bot, lead_id)
    assert await _stage_name(bot, lead_id) == IN_PROGRESS
    assert await _stage_moves(bot, lead_id) == 1
    cards = [m for m in bot.tg.bot_messages(ADMIN_ID) if "Faulty" in (m.text or "")]
    extra = len(cards) - 1
    assert extra == (1 if delivered and method == "sendMessage" else 0)
    if extra:
        REPORT.duplicates["a send timed out after delivery; the bot's retry sent it again"] += extra
    refused = [(r.method, r.description) for r in bot.tg.errors() if 400 <= r.status < 500]
    repeat = {
        "editMessageText": "Bad Request: " + NOT_MODIFIED,
        "answerCallbackQuery": "Bad Request: " + QUERY_TOO_OLD,
    }
    assert refused == ([(method, repeat[method])] if delivered and method in repeat else [])
    await _account(bot, updates)


@pytest.mark.telegram_errors_expected(reason="a stopped bot's abandoned long poll is ended with a 409")
async def test_an_update_delivered_twice_is_handled_once(bot: Harness) -> None:
    """Telegram sends updates again when their confirmation was lost: here to a restarted bot,
    which has no memory of them but the processed_updates table."""
    lead_id = await _lead(bot)
    updates = await _move_to_in_progress(bot, lead_id)
    before = len(bot.tg.bot_messages(ADMIN_ID))
    first = bot.app
    first.stop()
    await bot.task
    second = BotApp(first.settings, create_bot(bot.tg.token, bot.tg.base_url), Database(first.db.url))
    task = asyncio.create_task(second.run())
    try:
        bot.app = second
        polls = len(bot.tg.calls("getUpdates"))
        await bot.tg.wait_for(lambda: len(bot.tg.calls("getUpdates")) > polls, timeout=10)
        for update in updates:
            bot.tg.deliver_again(update)
        await bot.settle()
    finally:
        second.stop()
        await task
        bot.app = first
    assert len(bot.tg.bot_messages(ADMIN_ID)) == before  # nothing answered twice
    assert await _stage_moves(bot, lead_id) == 1  # nothing applied twice
    await _account(bot, updates)
    conflicts = [r.description for r in bot.tg.errors() if r.status != 0]
    assert all(r.method == "getUpdates" and r.status == 409 for r in bot.tg.errors()), conflicts


@pytest.mark.telegram_errors_expected(reason="the press is answered after Telegram's 15 s deadline")
async def test_a_press_answered_after_its_deadline_still_counts_and_loops_not(bot: Harness) -> None:
    lead_id = await _lead(bot)
    [card] = await bot.say(ADMIN_ID, f"L-{lead_id}")
    await bot.press(ADMIN_ID, card, "Stage")
    screen = bot.tg.get_message(ADMIN_ID, card.message_id)
    data = next(d for row in screen.inline_keyboard for (label, d, _u) in row if label == IN_PROGRESS)  # type: ignore[union-attr]
    answers = len(bot.tg.calls("answerCallbackQuery"))
    update = bot.tg.press_button(ADMIN_ID, card.message_id, data)
    bot.tg.age_callback_queries(16)  # before the bot has even read it
    await bot.settle()
    assert await _stage_name(bot, lead_id) == IN_PROGRESS  # the move is kept
    late = bot.tg.calls("answerCallbackQuery")[answers:]
    assert [r.description for r in late] == [
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    ]  # tried once: no retry, no error loop
    assert bot.logged_errors.records == []
    await _account(bot, [update])
