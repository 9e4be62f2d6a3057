"""The in-process wake-up signal. A transaction that commits a new or moved reminder or
notification wakes this process's delivery engines (SQLAlchemy session events): what they were
sleeping until may be too late now. Other processes find it at their next poll. The engines' own
writes (claims, leases, outcomes) are `quiet`: they never make anything due sooner, and waking on
them would turn every sent message into a claim round of its own."""

from __future__ import annotations

import itertools
import weakref
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_core.models.activities import ActivityReminder
from crm_core.models.notifications import Notification


class Wakeable(Protocol):
    def wake(self) -> None: ...


_engines: weakref.WeakSet[Any] = weakref.WeakSet()
_WAKE_FLAG = "_delivery_wake"
_QUIET_FLAG = "_delivery_quiet"
_WATCHED = (ActivityReminder, Notification)


def register(engine: Wakeable) -> None:
    _engines.add(engine)


def unregister(engine: Wakeable) -> None:
    _engines.discard(engine)


def quiet(session: Any) -> None:
    """This session's commit wakes nobody (an engine's own bookkeeping)."""
    session.info[_QUIET_FLAG] = True


def wake_all() -> None:
    """Something became due sooner than the engines thought: make them look again."""
    for engine in list(_engines):
        engine.wake()


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    for obj in itertools.chain(session.new, session.dirty):
        if isinstance(obj, _WATCHED):
            session.info[_WAKE_FLAG] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: Any) -> None:
    # Core-style INSERT/UPDATE through the session (notify() with a dedupe key uses one).
    if (state.is_insert or state.is_update) and state.bind_mapper is not None:
        if state.bind_mapper.class_ in _WATCHED:
            state.session.info[_WAKE_FLAG] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_WAKE_FLAG, False) and not session.info.get(_QUIET_FLAG):
        wake_all()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_WAKE_FLAG, None)
