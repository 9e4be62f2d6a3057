"""A won or lost deal's forum topic is closed and a reopened deal's topic reopened whatever changed
the stage: here the REST API, with the bot not involved in the change. It goes through the outbox
and the delivery engine, so a change rolled back closes nothing."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from crm_core.models import Deal, Stage, User
from crm_core.models.notifications import Notification, NotificationCategory, NotificationState
from crm_core.services import pipelines as pipelines_service
from crm_core.services import rest_tokens
from handlers.context import HandlerOptions
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.rooms_helpers import OBSERVER_ID, SALES_ID, deal, open_offer, room_bot, room_of, team
from tests.rest.conftest import start_server

__all__ = ["room_bot"]
FORUM_ID = -1007101


async def _topic_of_deal(bot: Harness, people: dict[str, User]) -> tuple[Deal, int]:
    bot.tg.add_group(FORUM_ID, "Sales", [ADMIN_ID, SALES_ID, OBSERVER_ID], is_forum=True)
    bot.tg.set_bot_rights(FORUM_ID, can_pin_messages=True, can_invite_users=True, can_manage_topics=True)
    await bot.say(ADMIN_ID, "/setforum", FORUM_ID)
    item = await deal(bot, people["sales"], "Lathes", [people["observer"].id])
    offer = await open_offer(bot, SALES_ID, item.ref, "Discuss in a group", "More")
    await bot.press(SALES_ID, offer, "A topic in the team forum")
    room = await room_of(bot, item.id)
    assert room is not None and room.thread_id is not None
    return item, room.thread_id


def _topic_calls(bot: Harness) -> list[str]:
    return [r.method for r in bot.tg.requests if r.method in ("closeForumTopic", "reopenForumTopic")]


async def _outbox_done(bot: Harness) -> None:
    """Every topic row of the outbox delivered (none left pending or claimed)."""

    async def states() -> set[str]:
        async with bot.app.db.sessionmaker() as s:
            rows = await s.scalars(
                select(Notification.state).where(Notification.category == NotificationCategory.ROOM_TOPIC)
            )
            return {str(r) for r in rows}

    for _ in range(200):
        if await states() <= {NotificationState.SENT}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(await states())


async def test_deal_won_and_reopened_through_rest_closes_and_reopens_its_topic(room_bot: Harness) -> None:
    bot = room_bot
    people = await team(bot)
    item, thread = await _topic_of_deal(bot, people)
    async with bot.app.db.unit_of_work() as s:
        issued = await rest_tokens.create_token(s, await s.get(User, people["admin"].id), people["sales"].id)
    runner, base = await start_server(bot.app.db, HandlerOptions())
    hook = f"{base}/rest/{people['sales'].id}/{issued.secret}/"
    topic = bot.tg.topics[FORUM_ID][thread]
    try:
        async with aiohttp.ClientSession() as http:

            async def stage(code: str) -> None:
                body = {"id": item.id, "fields": {"STAGE_ID": code}}
                async with http.post(hook + "crm.deal.update", json=body) as resp:
                    assert resp.status == 200, await resp.text()

            await stage("WON")
            await bot.tg.wait_for(lambda: topic.closed, timeout=10)
            await stage("EXECUTING")
            await bot.tg.wait_for(lambda: not topic.closed, timeout=10)
            # Lost, then lost for another reason: one close (the topic is closed already).
            await stage("LOSE")
            await stage("APOLOGY")
            await bot.tg.wait_for(lambda: topic.closed, timeout=10)
    finally:
        await runner.cleanup()
    await _outbox_done(bot)
    assert _topic_calls(bot) == ["closeForumTopic", "reopenForumTopic", "closeForumTopic"]


@pytest.mark.telegram_errors_expected(
    reason="the topic was closed by hand: TOPIC_NOT_MODIFIED, taken as done"
)
async def test_a_change_rolled_back_closes_nothing_and_a_repeat_is_done(room_bot: Harness) -> None:
    bot = room_bot
    people = await team(bot)
    item, thread = await _topic_of_deal(bot, people)
    topic = bot.tg.topics[FORUM_ID][thread]

    class Undo(Exception):
        pass

    async def move(code: str, *, roll_back: bool = False) -> None:
        try:
            async with bot.app.db.unit_of_work() as s:
                d = await s.get(Deal, item.id)
                target = await s.scalar(
                    select(Stage.id).where(Stage.pipeline_id == d.pipeline_id, Stage.code == code)
                )
                await pipelines_service.move_stage(s, await s.get(User, people["sales"].id), d, target)
                if roll_back:
                    raise Undo
        except Undo:
            pass

    await move("WON", roll_back=True)
    await asyncio.sleep(0.5)
    bot.app.scheduler.engine.wake()  # type: ignore[union-attr]
    await asyncio.sleep(0.5)
    assert not topic.closed and _topic_calls(bot) == []
    # Someone closed the topic by hand in Telegram meanwhile: winning the deal still ends "done"
    # (Telegram's TOPIC_NOT_MODIFIED is no error), and the row is not retried.
    topic.closed = True
    await move("WON")
    await _outbox_done(bot)
    [close] = [r for r in bot.tg.requests if r.method == "closeForumTopic"]
    assert close.status == 400 and close.description == "Bad Request: TOPIC_NOT_MODIFIED"
    assert topic.closed
