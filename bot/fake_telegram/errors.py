"""Bot API error responses as exceptions raised inside method handlers."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error reply: ``{"ok": false, "error_code": code, "description": description, ...}``."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class BadRequest(ApiError):
    def __init__(self, detail: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(400, f"Bad Request: {detail}", parameters)


class Forbidden(ApiError):
    def __init__(self, detail: str) -> None:
        super().__init__(403, f"Forbidden: {detail}")


class TooManyRequests(ApiError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
GET_UPDATES_CONFLICT = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
