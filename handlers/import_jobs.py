"""Imports running in the background of this process: their cancel flags, so that the owner's
Cancel button and the bot's shutdown stop them between two rows (each row is all or nothing)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


@dataclass
class RunningImport:
    id: int
    user_id: int
    cancelled: bool = False
    task: asyncio.Task[Any] | None = field(default=None, repr=False)


RUNNING: dict[int, RunningImport] = {}


def start(user_id: int, work: Coroutine[Any, Any, Any]) -> RunningImport:
    job = RunningImport(next(_ids), user_id)
    RUNNING[job.id] = job
    job.task = asyncio.create_task(work)
    job.task.add_done_callback(lambda _t: RUNNING.pop(job.id, None))
    return job


def running_for(user_id: int) -> RunningImport | None:
    return next((j for j in RUNNING.values() if j.user_id == user_id), None)


async def stop_all(timeout: float = 10.0) -> None:
    """Ask every import to stop after its current row and wait for them to report."""
    jobs = list(RUNNING.values())
    for job in jobs:
        job.cancelled = True
    tasks = [j.task for j in jobs if j.task is not None]
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
