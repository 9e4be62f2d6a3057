"""Bitrix24's response shapes: `result` (with `total`/`next` on lists), the `time` block, and errors
as {"error", "error_description"} with its codes and HTTP statuses. Descriptions are Bitrix24's own
English strings, meant for the integration's developer and log, not for people (as in Bitrix24)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_core.errors import AccessDenied, ConcurrencyConflict, DomainError, NotFound, RequiredFieldsMissing

PAGE_SIZE = 50


class RestError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.code, "error_description": self.description}


def no_auth() -> RestError:
    return RestError(401, "NO_AUTH_FOUND", "Wrong authorization data")


def invalid_credentials() -> RestError:
    return RestError(401, "INVALID_CREDENTIALS", "Invalid request credentials")


def method_not_found() -> RestError:
    return RestError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def query_limit() -> RestError:
    return RestError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")


def bad_argument(description: str) -> RestError:
    return RestError(400, "", description)


def from_domain(exc: DomainError) -> RestError:
    """Our services' refusals as Bitrix24's method errors."""
    if isinstance(exc, NotFound):
        return RestError(400, "", "Not found")
    if isinstance(exc, AccessDenied):
        return RestError(403, "ACCESS_DENIED", "Access denied.")
    if isinstance(exc, RequiredFieldsMissing):
        return RestError(400, "", "Required fields are not filled: " + ", ".join(exc.fields))
    if isinstance(exc, ConcurrencyConflict):
        return RestError(400, "", "The item was changed by someone else; read it again")
    field = exc.params.get("field")
    detail = f"{exc}" + (f" ({field})" if field else "")
    return RestError(400, "", detail)


@dataclass
class Result:
    result: Any
    total: int | None = None
    next: int | None = None


class Clock:
    """The `time` block: start/finish (Unix seconds), duration, processing, ISO dates."""

    def __init__(self) -> None:
        self.start = time.time()
        self.processing_start = time.perf_counter()

    def block(self) -> dict[str, Any]:
        finish = time.time()
        duration = finish - self.start
        return {
            "start": self.start,
            "finish": finish,
            "duration": duration,
            "processing": time.perf_counter() - self.processing_start,
            "date_start": datetime.fromtimestamp(self.start, UTC).isoformat(timespec="seconds"),
            "date_finish": datetime.fromtimestamp(finish, UTC).isoformat(timespec="seconds"),
            "operating_reset_at": int(finish) + 600,
            "operating": 0,
        }


def list_result(items: list[Any], start: int, total: int | None) -> Result:
    if total is None:  # start=-1: no count, no paging
        return Result(items)
    following = start + PAGE_SIZE
    return Result(items, total, following if following < total else None)
