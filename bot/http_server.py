"""The bot process's one HTTP server (aiohttp, as aiogram's examples/web_app does): the webhook
Telegram posts updates to, GET /healthz, GET /metrics, and the HTTP entrances of handlers.http
(web forms, ...). On when HTTP_PORT is set.

Webhook: an update is answered 200 only once it was handled and its transaction committed (the
processed_updates row goes in the same transaction), so a crash, a timeout or a database outage
makes Telegram post it again, and a repeat is skipped by that row. A wrong or missing
X-Telegram-Bot-Api-Secret-Token is refused with 401 (compared in constant time).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from bot import metrics
from crm_core.db import Database
from crm_core.services.forms import SubmissionLimiter
from handlers.context import HandlerOptions
from handlers.http import setup_routes
from handlers.http.forms import LIMITER_KEY
from handlers.http.rest.limiter import LIMITER_KEY as REST_LIMITER_KEY
from handlers.http.rest.limiter import RequestLimiter

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHECK_TIMEOUT = 3.0  # seconds a health check may take before it counts as down


@dataclass
class Webhook:
    """Where and how Telegram posts: the URL's path on this server, and the secret it sends."""

    path: str
    secret: str
    dp: Dispatcher
    bot: Bot
    workflow_data: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthChecks:
    db: Database
    redis_url: str | None = None
    scheduler_alive: Callable[[], bool] = lambda: True
    extra: dict[str, Callable[[], Awaitable[bool]]] = field(default_factory=dict)


class HttpServer:
    def __init__(
        self,
        db: Database,
        options: HandlerOptions,
        *,
        host: str,
        port: int,
        health: HealthChecks,
        webhook: Webhook | None = None,
        shutdown_timeout: float = 30.0,
        shared_limiter: SubmissionLimiter | None = None,
        rest_limiter: RequestLimiter | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.health = health
        self.webhook = webhook
        self.shutdown_timeout = shutdown_timeout
        self.app = web.Application()
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics)
        if webhook is not None:
            self.app.router.add_post(webhook.path, self._webhook)
        if shared_limiter is not None:
            self.app[LIMITER_KEY] = shared_limiter  # web forms counted across processes
        if rest_limiter is not None:
            self.app[REST_LIMITER_KEY] = rest_limiter  # REST tokens' buckets across processes
        setup_routes(self.app, db, options)
        self._runner: web.AppRunner | None = None
        self._redis: Any = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        if server is not None and getattr(server, "sockets", None):
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("HTTP server on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting; requests in flight (webhook updates being handled) get to finish."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- webhook ----------------------------------------------------------------------------------

    async def _webhook(self, request: web.Request) -> web.Response:
        hook = self.webhook
        assert hook is not None
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), hook.secret.encode()):
            log.warning("webhook request with a wrong secret token from %s refused", request.remote)
            return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            # orjson, as for polled updates: strict (a lone surrogate is no JSON) and quicker.
            update = Update.model_validate(orjson.loads(await request.read()), context={"bot": hook.bot})
        except ValueError as exc:  # pydantic's ValidationError and orjson's JSONDecodeError too
            log.warning("webhook body is not an update: %s", exc)
            return web.json_response({"ok": False, "error": "bad_update"}, status=400)
        try:
            await hook.dp.feed_update(hook.bot, update, **hook.workflow_data)
        except (OperationalError, DBAPIError, ConnectionError, OSError) as exc:
            # Not recorded: Telegram posts it again later, when the database is back.
            log.warning("update %s not handled now (%s); Telegram will post it again", update.update_id, exc)
            return web.json_response({"ok": False, "error": "unavailable"}, status=503)
        except Exception:  # noqa: BLE001 - as in polling, one bad update must not come back forever
            log.exception("update %s failed", update.update_id)
        return web.Response(status=200)

    # --- health and metrics -----------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        checks: dict[str, Callable[[], Awaitable[bool]]] = {"database": self._db_ok}
        if self.health.redis_url:
            checks["redis"] = self._redis_ok
        checks.update(self.health.extra)
        results = await asyncio.gather(*(self._run_check(check) for check in checks.values()))
        status = {name: "ok" if ok else "down" for name, ok in zip(checks, results, strict=True)}
        status["process"] = "ok"
        status["scheduler"] = "ok" if self.health.scheduler_alive() else "down"
        down = sorted(name for name, state in status.items() if state != "ok")
        body = {"status": "down" if down else "ok", "checks": status, "down": down}
        return web.json_response(body, status=503 if down else 200)

    @staticmethod
    async def _run_check(check: Callable[[], Awaitable[bool]]) -> bool:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 - any failure means down
            return False

    async def _db_ok(self) -> bool:
        async with self.health.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def _redis_ok(self) -> bool:
        if self._redis is None:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(
                self.health.redis_url, socket_connect_timeout=CHECK_TIMEOUT, socket_timeout=CHECK_TIMEOUT
            )
        return bool(await self._redis.ping())

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(metrics.refresh_from_database(self.health.db), CHECK_TIMEOUT)
        except Exception:  # noqa: BLE001 - the counters are still worth serving
            log.warning("metrics: could not read the delivery queue", exc_info=True)
        return web.Response(body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})
