"""The shared send limiter against a real Redis: two limiters (two processes) draw on the same
buckets, so together they keep the bot-wide rate and each chat's limit, and a 429 met by one
holds the chat for the other."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import AsyncIterator

import pytest

from bot.shared_limits import SendLimits, SharedSendLimiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BOT_ID = 987_654


@pytest.fixture
async def redis() -> AsyncIterator[object]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    keys = [k async for k in client.scan_iter(f"sendrate:{BOT_ID}:*")]
    if keys:
        await client.delete(*keys)
    yield client
    await client.aclose()


async def _slots(calls: list[tuple[SharedSendLimiter, int]]) -> list[float]:
    """When each message may go, in seconds after the first reservation."""
    start = time.monotonic()
    slots = []
    for limiter, chat in calls:
        wait = await limiter.reserve(chat)  # waits out the chat's turn itself
        slots.append(time.monotonic() - start + wait)
    return slots


async def test_two_processes_share_the_bot_wide_rate(redis: object) -> None:
    limits = SendLimits(global_rate=10, global_burst=10)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    slots = await _slots([(a if i % 2 else b, 1000 + i) for i in range(30)])  # 30 chats, 1 message each
    assert slots[:10] == pytest.approx([0.0] * 10, abs=0.1)  # the burst
    # Then one slot per 1/10 s for both together: the 30th goes about 2 s after the first.
    assert slots[29] == pytest.approx(2.0, abs=0.1)
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots[10:])]
    assert gaps == pytest.approx([0.1] * 19, abs=0.02)


async def test_one_chat_is_paced_across_processes_and_a_429_holds_it(redis: object) -> None:
    a, b = SharedSendLimiter(redis, BOT_ID), SharedSendLimiter(redis, BOT_ID)
    slots = await _slots([(a if i % 2 else b, 42) for i in range(5)])
    assert slots == pytest.approx([0, 0, 1, 2, 3], abs=0.1)  # a private chat: a burst of 2, then 1/s
    await a.hold(-100500, 5)  # process a met a 429 in a group
    assert await b.reserve_chat(-100500) == pytest.approx(5.0, abs=0.2)


async def test_messages_held_back_by_their_chats_do_not_go_out_together(redis: object) -> None:
    """A bot-wide slot is taken when the chat's turn comes, not when the message was queued: six
    chats' third messages, all due a second later, still go out 1/10 s apart."""
    import asyncio

    limits = SendLimits(global_rate=10, global_burst=1)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    start = time.monotonic()

    async def send(limiter: SharedSendLimiter, chat: int) -> float:
        wait = await limiter.reserve(chat)
        return time.monotonic() - start + wait

    chats = [2000 + i for i in range(6)]
    slots = await asyncio.gather(*(send(a if n % 2 else b, chat) for n in range(3) for chat in chats))
    slots = sorted(slots)
    gaps = [later - earlier for earlier, later in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.1, abs=0.03), gaps  # never two in one tenth of a second


async def test_web_form_submissions_per_address_are_counted_across_processes(redis: object) -> None:
    from bot.shared_limits import SharedAddressLimiter

    prefix = f"sendrate:{BOT_ID}:form"  # cleaned with the others by the fixture
    a, b = SharedAddressLimiter(redis, 3, prefix=prefix), SharedAddressLimiter(redis, 3, prefix=prefix)
    assert [await a.acquire("10.0.0.1"), await b.acquire("10.0.0.1"), await a.acquire("10.0.0.1")] == [
        None
    ] * 3
    wait = await b.acquire("10.0.0.1")
    assert wait is not None and 59 < wait <= 60
    assert await b.acquire("10.0.0.2") is None  # another address has its own count


async def test_rest_tokens_share_one_leaky_bucket_across_processes(redis: object) -> None:
    from bot.shared_limits import SharedTokenLimiter

    prefix = f"restrate:{BOT_ID}"
    await redis.delete(f"{prefix}:7", f"{prefix}:8")  # type: ignore[attr-defined]
    one, two = (SharedTokenLimiter(redis, 2.0, 4, prefix=prefix) for _ in range(2))
    # The burst of 4 is spent by both processes together, not 4 each.
    assert [await limiter.allow(7) for limiter in (one, two, one, two, one, two)] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    assert await two.allow(8) is True  # another token has a bucket of its own
    time.sleep(0.6)  # drains 2/s: one more request fits
    assert await one.allow(7) is True
    assert await two.allow(7) is False
