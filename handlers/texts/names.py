"""Message ids of enum values, written once as literals so the catalog test sees every one.

Shown with `tr(ROLE_NAMES[role])`; the N_ marks an id translated later, where it is shown.
Pipelines and stages are named here too, once: stage_name / pipeline_name.
"""

from __future__ import annotations

from collections.abc import Callable

from crm_core.models.activities import ActivityType, TaskStatus
from crm_core.models.items import ItemType, Pipeline, Stage
from crm_core.models.timeline import EventType
from crm_core.models.users import Role
from crm_core.services.conversion import Scheme
from crm_core.services.pipelines import GENERAL_PIPELINE_CODE, LEAD_PIPELINE_CODE
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

# "📞 Call", "🤝 Meeting"... as the activity screens, the calendar and quick planning name a kind.
ACTIVITY_KIND_NAMES = {
    ActivityType.CALL: N_("act.type.call"),
    ActivityType.MEETING: N_("act.type.meeting"),
    ActivityType.TASK: N_("act.type.task"),
    ActivityType.EMAIL: N_("act.type.email"),
    ActivityType.MESSAGE: N_("act.type.message"),
    ActivityType.UNIVERSAL: N_("act.type.universal"),
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
    EventType.ROOM_BOUND: N_("rooms.event.bound"),
    EventType.ROOM_UNBOUND: N_("rooms.event.unbound"),
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

# The seeded pipelines and the default stages by code (crm_core.services.pipelines, migration
# 0002); a stage's code is named per item type: a lead's NEW is "Новый", a deal's "Новая".
PIPELINE_NAMES = {
    LEAD_PIPELINE_CODE: N_("pipeline.leads"),
    GENERAL_PIPELINE_CODE: N_("pipeline.general"),
}
STAGE_NAMES = {
    (ItemType.LEAD, "NEW"): N_("stage.lead.new"),
    (ItemType.LEAD, "IN_PROCESS"): N_("stage.lead.in_process"),
    (ItemType.LEAD, "PROCESSED"): N_("stage.lead.processed"),
    (ItemType.LEAD, "CONVERTED"): N_("stage.lead.converted"),
    (ItemType.LEAD, "JUNK"): N_("stage.lead.junk"),
    (ItemType.DEAL, "NEW"): N_("stage.deal.new"),
    (ItemType.DEAL, "PREPARATION"): N_("stage.deal.preparation"),
    (ItemType.DEAL, "PREPAYMENT_INVOICE"): N_("stage.deal.prepayment_invoice"),
    (ItemType.DEAL, "EXECUTING"): N_("stage.deal.executing"),
    (ItemType.DEAL, "FINAL_INVOICE"): N_("stage.deal.final_invoice"),
    (ItemType.DEAL, "WON"): N_("stage.deal.won"),
    (ItemType.DEAL, "LOSE"): N_("stage.deal.lose"),
    (ItemType.DEAL, "APOLOGY"): N_("stage.deal.apology"),
}

Tr = Callable[..., str]


def coded_stage_name(tr: Tr, item_type: ItemType | str, code: str | None, name: str | None) -> str:
    """A stage's name from its parts (a timeline event keeps them): the admin's literal name as
    typed, else the default stage's name in the reader's language, else its bare code."""
    if name:
        return name
    key = STAGE_NAMES.get((ItemType(item_type), code or ""))
    return tr(key) if key else (code or "—")


def stage_name(tr: Tr, stage: Stage) -> str:
    """The one way a stage is named to a user (plain text: escape it for HTML)."""
    return coded_stage_name(tr, stage.entity_type, stage.code, stage.name)


def pipeline_name(tr: Tr, pipeline: Pipeline) -> str:
    """The one way a pipeline is named to a user (plain text: escape it for HTML)."""
    if pipeline.name:
        return pipeline.name
    key = PIPELINE_NAMES.get(pipeline.code or "")
    return tr(key) if key else (pipeline.code or "—")
