"""A token over its request rate gets 503 QUERY_LIMIT_EXCEEDED (Bitrix24's leaky bucket, here 5
requests then 0.01 a second); other tokens are unaffected."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm_core.models.items import Lead
from handlers.context import HandlerOptions


@pytest.fixture
def rest_options() -> HandlerOptions:
    return HandlerOptions(rest_rate_per_second=0.01, rest_burst=5)


async def test_a_token_over_its_rate_gets_query_limit_exceeded(rest) -> None:
    statuses = [(await rest.call("boris", "profile"))[0] for _ in range(5)]
    assert statuses == [200] * 5
    status, body = await rest.call("boris", "crm.lead.add", json={"fields": {"TITLE": "one too many"}})
    assert (status, body) == (
        503,
        {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"},
    )
    # a batch is one request: it too is refused, and nothing was created
    status, _ = await rest.call("boris", "batch", json={"cmd": {"a": "crm.lead.add?fields[TITLE]=x"}})
    assert status == 503
    async with rest.db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(Lead)) == 0
    assert (await rest.call("vera", "profile"))[0] == 200  # Vera's token has its own bucket
