"""Imports and exports running in the background of this process: their cancel flags, so that the
owner's Cancel button and the bot's shutdown stop them between two chunks (each row is all or
nothing), and one of each kind per person at a time."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)
IMPORT = "import"
EXPORT = "export"


@dataclass
class RunningImport:
    id: int
    user_id: int
    kind: str = IMPORT
    cancelled: bool = False
    task: asyncio.Task[Any] | None = field(default=None, repr=False)


RUNNING: dict[int, RunningImport] = {}


def start(user_id: int, work: Coroutine[Any, Any, Any], kind: str = IMPORT) -> RunningImport:
    job = RunningImport(next(_ids), user_id, kind)
    RUNNING[job.id] = job
    job.task = asyncio.create_task(work)
    job.task.add_done_callback(lambda _t: RUNNING.pop(job.id, None))
    return job


def running_for(user_id: int, kind: str = IMPORT) -> RunningImport | None:
    return next((j for j in RUNNING.values() if j.user_id == user_id and j.kind == kind), None)


async def stop_all(timeout: float = 10.0) -> None:
    """Ask every import to stop after its current row and wait for them to report."""
    jobs = list(RUNNING.values())
    for job in jobs:
        job.cancelled = True
    tasks = [j.task for j in jobs if j.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
