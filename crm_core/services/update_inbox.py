"""The update inbox: updates confirmed to Telegram but not yet handled (see UpdateInbox)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.models import UpdateInbox

# Core statements on the table, not the mapped class: an ORM-enabled UPDATE evaluated its WHERE
# against the session's objects each time (4% of an update's CPU in bench.throughput), and nothing
# here is ever loaded as an object.
_T = UpdateInbox.__table__
# Built once, as the ones below: a poll runs both (building a statement and its cache key cost
# about as much CPU as running it).
_KEEP = {
    "postgresql": postgresql.insert(_T).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(_T).on_conflict_do_nothing(),
}
_FORGET = delete(_T).where(
    _T.c.bot_id == bindparam("b"), _T.c.update_id.in_(bindparam("ids", expanding=True))
)


async def keep(session: AsyncSession, bot_id: int, bodies: Sequence[tuple[int, str]]) -> None:
    """Store (update_id, JSON) pairs; one already stored (read again after a crash) is kept as is."""
    if not bodies:
        return
    now = utcnow()
    rows = [{"bot_id": bot_id, "update_id": uid, "body": body, "received_at": now} for uid, body in bodies]
    await session.execute(_KEEP[session.get_bind().dialect.name], rows)


async def forget(session: AsyncSession, bot_id: int, update_ids: Iterable[int]) -> None:
    ids = sorted(set(update_ids))
    for start in range(0, len(ids), 500):  # well under SQLite's bound-parameter limit
        await session.execute(_FORGET, {"b": bot_id, "ids": ids[start : start + 500]})


async def waiting(session: AsyncSession, bot_id: int) -> list[tuple[int, str]]:
    """What a previous process left unhandled, oldest first."""
    rows = await session.execute(
        select(_T.c.update_id, _T.c.body).where(_T.c.bot_id == bot_id).order_by(_T.c.update_id)
    )
    return [(uid, body) for uid, body in rows]


_KEY = (_T.c.bot_id == bindparam("b"), _T.c.update_id == bindparam("u"))
# Built once: one of them runs with nearly every update.
_KEEP_REPLIES = update(_T).where(*_KEY).values(replies=bindparam("r"))
_REPLIES = select(_T.c.replies).where(*_KEY)


async def keep_replies(session: AsyncSession, bot_id: int, update_id: int, replies: str) -> None:
    """What the update's handler showed, to be sent after the commit (handlers.held_replies): with
    its changes, so that a rerun of the update sends it if this process dies first."""
    await session.execute(_KEEP_REPLIES, {"b": bot_id, "u": update_id, "r": replies})


async def kept_replies(session: AsyncSession, bot_id: int, update_id: int) -> str | None:
    return await session.scalar(_REPLIES, {"b": bot_id, "u": update_id})
