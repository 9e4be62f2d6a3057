"""The shared send limiter against a real Redis: two limiters (two processes) draw on the same
buckets, so together they keep the bot-wide rate and each chat's limit, and a 429 met by one
holds the chat for the other."""

from __future__ import annotations

import asyncio
import os
import random
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


async def _send(limiter: SharedSendLimiter, chat: int, start: float, latency: float = 0.0) -> float:
    """One message through the limiter: admitted, on its way for `latency` s, answered. Returns
    when it arrived, in seconds after `start` (half-way through its flight)."""
    member = await limiter.admit(chat)
    await asyncio.sleep(latency / 2)
    arrived = time.monotonic() - start
    await asyncio.sleep(latency / 2)
    await limiter.done(chat, member)
    return arrived


def _busiest(times: list[float], window: float) -> int:
    """The most messages in any `window` seconds (sliding, as Telegram and the fake count)."""
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


async def test_two_processes_share_the_bot_wide_rate(redis: object) -> None:
    limits = SendLimits(global_limit=10)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    start = time.monotonic()
    # 30 chats, one message each, both processes at once.
    arrived = await asyncio.gather(*(_send(a if i % 2 else b, 1000 + i, start) for i in range(30)))
    assert _busiest(arrived, 1.0) == 10
    # Ten at once, then ten a second later, then ten more: all within about two seconds.
    assert sorted(arrived)[9] < 0.5
    assert 2.0 <= max(arrived) < 3.0  # (a loaded machine answers later)


async def test_a_message_in_flight_keeps_its_turn_until_it_is_back(redis: object) -> None:
    """What pacing by admission alone gets wrong: a message admitted long ago that has not arrived
    yet may arrive together with the next second's. It counts until its answer came back, and
    for a whole window after that."""
    limits = SendLimits(global_limit=3)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    members = [await a.admit(1100 + i) for i in range(3)]  # three sends that hang
    wait, by_chat = await b.try_admit(1200, "probe")
    assert not by_chat and wait == pytest.approx(1.0, abs=0.05)
    await asyncio.sleep(1.1)  # a second later: still on their way, still counted
    wait, _ = await b.try_admit(1200, "probe")
    assert wait == pytest.approx(1.0, abs=0.05)
    await a.done(1100, members[0])  # the first one's answer came back now
    wait, _ = await b.try_admit(1200, "probe")
    assert wait == pytest.approx(1.0, abs=0.05)  # it may have arrived just now
    await asyncio.sleep(wait + 0.01)
    assert await b.try_admit(1200, "probe") == (0.0, False)


async def test_late_arrivals_never_crowd_one_second(redis: object) -> None:
    """Messages that take long and uneven times to arrive (a loaded machine) still arrive at most
    `global_limit` in any second, and the rate stays close to the limit."""
    limits = SendLimits(global_limit=10)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    rng = random.Random(7)
    start = time.monotonic()
    arrived = await asyncio.gather(
        *(
            _send(a if i % 2 else b, 1300 + i, start, latency=rng.choice([0.0, 0.0, 0.02, 0.3]))
            for i in range(40)
        )
    )
    assert _busiest(arrived, 1.0) <= 10
    assert max(arrived) < 6.0  # 40 at 10/s: about 4 s even with the slow ones


async def test_one_chat_is_paced_across_processes_and_a_429_holds_it(redis: object) -> None:
    a, b = SharedSendLimiter(redis, BOT_ID), SharedSendLimiter(redis, BOT_ID)
    start = time.monotonic()
    arrived = [await _send(a if i % 2 else b, 42, start) for i in range(5)]
    # A private chat: Telegram's burst of three, then three in any three seconds.
    assert arrived == pytest.approx([0, 0, 0, 3, 3], abs=0.15)
    await a.hold(-100500, 5)  # process a met a 429 in a group
    wait, by_chat = await b.try_admit(-100500, "probe")
    assert by_chat and wait == pytest.approx(5.0, abs=0.2)


async def test_messages_held_back_by_their_chats_take_no_bot_wide_turn(redis: object) -> None:
    """Six chats' messages, three each, all at once with a bot-wide limit of 10 a second: each
    chat's fourth to sixth wait for the chat, and taking no bot-wide turn meanwhile, they never
    crowd one second together with the others."""
    limits = SendLimits(global_limit=10, private_limit=2, private_window=1.0)
    a, b = SharedSendLimiter(redis, BOT_ID, limits), SharedSendLimiter(redis, BOT_ID, limits)
    start = time.monotonic()
    chats = [2000 + i for i in range(6)]
    arrived = await asyncio.gather(
        *(_send(a if n % 2 else b, chat, start) for n in range(6) for chat in chats)
    )
    assert _busiest(arrived, 1.0) <= 10
    for chat_n in range(6):
        mine = [t for i, t in enumerate(arrived) if i % 6 == chat_n]
        assert _busiest(mine, 1.0) <= 2
    assert max(arrived) < 5.0  # 36 messages at 10/s


async def test_a_turn_further_than_max_wait_is_reported_as_a_429(redis: object) -> None:
    limiter = SharedSendLimiter(redis, BOT_ID, SendLimits(max_wait=1.0))
    await limiter.hold(77, 5)
    with pytest.raises(TimeoutError):
        await limiter.admit(77)


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
