"""Deal rooms under sustained load, against the fake's per-group limit (no more than 20 messages in
any 60 s per group, all topics of a forum together, edits and new topics included; 429 "Too Many
Requests: retry after N" beyond it): a group's deal and three deals in one forum get a steady flow
of events. Checked from the fake's record of requests: no 60-s window over 20 per chat, no 429,
every event delivered, in a few summaries soon after it happened instead of a queue of minutes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from crm_core.models import User
from crm_core.models.notifications import Notification, NotificationCategory, NotificationState
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import comments as comments_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, running_bot
from tests.e2e.rooms_helpers import (
    GROUP_ID,
    OBSERVER_ID,
    SALES_ID,
    WINDOW,
    bound_room,
    deal,
    open_offer,
    room_bot,
    room_of,
)

__all__ = ["room_bot"]
FORUM_ID = -1007201
# What the fake counts towards a group's limit, and how much (its RateLimitConfig).
COUNTED = {"sendMessage": 1.0, "sendPhoto": 1.0, "sendDocument": 1.0, "copyMessage": 1.0}
COUNTED |= {"forwardMessage": 1.0, "createForumTopic": 1.0}
COUNTED |= {"editMessageText": 0.25, "editMessageReplyMarkup": 0.25}


def busiest_minute(bot: Harness, chat_id: int) -> float:
    """The most the chat got in any 60 s (each window starting at one of its requests)."""
    times = [
        (r.time, COUNTED[r.method]) for r in bot.tg.requests if r.chat_id == chat_id and r.method in COUNTED
    ]
    return max((sum(c for t, c in times if start <= t < start + 60) for start, _c in times), default=0.0)


def refused(bot: Harness) -> list[tuple[str, object]]:
    """429s in the rooms (people's private chats are paced by their own 1/s, not tested here)."""
    return [
        (r.method, r.chat_id)
        for r in bot.tg.requests
        if r.status == 429 and r.chat_id in (GROUP_ID, FORUM_ID)
    ]


async def _forum_deals(bot: Harness, people: dict[str, User], count: int) -> list[int]:
    bot.tg.add_group(FORUM_ID, "Sales", [ADMIN_ID, SALES_ID, OBSERVER_ID], is_forum=True)
    bot.tg.set_bot_rights(FORUM_ID, can_pin_messages=True, can_invite_users=True, can_manage_topics=True)
    await bot.say(ADMIN_ID, "/setforum", FORUM_ID)
    ids = []
    for n in range(count):
        item = await deal(bot, people["sales"], f"Forum deal {n}", [])
        offer = await open_offer(bot, SALES_ID, item.ref, "Discuss in a group", "More")
        await bot.press(SALES_ID, offer, "A topic in the team forum")
        assert (await room_of(bot, item.id)) is not None
        ids.append(item.id)
    return ids


async def _comment(bot: Harness, author: User, deal_id: int, text: str) -> None:
    async with bot.app.db.unit_of_work() as s:
        await comments_service.add_comment(s, await s.get(User, author.id), "deal", deal_id, text)


async def _all_sent(bot: Harness, timeout: float) -> None:
    async def pending() -> int:
        async with bot.app.db.sessionmaker() as s:
            rows = await s.scalars(
                select(Notification.state).where(Notification.category == NotificationCategory.ROOM_EVENT)
            )
            return sum(1 for r in rows if r != NotificationState.SENT)

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await pending():
        assert loop.time() < deadline, "room events still waiting"
        await asyncio.sleep(0.1)


async def _delivered_events(bot: Harness) -> set[int]:
    async with bot.app.db.sessionmaker() as s:
        payloads = await s.scalars(
            select(Notification.payload).where(Notification.category == NotificationCategory.ROOM_EVENT)
        )
        return {int(e) for p in payloads for e in (p or {}).get("events") or []}


async def _comment_events(bot: Harness) -> set[int]:
    async with bot.app.db.sessionmaker() as s:
        rows = await s.scalars(
            select(TimelineEvent.id).where(TimelineEvent.event_type == EventType.COMMENT_ADDED)
        )
        return set(rows)


async def test_a_steady_flow_of_events_is_summarised_within_the_group_limit(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    forum_deals = await _forum_deals(bot, people, 3)
    marker = bot.tg.mark()
    loop = asyncio.get_running_loop()
    started = loop.time()
    # 66 events on the group's deal and 66 on the forum's three deals, over about 20 s; someone in
    # the group asks for the card meanwhile (the bot's reply uses the group's minute too).
    for n in range(66):
        await _comment(bot, people["sales"], item.id, f"group note {n}")
        await _comment(bot, people["sales"], forum_deals[n % 3], f"forum note {n}")
        if n == 30:
            assert await bot.say(OBSERVER_ID, "/card", GROUP_ID)
        await asyncio.sleep(0.3)
    last_event = loop.time()
    await _all_sent(bot, timeout=30)
    drained = loop.time()
    assert await _comment_events(bot) <= await _delivered_events(bot)  # every event told
    summaries = {
        chat: [m for m in bot.tg.bot_messages(chat) if m.seq > marker and "note" in (m.text or "")]
        for chat in (GROUP_ID, FORUM_ID)
    }
    figures = {
        "events": 132,
        "seconds of events": round(last_event - started, 1),
        "last summary after the last event (s)": round(drained - last_event, 1),
        "summaries in the group": len(summaries[GROUP_ID]),
        "summaries in the forum": len(summaries[FORUM_ID]),
        "busiest minute, group": busiest_minute(bot, GROUP_ID),
        "busiest minute, forum": busiest_minute(bot, FORUM_ID),
    }
    print(figures)
    assert refused(bot) == []
    assert figures["busiest minute, group"] <= 20 and figures["busiest minute, forum"] <= 20
    # Summarised: a message every few seconds per chat at most, not one per event, and the last
    # one out within seconds of the last event.
    assert len(summaries[GROUP_ID]) <= 10 and len(summaries[FORUM_ID]) <= 12
    assert figures["last summary after the last event (s)"] < 12


@pytest.fixture
async def eager_room_bot(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    """Rooms whose summaries are not spaced out per chat (room_chat_gap_seconds=0): more summaries
    than a group may get, so the delivery engine's own per-group window has to hold them back."""
    async with running_bot(
        database_url, admin_ids=[ADMIN_ID], room_summary_seconds=WINDOW, room_chat_gap_seconds=0
    ) as harness:
        yield harness
    check_clean_run(harness, request.node)


async def test_more_summaries_than_a_group_may_get_wait_for_its_minute(eager_room_bot: Harness) -> None:
    bot = eager_room_bot
    people, item = await bound_room(bot)
    marker = bot.tg.mark()
    for n in range(26):  # each its own summary: further apart than the summary window
        await _comment(bot, people["sales"], item.id, f"spaced note {n}")
        await asyncio.sleep(WINDOW + 0.25)
    await _all_sent(bot, timeout=90)
    told = [m for m in bot.tg.bot_messages(GROUP_ID) if m.seq > marker and "spaced note" in (m.text or "")]
    print({"summaries": len(told), "busiest minute": busiest_minute(bot, GROUP_ID)})
    assert len(told) > 20  # more than one minute's worth went out, so the window had to hold some
    assert refused(bot) == [] and busiest_minute(bot, GROUP_ID) <= 20
