"""Rendering what the scheduler pushes (scheduler.ports.NotificationRenderer): reminders, overdue
notices, the summary of missed reminders, event notifications and the daily digest, in the
recipient's language and timezone, as HTML with inline buttons. Reads only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc
from crm_core.formatting import format_day_month, format_time
from crm_core.models.activities import Activity, ActivityReminder, ReminderKind, Task
from crm_core.models.items import ItemType
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.users import User
from crm_core.refs import format_ref
from crm_core.services import delivery as delivery_service
from crm_core.services.counters import get_counters, user_zone
from handlers import rooms_render
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, RemAction, RemCB
from handlers.clients_notify import is_conversation, render_notice
from handlers.render import MESSAGE_LIMIT, esc, split_blocks, truncate
from handlers.texts import N_, Translator
from scheduler.ports import OutgoingMessage

TITLE_LIMIT = 120
SUBJECT_LIMIT = 200
STALE_LINES = 20
DIGEST_ACTIVITIES = 10
Buttons = list[list[dict[str, Any]]]

ACTIVITY_TYPES = {
    "call": N_("rem.type.call"),
    "meeting": N_("rem.type.meeting"),
    "task": N_("rem.type.task"),
    "email": N_("rem.type.email"),
    "message": N_("rem.type.message"),
    "universal": N_("rem.type.universal"),
}
ITEM_TYPES = {
    ItemType.LEAD: N_("rem.item.lead"),
    ItemType.DEAL: N_("rem.item.deal"),
    ItemType.CONTACT: N_("rem.item.contact"),
    ItemType.COMPANY: N_("rem.item.company"),
}
TASK_STATUSES = {
    "new": N_("rem.task.new"),
    "viewed": N_("rem.task.viewed"),
    "in_progress": N_("rem.task.in_progress"),
    "waiting": N_("rem.task.waiting"),
    "awaiting_control": N_("rem.task.awaiting_control"),
    "deadline_changed": N_("rem.task.deadline_changed"),
    "has_result": N_("rem.task.has_result"),
    "overdue": N_("rem.task.overdue"),
    "completed": N_("rem.task.completed"),
}
# Renderers of categories a feature owns (mail_in: handlers.mail_letters registers itself).
EXTRA_RENDERERS: dict[str, Any] = {}
ITEM_EVENTS = {  # notifications that name an item and nothing else
    NotificationCategory.RESPONSIBLE_ASSIGNED: N_("rem.n.responsible_assigned"),
    NotificationCategory.OBSERVER_ADDED: N_("rem.n.observer_added"),
    NotificationCategory.LEAD_ASSIGNED: N_("rem.n.lead_assigned"),
    NotificationCategory.COMMENT_ADDED: N_("rem.n.comment_added"),
}


# --- formatting ---------------------------------------------------------------------------------


def span(tr: Translator, delta: timedelta) -> str:
    """A rounded duration: "15 min", "2 h 5 min", "3 d"."""
    minutes = int(abs(delta.total_seconds()) + 59) // 60
    if minutes < 60:
        return tr("rem.span.min", n=max(minutes, 1))
    hours, rest = divmod(minutes, 60)
    if hours < 24:
        parts = [tr("rem.span.hour", n=hours)]
        if rest:
            parts.append(tr("rem.span.min", n=rest))
        return " ".join(parts)
    days, hours = divmod(hours, 24)
    parts = [tr("rem.span.day", n=days)]
    if hours:
        parts.append(tr("rem.span.hour", n=hours))
    return " ".join(parts)


def relative(tr: Translator, when: datetime, now: datetime) -> str:
    delta = ensure_utc(when) - ensure_utc(now)
    if abs(delta.total_seconds()) < 60:
        return tr("rem.relative.now")
    if delta.total_seconds() > 0:
        return tr("rem.relative.in", span=span(tr, delta))
    return tr("rem.relative.ago", span=span(tr, delta))


def local_time(tr: Translator, user: User, when: datetime, now: datetime) -> str:
    """The user's local date and time: "today 15:30", "tomorrow 09:00", "Nov 28, 10:00"."""
    tz = user_zone(user)
    local = ensure_utc(when).astimezone(tz)
    today = ensure_utc(now).astimezone(tz).date()
    hhmm = format_time(local, tr.language)
    days = (local.date() - today).days
    if days == 0:
        return tr("rem.today", time=hhmm)
    if days == 1:
        return tr("rem.tomorrow", time=hhmm)
    if days == -1:
        return tr("rem.yesterday", time=hhmm)
    return tr("rem.date", date=format_day_month(local.date(), tr.language), time=hhmm)


