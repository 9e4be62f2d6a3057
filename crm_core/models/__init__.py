"""All models, imported here so that `Base.metadata` knows every table."""

from crm_core.models.base import Base, TimestampMixin, UTCDateTime
from crm_core.models.users import DEFAULT_REMINDER_OFFSETS, Department, Invite, ProcessedUpdate, Role, User

__all__ = [
    "Base",
    "TimestampMixin",
    "UTCDateTime",
    "DEFAULT_REMINDER_OFFSETS",
    "Department",
    "Invite",
    "ProcessedUpdate",
    "Role",
    "User",
]
