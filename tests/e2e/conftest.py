from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import Harness, running_bot

ADMIN_ID = 1001


@pytest.fixture
async def bot(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    async with running_bot(database_url, admin_ids=[ADMIN_ID]) as harness:
        yield harness
        # The whole suite must cause no Telegram 400 (bad HTML, too long, not modified...),
        # unless a test provokes one on purpose and says so.
        if request.node.get_closest_marker("telegram_errors_expected") is None:
            assert [(e.method, e.description) for e in harness.tg.errors(400)] == []
