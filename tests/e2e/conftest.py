from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Harness, check_clean_run, running_bot

ADMIN_ID = 1001


@pytest.fixture
async def bot(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    async with running_bot(database_url, admin_ids=[ADMIN_ID]) as harness:
        yield harness
    # Checked after shutdown, so that what the bot logs while stopping counts too: no handler
    # raised, no error logged, no Telegram 4xx (bad HTML, not modified, forbidden...), unless a
    # test provokes one on purpose and says why.
    check_clean_run(harness, request.node)
