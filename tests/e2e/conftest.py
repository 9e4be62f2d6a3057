from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Harness, running_bot

ADMIN_ID = 1001


@pytest.fixture
async def bot(database_url: str) -> AsyncIterator[Harness]:
    async with running_bot(database_url, admin_ids=[ADMIN_ID]) as harness:
        yield harness
        # No test may leave Telegram errors behind unless it asserts on them itself.
