"""The update inbox: a polled update is stored and confirmed to Telegram at once, while its handler
still runs, so later polls carry only new updates; once handled it leaves the inbox. And what
waits for the commit: the answer to a button press."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from sqlalchemy import select, text

from crm_core.db import Database
from crm_core.models import UpdateInbox
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import admin_user
from tests.e2e.test_faults import IN_PROGRESS, _lead, _stage_name


async def _inbox(bot: Harness) -> list[int]:
    async with bot.app.db.sessionmaker() as s:
        return list(await s.scalars(select(UpdateInbox.update_id)))


def _times_handed_out(bot: Harness, update_id: int) -> int:
    return sum(
        any(u["update_id"] == update_id for u in (r.result or [])) for r in bot.tg.calls("getUpdates") if r.ok
    )


async def test_an_update_in_flight_is_confirmed_once_and_kept_until_handled(bot: Harness) -> None:
    await admin_user(bot)
    admin = ADMIN_ID
    bot.tg.delay_next("sendMessage", 1.5)  # the reply hangs: the handler stays in flight
    update = bot.tg.send_text(admin, "/help")
    uid = update["update_id"]
    await bot.tg.wait_for(lambda: _times_handed_out(bot, uid) == 1, timeout=5)
    await bot.tg.wait_for(lambda: bot.tg.pending_updates_count == 0, timeout=5)  # confirmed...
    assert await _inbox(bot) == [uid]  # ...because it is stored
    later = bot.tg.send_text(admin, "/menu")  # the same chat: it waits for /help, stored meanwhile
    await bot.tg.wait_for(lambda: _times_handed_out(bot, later["update_id"]) == 1, timeout=5)
    await asyncio.sleep(0.5)
    assert _times_handed_out(bot, uid) == 1  # polls while it ran did not bring it again
    await bot.settle()
    texts = [m.text or "" for m in bot.tg.bot_messages(admin)]
    assert any("Commands" in t for t in texts) and texts[-1].startswith("Main menu"), texts
    for _ in range(50):  # forgotten by the next poll or within a second
        if await _inbox(bot) == []:
            break
        await asyncio.sleep(0.1)
    assert await _inbox(bot) == []


async def test_a_press_is_answered_once_its_change_is_committed(bot: Harness) -> None:
    """The answer to a press (the toast) goes out after the commit: the move is stored while
    Telegram is still slow to take the answer, and the answer comes all the same."""
    lead_id = await _lead(bot)
    [card] = await bot.say(ADMIN_ID, f"L-{lead_id}")
    await bot.press(ADMIN_ID, card, "Stage")
    screen = bot.current(card)
    data = next(d for row in screen.inline_keyboard for (label, d, _u) in row if label == IN_PROGRESS)
    bot.tg.delay_next("answerCallbackQuery", 3.0)
    edits = len(bot.tg.calls("editMessageText"))
    press = bot.tg.press_button(ADMIN_ID, card.message_id, data)
    await bot.tg.wait_for(lambda: len(bot.tg.calls("editMessageText")) > edits, timeout=5)
    for _ in range(20):  # 2 s, well before the answer's 3 s are up
        if await _stage_name(bot, lead_id) == IN_PROGRESS:
            break
        await asyncio.sleep(0.1)
    assert await _stage_name(bot, lead_id) == IN_PROGRESS
    assert bot.tg.callback_answers[press["callback_query"]["id"]] is None  # not answered yet
    await bot.settle(timeout=10)
    assert bot.tg.callback_answers[press["callback_query"]["id"]] is not None


async def test_a_stop_during_the_sweep_lets_it_finish(bot: Harness) -> None:
    """Stopped while the sweeper is removing finished updates from the inbox (held up here by
    another process's lock), the bot lets that unit of work finish instead of cancelling it in the
    middle: the finished update leaves the inbox and nothing is logged as an error."""
    await admin_user(bot)
    other = Database(bot.app.db.url)  # as another process would
    held = AsyncExitStack()  # the other process's transaction, holding the lock
    try:
        for _ in range(5):
            await bot.say(ADMIN_ID, "/help")  # finished, waiting for the sweeper
            session = await held.enter_async_context(other.unit_of_work())
            # SQLite: the transaction begins (IMMEDIATE, with the write lock) at its first statement.
            lock = "SELECT 1" if other.is_sqlite else "LOCK TABLE update_inbox IN EXCLUSIVE MODE"
            await session.execute(text(lock))
            if list(await session.scalars(select(UpdateInbox.update_id))):
                break  # the lock came before the sweeper
            await held.aclose()  # the sweeper came first (it runs every second): once more
        else:
            raise AssertionError("the sweeper always came before the lock")
        async with held:
            poller = bot.app.poller
            for _ in range(30):  # the sweeper takes the finished updates within a second
                if not poller._handled:
                    break
                await asyncio.sleep(0.1)
            assert poller._handled == []
            await asyncio.sleep(0.2)  # and waits for the lock
            bot.stop_mark = len(bot.tg.requests)  # the long poll it abandons ends in a 409
            bot.app.stop()
            await asyncio.sleep(0.5)
            assert not bot.task.done()  # the sweep is still waiting, and is waited for
        await asyncio.wait_for(bot.task, timeout=10)
        async with other.unit_of_work() as session:
            assert list(await session.scalars(select(UpdateInbox.update_id))) == []
    finally:
        await held.aclose()
        await other.dispose()
