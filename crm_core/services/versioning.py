"""Optimistic concurrency for items: the version a user saw, and the flush that detects a row
changed meanwhile. Its own module so that `items` and `pipelines` both use it without importing
each other."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from crm_core.errors import ConcurrencyConflict


async def flush_or_conflict(session: AsyncSession, item: Any = None) -> None:
    """Flush; a row changed by someone else since it was loaded becomes ConcurrencyConflict."""
    ref = item.ref if item is not None else None  # read now: a failed flush expires the object
    try:
        await session.flush()
    except StaleDataError as exc:
        raise ConcurrencyConflict(ref=ref) from exc


def check_version(item: Any, expected_version: int | None) -> None:
    """The version the user saw (e.g. carried in a button) must still be the current one."""
    if expected_version is not None and item.version != expected_version:
        raise ConcurrencyConflict(ref=item.ref, expected=expected_version, actual=item.version)
