"""Shared by the deal-room tests: a bot whose rooms summarise within a short window, a team, a deal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from crm_core.models import Deal, Role, User
from crm_core.models.rooms import Room
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import items as items_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, find_button, running_bot
from tests.e2e.people import add_member, admin_user

SALES_ID = 5101  # the deal's responsible
OBSERVER_ID = 5102
OUTSIDER_ID = 5103  # a salesperson who may not see the deal
HEAD_ID = 5104
STRANGER_ID = 5105  # in the group, never let into the CRM
GROUP_ID = -4001
WINDOW = 0.3


@pytest.fixture
async def room_bot(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    async with running_bot(database_url, admin_ids=[ADMIN_ID], room_summary_seconds=WINDOW) as harness:
        yield harness
    check_clean_run(harness, request.node)


async def team(bot: Harness, lang: str = "en") -> dict[str, User]:
    bot.tg.set_rate_limits(False)  # people do not type several messages a second
    people = {
        "admin": await admin_user(bot, lang),
        "sales": await add_member(bot, SALES_ID, "Sam", lang=lang, department="East"),
        "observer": await add_member(bot, OBSERVER_ID, "Olga", lang=lang),
        "outsider": await add_member(bot, OUTSIDER_ID, "Oscar", lang=lang),
        "head": await add_member(bot, HEAD_ID, "Helen", lang=lang, role=Role.HEAD, department="East"),
    }
    bot.tg.add_user(STRANGER_ID, "Stranger", language_code=lang)
    bot.tg.set_rate_limits(True)
    return people


async def deal(bot: Harness, owner: User, title: str, observers: list[int]) -> Deal:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        item = await items_service.create_deal(s, actor, title=title, observer_ids=observers)
        return item


async def room_of(bot: Harness, deal_id: int) -> Room | None:
    async with bot.app.db.sessionmaker() as s:
        return await s.scalar(select(Room).where(Room.owner_id == deal_id, Room.owner_type == "deal"))


async def events(bot: Harness, deal_id: int, kind: EventType) -> list[TimelineEvent]:
    async with bot.app.db.sessionmaker() as s:
        rows = await s.scalars(
            select(TimelineEvent).where(
                TimelineEvent.owner_id == deal_id,
                TimelineEvent.owner_type == "deal",
                TimelineEvent.event_type == kind,
            )
        )
        return list(rows)


async def open_offer(bot: Harness, user_id: int, ref: str, discuss: str, more: str) -> Any:
    """The person opens the deal's card, "More", "Discuss in a group": the offer screen."""
    [card] = await bot.say(user_id, ref)
    await bot.press(user_id, card, more)
    await bot.press(user_id, card, discuss)
    return bot.current(card)


def startgroup_token(offer: Any) -> str:
    urls = [url for row in offer.inline_keyboard for (_t, _d, url) in row if url]
    assert urls, offer.inline_keyboard
    query = parse_qs(urlparse(urls[0]).query)
    assert "admin" in query
    return query["startgroup"][0]


async def wait_in_chat(
    bot: Harness, chat_id: int, marker: int, predicate: Any, timeout: float = 10
) -> list[Any]:
    def found() -> list[Any]:
        return [m for m in bot.tg.bot_messages(chat_id) if m.seq > marker and predicate(m)]

    await bot.tg.wait_for(found, timeout)
    return found()


async def bound_room(bot: Harness, token_out: list[str] | None = None) -> tuple[dict[str, User], Deal]:
    """The team, and Sam's deal "ACME rollout" (Olga observing) bound to GROUP_ID by a startgroup link."""
    people = await team(bot)
    item = await deal(bot, people["sales"], "ACME rollout", [people["observer"].id])
    offer = await open_offer(bot, SALES_ID, item.ref, "Discuss in a group", "More")
    token = startgroup_token(offer)
    assert token.startswith("room_") and len(token) > 20  # a token, never the bare item id
    marker = bot.tg.mark()
    bot.tg.start_group(SALES_ID, token, GROUP_ID, "ACME team")
    await bot.settle()
    cards = [m for m in bot.tg.bot_messages(GROUP_ID) if m.seq > marker]
    assert cards and item.ref in (cards[0].text or "")
    if token_out is not None:
        token_out.append(token)
    return people, item


__all__ = ["find_button"]
