"""All models, imported here so that `Base.metadata` knows every table."""

from crm_core.models.activities import (
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
from crm_core.models.base import (
    Base,
    TimestampMixin,
    UTCDateTime,
)
from crm_core.models.clients import (
    BusinessConnection,
    ClientChannel,
    ClientChat,
    ClientDuty,
    ClientMessage,
    MessageDirection,
    RoutingRule,
)
from crm_core.models.comments import (
    Attachment,
    Comment,
)
from crm_core.models.delivery import (
    ChatDelivery,
)
from crm_core.models.forms import (
    FormSubmission,
    WebForm,
)
from crm_core.models.items import (
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
from crm_core.models.mail import (
    Letter,
    LetterAttachment,
    LetterDirection,
    Mailbox,
    TlsMode,
)
from crm_core.models.notifications import (
    Notification,
    NotificationCategory,
    NotificationState,
    UserMutedCategory,
)
from crm_core.models.rest import (
    RestToken,
)
from crm_core.models.rooms import (
    Room,
    RoomKind,
    RoomToken,
    TeamForum,
)
from crm_core.models.timeline import (
    EventType,
    TimelineEvent,
)
from crm_core.models.users import (
    DEFAULT_REMINDER_OFFSETS,
    CacheVersion,
    Department,
    Invite,
    ProcessedUpdate,
    Role,
    UpdateInbox,
    User,
)
from crm_core.models.views import (
    SavedFilter,
    StageTotal,
)

__all__ = [
    "Activity",
    "ActivityDirection",
    "ActivityReminder",
    "ActivityType",
    "Attachment",
    "Base",
    "CacheVersion",
    "BusinessConnection",
    "ClientChannel",
    "ClientChat",
    "ClientDuty",
    "ClientMessage",
    "ChatDelivery",
    "CommKind",
    "CommValueType",
    "Comment",
    "Communication",
    "Company",
    "Contact",
    "DEFAULT_REMINDER_OFFSETS",
    "Deal",
    "Department",
    "EventType",
    "FormSubmission",
    "ITEM_MODELS",
    "MessageDirection",
    "Invite",
    "ItemObserver",
    "ItemType",
    "Lead",
    "Letter",
    "LetterAttachment",
    "LetterDirection",
    "Mailbox",
    "Notification",
    "NotificationCategory",
    "NotificationState",
    "Pipeline",
    "PipelineReminderDefault",
    "ProcessedUpdate",
    "UpdateInbox",
    "ReminderKind",
    "ReminderState",
    "RequiredField",
    "RestToken",
    "Role",
    "RoutingRule",
    "Room",
    "RoomKind",
    "RoomToken",
    "SavedFilter",
    "Stage",
    "StageHistory",
    "StageSemantics",
    "StageTotal",
    "Task",
    "TaskStatus",
    "TeamForum",
    "TimelineEvent",
    "TimestampMixin",
    "TlsMode",
    "UTCDateTime",
    "User",
    "WebForm",
    "UserMutedCategory",
    "contact_companies",
]
