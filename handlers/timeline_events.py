"""One timeline event as a line of text: who did what, when, in the reader's language and timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_core.clock import utcnow
from crm_core.errors import ValidationFailed
from crm_core.fields import label_of
from crm_core.formatting import format_datetime
from crm_core.models.activities import ActivityType, TaskStatus
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.services.counters import user_zone
from handlers.card_render import user_name
from handlers.clients_notify import message_line
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import TASK_STATUS_NAMES, coded_stage_name

VALUE_LIMIT = 80
# Comment excerpts on a page shrink until the page fits one message.
EXCERPT_LIMITS = (240, 120, 60, 30)
ACTIVITY_NAMES = {
    ActivityType.CALL: N_("tl.act.call"),
    ActivityType.MEETING: N_("tl.act.meeting"),
    ActivityType.TASK: N_("tl.act.task"),
    ActivityType.EMAIL: N_("tl.act.email"),
    ActivityType.MESSAGE: N_("tl.act.message"),
    ActivityType.UNIVERSAL: N_("tl.act.universal"),
}
# Events told by one text with at most one placeholder.
SIMPLE_EVENTS = {
    EventType.OBSERVER_ADDED: N_("tl.ev.observer_added"),
    EventType.OBSERVER_REMOVED: N_("tl.ev.observer_removed"),
    EventType.LINK_ADDED: N_("tl.ev.link_added"),
    EventType.LINK_REMOVED: N_("tl.ev.link_removed"),
    EventType.DELETED: N_("tl.ev.deleted"),
    EventType.RESTORED: N_("tl.ev.restored"),
    EventType.COMMENT_EDITED: N_("tl.ev.comment_edited"),
    EventType.COMMENT_DELETED: N_("tl.ev.comment_deleted"),
    EventType.MESSAGE_IN: N_("tl.ev.message_in"),
    EventType.MESSAGE_OUT: N_("tl.ev.message_out"),
}
# Why a room was unbound (crm_core.services.rooms.unbind's reason).
ROOM_UNBOUND = {
    "command": N_("rooms.ev.unbound.command"),
    "removed": N_("rooms.ev.unbound.removed"),
    "trashed": N_("rooms.ev.unbound.trashed"),
}


def short_time(value: datetime | str | None, user: User, now: datetime | None = None) -> str:
    """A moment in the user's timezone and locale, with the year when it is not this year."""
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return esc(truncate(value, 40))
    if value.tzinfo is None:  # stored moments are UTC
        value = value.replace(tzinfo=UTC)
    tz = user_zone(user)
    this_year = (now or utcnow()).astimezone(tz).year
    return format_datetime(value, tz, user.language, with_year=value.astimezone(tz).year != this_year)


def _one_line(value: Any, limit: int = VALUE_LIMIT) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return esc(truncate(str(value).replace("\n", " "), limit))


def _field_label(tr: Translator, field: str) -> str:
    """A changed field's label from the schema; a field it does not know is shown as stored."""
    name = {"phones": "phone", "emails": "email"}.get(field, field)
    try:
        label = label_of(name)
    except ValidationFailed:
        return esc(field)
    return tr(label)


def _status(tr: Translator, value: Any) -> str:
    try:
        return tr(TASK_STATUS_NAMES[TaskStatus(str(value))])
    except ValueError:
        return esc(str(value))


def activity_label(tr: Translator, payload: dict[str, Any]) -> str:
    """An activity of an event's payload (type, subject): "📞 Call «subject»"."""
    try:
        kind = tr(ACTIVITY_NAMES[ActivityType(str(payload.get("type")))])
    except ValueError:
        kind = tr("tl.act.universal")
    subject = payload.get("subject")
    return f"{kind} «{_one_line(subject)}»" if subject else kind


def file_size_text(size: Any) -> str:
    if not isinstance(size, int) or size < 0:
        return ""
    if size < 1024:
        return f" ({size} B)"
    if size < 1024 * 1024:
        return f" ({size // 1024} KB)"
    return f" ({size / (1024 * 1024):.1f} MB)"


def _moved_stage(tr: Translator, event: TimelineEvent, side: str) -> str:
    """A stage of a stage_changed event: by code and literal name (stored since 0006), else the
    names older events stored in both languages."""
    p: dict[str, Any] = event.payload or {}
    if f"{side}_code" in p:
        return coded_stage_name(tr, event.owner_type, p.get(f"{side}_code"), p.get(f"{side}_name"))
    return p.get(f"{side}_name_{tr.language}") or p.get(f"{side}_name_en") or "—"