def activity_label(tr: Translator, activity: Activity) -> str:
    kind_id = ACTIVITY_TYPES.get(str(activity.type), N_("rem.type.universal"))
    kind = tr(kind_id)
    subject = (activity.subject or "").strip()
    return f"{kind}: {esc(truncate(subject, SUBJECT_LIMIT))}" if subject else kind


def item_line(tr: Translator, item: Any) -> str:
    title = truncate(item.display_name, TITLE_LIMIT)
    return f"{tr(ITEM_TYPES[item.ITEM_TYPE])} <b>{esc(item.ref)}</b> · {esc(title)}"


def open_button(tr: Translator, item_type: ItemType | str, item_id: int) -> dict[str, Any]:
    return {
        "text": tr("rem.btn.open", ref=format_ref(item_type, item_id)),
        "callback_data": CardCB(type=ItemType(item_type), id=item_id, action=CardAction.OPEN).pack(),
    }


def reminder_buttons(tr: Translator, activity: Activity, *, done: bool = False) -> Buttons:
    open_row = [open_button(tr, activity.owner_type, activity.owner_id)]
    if done:
        return [open_row]

    def button(action: RemAction, key: str) -> dict[str, Any]:
        return {"text": tr(key), "callback_data": RemCB(action=action, activity=activity.id).pack()}

    return [
        [button(RemAction.DONE, N_("rem.btn.done"))],
        [
            button(RemAction.SNOOZE_15, N_("rem.btn.snooze15")),
            button(RemAction.SNOOZE_1H, N_("rem.btn.snooze1h")),
            button(RemAction.TOMORROW, N_("rem.btn.tomorrow")),
        ],
        open_row,
    ]


def reminder_text(
    tr: Translator,
    user: User,
    activity: Activity,
    item: Any,
    now: datetime,
    *,
    overdue: bool = False,
    late: bool = False,
    status: str | None = None,
) -> str:
    """The reminder as shown: the item, the activity, the deadline and how long until/since it."""
    lines = [tr("rem.title.overdue") if overdue else tr("rem.title")]
    if late:
        lines.append(tr("rem.late"))
    lines.append(item_line(tr, item))
    lines.append(activity_label(tr, activity))
    lines.append(
        tr(
            "rem.deadline",
            deadline=local_time(tr, user, activity.deadline, now),
            relative=relative(tr, activity.deadline, now),
        )
    )
    if status:
        lines.append("")
        lines.append(status)
    return "\n".join(lines)


# --- the renderer -------------------------------------------------------------------------------


