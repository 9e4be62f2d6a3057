"""Domain errors. Services raise them; the edges (handlers, scheduler) translate them for people.

Each error carries a stable `code` the presentation layer maps to a localized text, and `params`
for that text, so crm_core never formats user-facing language itself.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str = "", **params: Any) -> None:
        super().__init__(message or self.code)
        self.params = params


class NotFound(DomainError):
    code = "not_found"


class AccessDenied(DomainError):
    code = "access_denied"


class NotRegistered(AccessDenied):
    """A Telegram user who was never let in (no invite, not an admin)."""

    code = "not_registered"


class UserDeactivated(AccessDenied):
    code = "user_deactivated"


class ValidationFailed(DomainError):
    code = "validation_failed"


class InviteInvalid(DomainError):
    """Unknown, used or expired invite code; `reason` says which."""

    code = "invite_invalid"


class ConcurrencyConflict(DomainError):
    """Someone else changed the item first; reload and try again."""

    code = "conflict"


class RequiredFieldsMissing(ValidationFailed):
    code = "required_fields_missing"

    def __init__(self, fields: list[str], **params: Any) -> None:
        super().__init__(f"missing required fields: {', '.join(fields)}", fields=fields, **params)
        self.fields = fields


class LimitExceeded(DomainError):
    code = "limit_exceeded"


class PipelineInvariantViolated(ValidationFailed):
    """A pipeline must keep exactly one success stage and at least one failure stage."""

    code = "pipeline_invariant"


class StageNotEmpty(ValidationFailed):
    """A stage that still holds items (`count`) cannot be deleted."""

    code = "stage_not_empty"


class InvalidRef(ValidationFailed):
    """Text that is not an item ref like L-12, D-7, C-3, CO-5."""

    code = "invalid_ref"


class LeadAlreadyConverted(ValidationFailed):
    """Items were already created from this lead."""

    code = "lead_already_converted"


class RoomRefused(DomainError):
    """A deal-room action that cannot be done; `reason` says why (taken, busy, token_used, ...)."""

    code = "room_refused"

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(f"room: {reason}", reason=reason, **params)
        self.reason = reason