def event_summary(
    tr: Translator, event: TimelineEvent, names: dict[int, User], user: User, excerpt: int = EXCERPT_LIMITS[0]
) -> str:
    """What happened, in one line of escaped HTML (without the author and the time)."""
    p: dict[str, Any] = event.payload or {}
    kind = EventType(event.event_type)

    def who(user_id: Any) -> str:
        return user_name(names.get(user_id)) if isinstance(user_id, int) else "—"

    if kind == EventType.COMMENT_ADDED:
        if p.get("deleted"):
            return tr("tl.ev.comment_gone")
        text = str(p.get("text") or "")
        body = f"«{esc(truncate(' '.join(text.split()), excerpt))}»" if text else ""
        files = p.get("files")
        extra = f" 📎{files}" if isinstance(files, int) and files else ""
        edited = f" {tr('tl.edited')}" if p.get("edited") else ""
        return tr("tl.ev.comment", text=body or tr("tl.ev.file_only")) + extra + edited
    if kind == EventType.STAGE_CHANGED:
        old = _moved_stage(tr, event, "from")
        new = _moved_stage(tr, event, "to")
        return tr("tl.ev.stage", old=_one_line(old), new=_one_line(new))
    if kind == EventType.FIELD_CHANGED:
        field = str(p.get("field") or "")
        return tr(
            "tl.ev.field",
            field=_field_label(tr, field),
            old=_one_line(p.get("old")),
            new=_one_line(p.get("new")),
        )
    if kind == EventType.RESPONSIBLE_CHANGED:
        return tr("tl.ev.responsible", old=who(p.get("old")), new=who(p.get("new")))
    if kind in (EventType.OBSERVER_ADDED, EventType.OBSERVER_REMOVED):
        return tr(SIMPLE_EVENTS[kind], name=who(p.get("user_id")))
    if kind in (EventType.LINK_ADDED, EventType.LINK_REMOVED):
        return tr(SIMPLE_EVENTS[kind], ref=_one_line(p.get("ref")))
    if kind == EventType.CONVERTED:
        if p.get("from_lead"):
            return tr("tl.ev.converted_from", ref=_one_line(p.get("from_lead")))
        return tr("tl.ev.converted", refs=_one_line(p.get("created") or p.get("reused")))
    if kind == EventType.CREATED:
        if p.get("imported_from"):
            return tr("tl.ev.imported", title=_one_line(p.get("title")), file=_one_line(p["imported_from"]))
        return tr("tl.ev.created", title=_one_line(p.get("title")))
    if kind in (EventType.DELETED, EventType.RESTORED, EventType.COMMENT_EDITED, EventType.COMMENT_DELETED):
        return tr(SIMPLE_EVENTS[kind])
    if kind == EventType.ACTIVITY_CREATED:
        return tr(
            "tl.ev.activity_created", activity=activity_label(tr, p), when=short_time(p.get("deadline"), user)
        )
    if kind == EventType.ACTIVITY_CHANGED:
        key = N_("tl.ev.activity_removed") if p.get("deleted") else N_("tl.ev.activity_changed")
        return tr(key, activity=activity_label(tr, p), when=short_time(p.get("deadline"), user))
    if kind == EventType.ACTIVITY_COMPLETED:
        return tr("tl.ev.activity_completed", activity=activity_label(tr, p))
    title = _one_line(p.get("title"))
    if kind == EventType.TASK_CREATED:
        when = tr("tl.deadline", when=short_time(p["deadline"], user)) if p.get("deadline") else ""
        return tr("tl.ev.task_created", title=title, who=who(p.get("responsible_id"))) + when
    if kind == EventType.TASK_STATUS_CHANGED:
        return tr(
            "tl.ev.task_status", title=title, old=_status(tr, p.get("old")), new=_status(tr, p.get("new"))
        )
    if kind == EventType.TASK_DEADLINE_CHANGED:
        return tr(
            "tl.ev.task_deadline",
            title=title,
            old=short_time(p.get("old"), user),
            new=short_time(p.get("new"), user),
        )
    if kind in (EventType.MESSAGE_IN, EventType.MESSAGE_OUT):
        return tr(SIMPLE_EVENTS[kind], text=message_line(tr, p, excerpt))
    if kind == EventType.FILE_ATTACHED:
        return tr("tl.ev.file", name=_one_line(p.get("name") or "file")) + file_size_text(p.get("size"))
    if kind == EventType.ROOM_BOUND:
        return tr("rooms.ev.bound", title=_one_line(p.get("title")))
    if kind == EventType.ROOM_UNBOUND:
        key = ROOM_UNBOUND.get(str(p.get("reason")))
        if key is None:
            return tr("rooms.ev.unbound.command", title=_one_line(p.get("title")))
        return tr(key, title=_one_line(p.get("title")))
    return esc(kind.value)


def event_user_ids(events: list[TimelineEvent]) -> set[int]:
    ids: set[int] = set()
    for event in events:
        if event.author_id:
            ids.add(event.author_id)
        p = event.payload or {}
        for key in ("old", "new", "user_id", "responsible_id"):
            if isinstance(p.get(key), int) and not isinstance(p.get(key), bool):
                ids.add(p[key])
    return ids


def is_comment_event(event: TimelineEvent) -> bool:
    return event.event_type == EventType.COMMENT_ADDED and not (event.payload or {}).get("deleted")
