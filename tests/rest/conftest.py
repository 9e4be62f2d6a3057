"""The REST API served on a real port of 127.0.0.1 (aiohttp's AppRunner and TCPSite, with the
routes `handlers.http.setup_routes` gives), people and tokens made through crm_core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fast_bitrix24 import Bitrix

from crm_core.db import Database
from crm_core.models.users import Role, User
from crm_core.services import rest_tokens
from handlers.context import HandlerOptions
from handlers.http import setup_routes
from tests.core.factories import make_department, make_user


@dataclass
class RestServer:
    db: Database
    base: str  # http://127.0.0.1:<port>
    users: dict[str, User] = field(default_factory=dict)
    hooks: dict[str, str] = field(default_factory=dict)  # person -> webhook URL (ends with /)
    http: aiohttp.ClientSession | None = None

    async def call(
        self, who: str, method: str, *, json: Any = None, data: Any = None, query: str = ""
    ) -> Any:
        """One plain HTTP call: (status, body)."""
        url = self.hooks[who] + method + (f"?{query}" if query else "")
        assert self.http is not None
        if json is None and data is None:
            async with self.http.get(url) as resp:
                return resp.status, await resp.json()
        async with self.http.post(url, json=json, data=data) as resp:
            return resp.status, await resp.json()


async def start_server(db: Database, options: HandlerOptions) -> tuple[web.AppRunner, str]:
    app = web.Application()
    setup_routes(app, db, options)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


# fast_bitrix24 logs every request and response at DEBUG: far too much for a test's report.
logging.getLogger("fast_bitrix24").setLevel(logging.INFO)

FAST = HandlerOptions(rest_rate_per_second=1000.0, rest_burst=100000)


@pytest.fixture
def rest_options() -> HandlerOptions:
    return FAST


@pytest.fixture
async def rest(db: Database, rest_options: HandlerOptions) -> AsyncIterator[RestServer]:
    """Anna (admin), Boris and Vera (salespeople of one department), Gleb (its head); a token each."""
    async with db.unit_of_work() as session:
        dept = await make_department(session)
        people = {
            "anna": await make_user(session, Role.ADMIN, name="Anna Admin"),
            "boris": await make_user(session, Role.SALESPERSON, department=dept, name="Boris Sales"),
            "vera": await make_user(session, Role.SALESPERSON, department=dept, name="Vera Sales"),
            "gleb": await make_user(session, Role.HEAD, department=dept, name="Gleb Head"),
        }
        secrets = {}
        for who, user in people.items():
            issued = await rest_tokens.create_token(session, people["anna"], user.id)
            secrets[who] = issued.secret
    runner, base = await start_server(db, rest_options)
    server = RestServer(db, base, people)
    server.hooks = {who: f"{base}/rest/{people[who].id}/{secret}/" for who, secret in secrets.items()}
    server.http = aiohttp.ClientSession()
    try:
        yield server
    finally:
        await server.http.close()
        await runner.cleanup()


def bitrix(webhook: str) -> Any:
    """fast_bitrix24's synchronous client, unchanged; only its client-side pacing is opened up for
    a local server (it would otherwise sleep to stay under Bitrix24's cloud limits)."""
    return Bitrix(webhook, verbose=False, request_pool_size=1000, requests_per_second=1000.0)


async def in_thread(fn: Callable[[], Any]) -> Any:
    """Run a synchronous client in a thread of its own (its own event loop), as a script would."""
    return await asyncio.to_thread(fn)
