"""With REDIS_URL the same bot keeps FSM state and per-chat locks in Redis."""

from __future__ import annotations

import os
import uuid

import pytest
import redis.asyncio as aioredis

from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import running_bot

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def _redis_available() -> bool:
    client = aioredis.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except OSError:
        return False
    finally:
        await client.aclose()


async def test_bot_runs_with_redis_storage(database_url: str) -> None:
    if not await _redis_available():
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    async with running_bot(database_url, admin_ids=[ADMIN_ID], redis_url=REDIS_URL) as bot:
        from aiogram.fsm.storage.redis import RedisStorage

        assert isinstance(bot.app.dp.storage, RedisStorage)
        bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
        [menu] = await bot.say(ADMIN_ID, "/start")
        assert "Main menu" in menu.text
        # State written through the dispatcher's storage is in Redis.
        from aiogram.fsm.storage.base import StorageKey

        key = StorageKey(bot_id=bot.app.bot.id, chat_id=ADMIN_ID, user_id=ADMIN_ID)
        marker = uuid.uuid4().hex
        await bot.app.dp.storage.set_data(key, {"probe": marker})
        client = aioredis.from_url(REDIS_URL)
        try:
            keys = [k.decode() for k in await client.keys(f"fsm:{bot.app.bot.id}:{ADMIN_ID}:{ADMIN_ID}:*")]
            assert keys
            assert marker.encode() in (await client.get(keys[0]))
            await bot.app.dp.storage.set_data(key, {})
            assert not await client.exists(keys[0])
        finally:
            await client.aclose()
        assert bot.bad_requests() == []
