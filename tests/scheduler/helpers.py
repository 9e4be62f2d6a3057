"""An in-memory MessageSender with scripted answers, a settable clock, and a running engine."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core.db import Database
from handlers.notify_render import NotifyRenderer
from scheduler.delivery import DeliveryConfig, DeliveryEngine
from scheduler.ports import DeliveryResult, DeliveryStatus, ItemChats


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Sent:
    chat_id: int
    html: str
    buttons: Any
    at: float
    wall: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeSender:
    sent: list[Sent] = field(default_factory=list)
    attempts: list[tuple[int, float]] = field(default_factory=list)
    script: dict[int, deque[DeliveryResult]] = field(default_factory=lambda: defaultdict(deque))
    hold: dict[int, asyncio.Event] = field(default_factory=dict)
    next_id: int = 1

    async def send(self, chat_id: int, html: str, *, buttons: Any = None) -> DeliveryResult:
        self.attempts.append((chat_id, time.monotonic()))
        gate = self.hold.get(chat_id)
        if gate is not None:
            await gate.wait()
        if self.script[chat_id]:
            result = self.script[chat_id].popleft()
            if result.status is not DeliveryStatus.SENT:
                return result
        self.sent.append(Sent(chat_id, html, buttons, time.monotonic()))
        self.next_id += 1
        return DeliveryResult(DeliveryStatus.SENT, message_id=self.next_id)

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; sent so far: {[(s.chat_id, s.html[:60]) for s in self.sent]}"
                )
            await asyncio.sleep(0.01)


FAST = dict(global_rate=1000.0, private_rate=100.0, private_burst=10.0, group_rate=100.0)


@asynccontextmanager
async def engine_running(
    db: Database,
    sender: FakeSender,
    clock: Callable[[], datetime],
    *,
    item_chats: ItemChats | None = None,
    worker_id: str | None = None,
    **config: Any,
) -> AsyncIterator[DeliveryEngine]:
    cfg = {"lease_seconds": 30.0, "poll_seconds": 0.2, **FAST, **config}
    engine = DeliveryEngine(
        db,
        sender,
        NotifyRenderer(),
        config=DeliveryConfig(**cfg),
        clock=clock,
        item_chats=item_chats,
        worker_id=worker_id,
    )
    engine.start()
    try:
        yield engine
    finally:
        await engine.stop(timeout=2)
