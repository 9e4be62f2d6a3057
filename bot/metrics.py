"""Prometheus metrics of a bot process (prometheus-client), served at GET /metrics.

Counted as they happen: updates by type and outcome, handler latency, deliveries sent, Telegram's
429s (by who met it: replies or deliveries). Read from the database when scraped: deliveries
queued (due and not yet sent) and the reminder lag (how late the oldest due reminder is).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiogram import BaseMiddleware
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import TelegramObject, Update
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models import ActivityReminder, Notification, NotificationState, ReminderState

REGISTRY = CollectorRegistry()
UPDATES = Counter(
    "crm_updates",
    "Telegram updates by type and outcome (handled, unhandled, duplicate, error)",
    ["type", "outcome"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "crm_handler_seconds",
    "Time spent handling one update, by type",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
DELIVERIES_SENT = Counter(
    "crm_deliveries_sent", "Bot API sending calls that succeeded, by path", ["path"], registry=REGISTRY
)
TOO_MANY_REQUESTS = Counter(
    "crm_telegram_429", "Bot API answers 429 Too Many Requests, by path", ["path"], registry=REGISTRY
)
QUEUED = Gauge(
    "crm_deliveries_queued", "Notifications and reminders due and not yet sent", ["kind"], registry=REGISTRY
)
REMINDER_LAG = Gauge(
    "crm_reminder_lag_seconds", "How long the oldest due, unsent reminder has been due", registry=REGISTRY
)


class UpdateMetrics(BaseMiddleware):
    """Outermost update middleware: times every update and counts its outcome."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        kind = event.event_type if isinstance(event, Update) else type(event).__name__
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await handler(event, data)
            if data.get("update_duplicate"):
                outcome = "duplicate"
            else:
                outcome = "unhandled" if result is UNHANDLED else "handled"
            return result
        finally:
            HANDLER_SECONDS.labels(kind).observe(time.perf_counter() - started)
            UPDATES.labels(kind, outcome).inc()


class SendMetrics(BaseRequestMiddleware):
    """A bot session's request middleware: counts sent messages and 429s on `path`."""

    def __init__(self, path: str) -> None:
        self.path = path

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Any, method: TelegramMethod[Any]
    ) -> Response[Any]:
        try:
            response = await make_request(bot, method)
        except TelegramRetryAfter:
            TOO_MANY_REQUESTS.labels(self.path).inc()
            raise
        if type(method).__name__.startswith(("Send", "Copy", "Forward")):
            DELIVERIES_SENT.labels(self.path).inc()
        return response


async def refresh_from_database(db: Database) -> None:
    now = utcnow()
    async with db.sessionmaker() as s:
        notes = await s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.state.in_((NotificationState.PENDING, NotificationState.CLAIMED)),
                Notification.available_at <= now,
            )
        )
        due = (
            ActivityReminder.state.in_((ReminderState.PENDING, ReminderState.CLAIMED)),
            ActivityReminder.due_at <= now,
        )
        reminders, oldest = (
            await s.execute(select(func.count(), func.min(ActivityReminder.due_at)).where(*due))
        ).one()
    QUEUED.labels("notification").set(notes or 0)
    QUEUED.labels("reminder").set(reminders or 0)
    REMINDER_LAG.set(0 if oldest is None else max((now - _aware(oldest)).total_seconds(), 0))


def _aware(value: datetime | str) -> datetime:
    # SQLite answers an aggregate of a datetime column as text (naive UTC, as stored).
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def render() -> bytes:
    return generate_latest(REGISTRY)