class NotifyRenderer:
    """scheduler.ports.NotificationRenderer over crm_core reads and the texts package."""

    async def reminder(
        self,
        session: AsyncSession,
        reminder: ActivityReminder,
        activity: Activity,
        user: User,
        *,
        now: datetime,
        overdue_too: bool = False,
    ) -> OutgoingMessage | None:
        item = await delivery_service.load_item(session, activity.owner_type, activity.owner_id)
        if item is None:
            return None
        tr = Translator(user.language)
        overdue = reminder.kind == ReminderKind.OVERDUE
        html = reminder_text(tr, user, activity, item, now, overdue=overdue, late=bool(reminder.late))
        return OutgoingMessage(html, reminder_buttons(tr, activity))

    async def stale_summary(
        self,
        session: AsyncSession,
        user: User,
        items: list[tuple[ActivityReminder, Activity]],
        *,
        now: datetime,
    ) -> OutgoingMessage:
        tr = Translator(user.language)
        # One line per activity (its reminders at several offsets collapse), oldest deadline first.
        activities: dict[int, Activity] = {}
        for _reminder, activity in items:
            activities.setdefault(activity.id, activity)
        ordered = sorted(activities.values(), key=lambda a: (a.deadline, a.id))
        loaded = await delivery_service.load_items(session, [(a.owner_type, a.owner_id) for a in ordered])
        lines = [tr("rem.stale.title", count=len(ordered))]
        buttons: Buttons = []
        for activity in ordered[:STALE_LINES]:
            item = loaded.get((ItemType(activity.owner_type), activity.owner_id))
            ref = format_ref(activity.owner_type, activity.owner_id)
            lines.append(
                tr(
                    "rem.stale.line",
                    ref=f"<b>{esc(ref)}</b>",
                    title=esc(truncate(item.display_name, 60)) if item is not None else "",
                    activity=activity_label(tr, activity),
                    deadline=local_time(tr, user, activity.deadline, now),
                )
            )
        if len(ordered) > STALE_LINES:
            lines.append(tr("rem.stale.more", count=len(ordered) - STALE_LINES))
        buttons.append(
            [{"text": tr("rem.btn.activities"), "callback_data": MenuCB(action=MenuAction.ACTIVITIES).pack()}]
        )
        return OutgoingMessage(_fit(lines), buttons)

    async def notification(
        self, session: AsyncSession, notification: Notification, user: User, *, now: datetime
    ) -> list[OutgoingMessage]:
        tr = Translator(user.language)
        category = notification.category
        payload = dict(notification.payload or {})
        if category == NotificationCategory.DIGEST:
            return await self.digest(session, user, now=now)
        if category in EXTRA_RENDERERS:
            return list(await EXTRA_RENDERERS[category](session, notification, user, now=now))
        if category in rooms_render.ROOM_CATEGORIES:
            return await rooms_render.render(session, notification, user, now=now)
        item = None
        owner = _owner(payload)
        if owner is None and payload.get("task_id"):
            task = await session.get(Task, int(payload["task_id"]))
            if task is not None:
                owner = (ItemType(task.owner_type), task.owner_id)
        if owner is not None:
            item = (await delivery_service.load_items(session, [owner])).get(owner)
        item_html = item_line(tr, item) if item is not None else esc(format_ref(*owner)) if owner else ""
        if is_conversation(category):  # a client wrote (handlers.clients_notify)
            if item is None or owner is None:
                return []
            return render_notice(tr, notification, user, item_html, open_button(tr, *owner))
        lines: list[str] = []
        title = esc(truncate(str(payload.get("title") or ""), TITLE_LIMIT))
        if category == NotificationCategory.TASK_ASSIGNED:
            lines.append(tr("rem.n.task_assigned", title=title))
            if item_html:
                lines.append(item_html)
            deadline = _when(payload.get("deadline"))
            if deadline is not None:
                lines.append(tr("rem.n.task_deadline", deadline=local_time(tr, user, deadline, now)))
        elif category == NotificationCategory.TASK_STATUS_CHANGED:
            if payload.get("new"):
                key = TASK_STATUSES.get(str(payload["new"]))
                status = tr(key) if key else str(payload["new"])
                lines.append(tr("rem.n.task_status_changed", title=title, status=esc(status)))
            elif payload.get("deadline"):
                deadline = _when(payload["deadline"])
                assert deadline is not None
                lines.append(
                    tr(
                        "rem.n.task_deadline_changed",
                        title=title,
                        deadline=local_time(tr, user, deadline, now),
                    )
                )
            else:
                lines.append(tr("rem.n.task_deadline_removed", title=title))
            if item_html:
                lines.append(item_html)
        elif category == NotificationCategory.OVERDUE and payload.get("task_id"):
            lines.append(tr("rem.n.task_overdue", title=title))
            if item_html:
                lines.append(item_html)
        elif category == NotificationCategory.ACTIVITY_ASSIGNED:
            activity = await session.get(Activity, int(payload.get("activity_id") or 0))
            if activity is None or activity.completed or item is None:
                return []
            lines.append(
                tr(
                    "rem.n.activity_assigned",
                    activity=activity_label(tr, activity),
                    item=item_html,
                    deadline=local_time(tr, user, activity.deadline, now),
                )
            )
        elif category == NotificationCategory.MENTIONED:
            if item is None:
                return []
            lines.append(tr("rem.n.mentioned", item=item_html))
            text = str(payload.get("text") or "").strip()
            if text:
                lines.append(f"<i>{esc(truncate(text, 1000))}</i>")
        elif category in ITEM_EVENTS:
            if item is None:
                return []
            lines.append(tr(ITEM_EVENTS[NotificationCategory(category)], item=item_html))
        else:
            if item is None:
                return []
            lines.append(tr("rem.n.other", item=item_html))
        by = payload.get("by")
        if by and by != user.id:
            author = await session.get(User, int(by))
            if author is not None:
                lines.append(tr("rem.by", name=esc(truncate(author.full_name or "", 100))))
        buttons: Buttons = [[open_button(tr, *owner)]] if owner is not None and item is not None else []
        return [OutgoingMessage(_fit(lines), buttons or None)]

    async def digest(self, session: AsyncSession, user: User, *, now: datetime) -> list[OutgoingMessage]:
        """Counters, today's activities (with buttons to open them), and for a head of department
        the team's overdue work by person."""
        tr = Translator(user.language)
        tz = user_zone(user)
        local = ensure_utc(now).astimezone(tz)
        counters = await get_counters(session, user, now)
        date = format_day_month(local.date(), tr.language, long=True)
        blocks = [
            tr("rem.digest.title", name=esc(truncate(user.full_name or "", 60)), date=date)
            + "\n"
            + tr(
                "rem.digest.counters",
                overdue=counters.overdue,
                today=counters.today,
                incoming=counters.incoming,
                idle=counters.idle,
            )
        ]
        today = await delivery_service.today_activities(session, user, now, limit=DIGEST_ACTIVITIES + 1)
        loaded = await delivery_service.load_items(session, [(a.owner_type, a.owner_id) for a in today])
        buttons: Buttons = []
        lines = [tr("rem.digest.today")]
        if not today:
            lines.append(tr("rem.digest.none_today"))
        for activity in today[:DIGEST_ACTIVITIES]:
            key = (ItemType(activity.owner_type), activity.owner_id)
            item = loaded.get(key)
            hhmm = format_time(ensure_utc(activity.deadline).astimezone(tz), tr.language)
            ref = format_ref(*key)
            title = f" · {esc(truncate(item.display_name, 60))}" if item is not None else ""
            lines.append(f"{hhmm} <b>{esc(ref)}</b>{title} — {activity_label(tr, activity)}")
            if item is not None:
                buttons.append(
                    [
                        {
                            "text": f"{hhmm} · {truncate(item.display_name, 40)}",
                            "callback_data": CardCB(type=key[0], id=key[1], action=CardAction.OPEN).pack(),
                        }
                    ]
                )
        if len(today) > DIGEST_ACTIVITIES:
            lines.append(tr("rem.digest.more", count=max(counters.today - DIGEST_ACTIVITIES, 1)))
        blocks.append("\n".join(lines))
        team = await delivery_service.team_overdue(session, user, now)
        if team:
            blocks.append(tr("rem.digest.team"))
            for member in team:
                person = [
                    tr(
                        "rem.digest.person",
                        name=esc(truncate(member.user.full_name or "", 60)),
                        count=member.count,
                    )
                ]
                for activity in member.oldest:
                    person.append(
                        tr(
                            "rem.digest.person_item",
                            ref=esc(format_ref(activity.owner_type, activity.owner_id)),
                            activity=activity_label(tr, activity),
                            deadline=local_time(tr, user, activity.deadline, now),
                        )
                    )
                blocks.append("\n".join(person))
        buttons.append(
            [
                {"text": tr("rem.btn.today"), "callback_data": MenuCB(action=MenuAction.TODAY).pack()},
                {
                    "text": tr("rem.btn.activities"),
                    "callback_data": MenuCB(action=MenuAction.ACTIVITIES).pack(),
                },
            ]
        )
        parts = split_blocks(blocks, MESSAGE_LIMIT, sep="\n\n")
        messages = [OutgoingMessage(p) for p in parts[:-1]]
        messages.append(OutgoingMessage(parts[-1], buttons))
        return messages


def _owner(payload: dict[str, Any]) -> tuple[ItemType, int] | None:
    try:
        return ItemType(payload["owner_type"]), int(payload["owner_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return ensure_utc(value) if value.tzinfo else None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return ensure_utc(parsed) if parsed.tzinfo else None
    return None


def _fit(lines: list[str]) -> str:
    """Join lines; if the message would be too long, keep whole lines that fit."""
    return split_blocks(lines, MESSAGE_LIMIT)[0]


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    return await session.scalar(select(User).where(User.id == user_id))
