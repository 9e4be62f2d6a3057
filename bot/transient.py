"""Failures of what the bot stands on (the database, Redis), as opposed to mistakes in a handler.

An update whose handler met one of these was rolled back whole, so running it again is safe: the
poller retries it with a growing pause instead of confirming it as handled (issue 15: PostgreSQL
restarted, SQLite locked past its busy timeout, Redis down)."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        # a connection that died (server restarted, backend terminated), a locked SQLite file
        return exc.connection_invalidated or isinstance(exc, InterfaceError | OperationalError)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)
