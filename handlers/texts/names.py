"""Message ids of enum values, written once as literals so the catalog test sees every one.

Shown with `tr(ROLE_NAMES[role])`; the N_ marks an id translated later, where it is shown.
"""

from __future__ import annotations

from crm_core.models.activities import ActivityType, TaskStatus
from crm_core.models.items import ItemType
from crm_core.models.timeline import EventType
from crm_core.models.users import Role
from crm_core.services.conversion import Scheme
from handlers.texts import N_

ROLE_NAMES = {
    Role.ADMIN: N_("role.admin"),
    Role.HEAD: N_("role.head"),
    Role.SALESPERSON: N_("role.salesperson"),
}

ITEM_TYPE_NAMES = {
    ItemType.LEAD: N_("card.type.lead"),
    ItemType.DEAL: N_("card.type.deal"),
    ItemType.CONTACT: N_("card.type.contact"),
    ItemType.COMPANY: N_("card.type.company"),
}

# "Call", "Meeting"... as the card's "to do" line names the nearest activity.
ACTIVITY_TYPE_NAMES = {
    ActivityType.CALL: N_("card.act.call"),
    ActivityType.MEETING: N_("card.act.meeting"),
    ActivityType.TASK: N_("card.act.task"),
    ActivityType.EMAIL: N_("card.act.email"),
    ActivityType.MESSAGE: N_("card.act.message"),
    ActivityType.UNIVERSAL: N_("card.act.universal"),
}

# A pinned record that is not a comment: what happened.
EVENT_NAMES = {
    EventType.CREATED: N_("card.event.created"),
    EventType.STAGE_CHANGED: N_("card.event.stage_changed"),
    EventType.FIELD_CHANGED: N_("card.event.field_changed"),
    EventType.RESPONSIBLE_CHANGED: N_("card.event.responsible_changed"),
    EventType.OBSERVER_ADDED: N_("card.event.observer_added"),
    EventType.OBSERVER_REMOVED: N_("card.event.observer_removed"),
    EventType.LINK_ADDED: N_("card.event.link_added"),
    EventType.LINK_REMOVED: N_("card.event.link_removed"),
    EventType.CONVERTED: N_("card.event.converted"),
    EventType.DELETED: N_("card.event.deleted"),
    EventType.RESTORED: N_("card.event.restored"),
    EventType.ACTIVITY_CREATED: N_("card.event.activity_created"),
    EventType.ACTIVITY_CHANGED: N_("card.event.activity_changed"),
    EventType.ACTIVITY_COMPLETED: N_("card.event.activity_completed"),
    EventType.COMMENT_ADDED: N_("card.event.comment_added"),
    EventType.COMMENT_EDITED: N_("card.event.comment_edited"),
    EventType.COMMENT_DELETED: N_("card.event.comment_deleted"),
    EventType.TASK_CREATED: N_("card.event.task_created"),
    EventType.TASK_STATUS_CHANGED: N_("card.event.task_status_changed"),
    EventType.TASK_DEADLINE_CHANGED: N_("card.event.task_deadline_changed"),
    EventType.MESSAGE_IN: N_("card.event.message_in"),
    EventType.MESSAGE_OUT: N_("card.event.message_out"),
    EventType.FILE_ATTACHED: N_("card.event.file_attached"),
}

TASK_STATUS_NAMES = {
    TaskStatus.NEW: N_("tk.status.new"),
    TaskStatus.VIEWED: N_("tk.status.viewed"),
    TaskStatus.IN_PROGRESS: N_("tk.status.in_progress"),
    TaskStatus.WAITING: N_("tk.status.waiting"),
    TaskStatus.AWAITING_CONTROL: N_("tk.status.awaiting_control"),
    TaskStatus.DEADLINE_CHANGED: N_("tk.status.deadline_changed"),
    TaskStatus.HAS_RESULT: N_("tk.status.has_result"),
    TaskStatus.OVERDUE: N_("tk.status.overdue"),
    TaskStatus.COMPLETED: N_("tk.status.completed"),
}

# What a conversion creates, as its button and messages name it.
SCHEME_NAMES = {
    Scheme.DEAL: N_("cv.s.deal"),
    Scheme.CONTACT: N_("cv.s.contact"),
    Scheme.COMPANY: N_("cv.s.company"),
    Scheme.CONTACT_COMPANY: N_("cv.s.contact_company"),
    Scheme.DEAL_CONTACT: N_("cv.s.deal_contact"),
    Scheme.DEAL_COMPANY: N_("cv.s.deal_company"),
    Scheme.DEAL_CONTACT_COMPANY: N_("cv.s.deal_contact_company"),
}
