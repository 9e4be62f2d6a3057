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
from crm_core.models.items import (  # noqa: E402, F401
    ITEM_MODELS,
    CommKind,
    Communication,
    CommValueType,
    Company,
    Contact,
    Deal,
    ItemObserver,
    ItemType,
    Lead,
    Pipeline,
    RequiredField,
    Stage,
    StageHistory,
    StageSemantics,
    contact_companies,
)
from crm_core.models.timeline import EventType, TimelineEvent  # noqa: E402, F401
from crm_core.models.activities import (  # noqa: E402, F401
    Activity,
    ActivityDirection,
    ActivityReminder,
    ActivityType,
    PipelineReminderDefault,
    ReminderKind,
    ReminderState,
    Task,
    TaskStatus,
)
from crm_core.models.comments import Attachment, Comment  # noqa: E402, F401
from crm_core.models.notifications import (  # noqa: E402, F401
    Notification,
    NotificationCategory,
    NotificationState,
    UserMutedCategory,
)
from crm_core.models.views import SavedFilter  # noqa: E402, F401
