"""A repeated screen costs no request: the bot remembers what it drew in each message (issue 15)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, find_button, running_bot
from tests.e2e.people import add_member, admin_user
from tests.e2e.test_conversion import SALES_ID, make_lead


async def _card(bot: Harness) -> object:
    await admin_user(bot)
    sales = await add_member(bot, SALES_ID, "Boris")
    lead_id = await make_lead(bot, sales, title="Racks")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    return card


async def test_a_double_tap_edits_once_and_earns_no_400(bot: Harness) -> None:
    card = await _card(bot)
    label = find_button(card, "Fields")
    edits = len(bot.tg.calls("editMessageText"))
    # The first edit is held, so the second press arrives with the card as its (stale) copy.
    bot.tg.delay_next("editMessageText", 0.3)
    bot.tg.press_button(SALES_ID, card.message_id, button_text=label)
    bot.tg.press_button(SALES_ID, card.message_id, button_text=label)
    await bot.settle()
    assert "Title" in bot.current(card).text
    assert len(bot.tg.calls("editMessageText")) == edits + 1
    assert bot.tg.errors() == []


async def test_repeated_back_presses_edit_once(bot: Harness) -> None:
    """Back and forth: the card, its fields, the card again; each press that changes the screen
    edits, each repeat of the screen already shown does not."""
    card = await _card(bot)
    fields_label = find_button(card, "Fields")
    bot.tg.press_button(SALES_ID, card.message_id, button_text=fields_label)
    await bot.settle()
    back = find_button(bot.current(card), "Back")
    edits = len(bot.tg.calls("editMessageText"))
    bot.tg.delay_next("editMessageText", 0.3)
    for _ in range(3):
        bot.tg.press_button(SALES_ID, card.message_id, button_text=back)
    await bot.settle()
    assert "Racks" in bot.current(card).text
    assert len(bot.tg.calls("editMessageText")) == edits + 1
    assert bot.tg.errors() == []


async def test_the_memory_is_shared_through_redis(database_url: str, request: pytest.FixtureRequest) -> None:
    """With Redis, what was drawn is kept there, where every process of the bot sees it."""
    import redis.asyncio as aioredis

    from tests.e2e.test_redis import REDIS_URL, _redis_available

    if not await _redis_available():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    async with running_bot(database_url, admin_ids=[ADMIN_ID], redis_url=REDIS_URL) as bot:
        card = await _card(bot)
        label = find_button(card, "Fields")
        edits = len(bot.tg.calls("editMessageText"))
        bot.tg.delay_next("editMessageText", 0.3)
        bot.tg.press_button(SALES_ID, card.message_id, button_text=label)
        bot.tg.press_button(SALES_ID, card.message_id, button_text=label)
        await bot.settle()
        assert len(bot.tg.calls("editMessageText")) == edits + 1
        client = aioredis.from_url(REDIS_URL)
        try:
            assert await client.exists(f"screen:{bot.tg.bot_id}:{SALES_ID}:{card.message_id}")
        finally:
            await client.aclose()
    check_clean_run(bot, request.node)
