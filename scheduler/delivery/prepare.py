"""From claimed rows to jobs: who each row goes to (one crm_core call for the recipients'
settings and chats), what is not sent at all (muted, done, gone, undeliverable), and the
messages rendered through the NotificationRenderer port. Reminders of one activity due together
make one message; reminders that came due long ago make one summary per person."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_core.db import Database
from crm_core.models.activities import ActivityReminder, ReminderKind
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.services import delivery as delivery_service
from crm_core.services import reminders as reminder_service
from scheduler.delivery.lanes import Job
from scheduler.ports import ItemChats, NotificationRenderer

log = logging.getLogger("scheduler.delivery")


@dataclass
class Batch:
    """What became of a claim round's rows before anything is sent."""

    jobs: list[Job] = field(default_factory=list)
    drop_r: list[int] = field(default_factory=list)  # cannot be delivered: cancelled
    quiet_r: list[int] = field(default_factory=list)  # nothing to say: sent without a message
    failed_n: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    retry_r: list[int] = field(default_factory=list)  # rendering failed: released for later
    retry_n: list[int] = field(default_factory=list)
    not_before: dict[int, datetime] = field(default_factory=dict)  # chats another process must wait on

    @property
    def unsettled(self) -> bool:
        return bool(self.drop_r or self.quiet_r or self.failed_n or self.retry_r or self.retry_n)


class Preparer:
    def __init__(
        self, db: Database, renderer: NotificationRenderer, item_chats: ItemChats, stale_after: timedelta
    ) -> None:
        self.db = db
        self.renderer = renderer
        self.item_chats = item_chats
        self.stale_after = stale_after

    async def prepare(
        self, reminders: list[ActivityReminder], notifications: list[Notification], now: datetime
    ) -> Batch:
        batch = Batch()
        async with self.db.sessionmaker() as s:
            user_ids = {r.user_id for r in reminders} | {n.user_id for n in notifications}
            recipients = await delivery_service.recipients(s, user_ids)
            activities = await reminder_service.activities_for(s, reminders)
            # Read together: rendering then finds each reminder's item in the session (kept
            # referenced here: the session's identity map holds them weakly).
            _items = await delivery_service.load_items(
                s, ((a.owner_type, a.owner_id) for a in activities.values())
            )
            grouped, stale = self._sort_reminders(batch, reminders, recipients, activities, now)
            await self._fold_overdue(s, batch, grouped)
            await self._render_reminders(s, batch, grouped, recipients, activities, now)
            await self._render_stale(s, batch, stale, recipients, now)
            await self._render_notifications(s, batch, notifications, recipients, now)
            batch.not_before = {
                r.chat_id: r.chat.not_before
                for r in recipients.values()
                if r.chat is not None and r.chat.not_before is not None and r.chat.not_before > now
            }
        return batch

    def _sort_reminders(
        self,
        batch: Batch,
        reminders: list[ActivityReminder],
        recipients: dict[int, delivery_service.Recipient],
        activities: dict[int, Any],
        now: datetime,
    ) -> tuple[dict[tuple[int, int], list[ActivityReminder]], dict[int, list[tuple[ActivityReminder, Any]]]]:
        stale_cutoff = now - self.stale_after
        grouped: dict[tuple[int, int], list[ActivityReminder]] = defaultdict(list)
        stale: dict[int, list[tuple[ActivityReminder, Any]]] = defaultdict(list)
        for r in reminders:
            who = recipients.get(r.user_id)
            activity = activities.get(r.activity_id)
            if who is None or not who.user.is_active or activity is None or who.undeliverable:
                batch.drop_r.append(r.id)
                continue
            category = (
                NotificationCategory.OVERDUE
                if r.kind == ReminderKind.OVERDUE
                else NotificationCategory.REMINDER
            )
            if activity.completed or who.mutes(category):
                batch.quiet_r.append(r.id)
                continue
            if r.due_at < stale_cutoff:
                stale[who.user.id].append((r, activity))
            else:
                grouped[(activity.id, who.user.id)].append(r)
        return grouped, stale

    async def _fold_overdue(
        self, s: Any, batch: Batch, grouped: dict[tuple[int, int], list[ActivityReminder]]
    ) -> None:
        """An overdue notice whose reminder at the deadline went out in another batch: folded too."""
        lone = [rows[0] for rows in grouped.values() if all(r.kind == ReminderKind.OVERDUE for r in rows)]
        if not lone:
            return
        out = await delivery_service.deadline_reminders_out(s, lone)
        for r in lone:
            if (r.activity_id, r.user_id, r.due_at) in out:
                batch.quiet_r.append(r.id)
                del grouped[(r.activity_id, r.user_id)]

    async def _render_reminders(
        self,
        s: Any,
        batch: Batch,
        grouped: dict[tuple[int, int], list[ActivityReminder]],
        recipients: dict[int, delivery_service.Recipient],
        activities: dict[int, Any],
        now: datetime,
    ) -> None:
        for (activity_id, user_id), rows in grouped.items():
            user, activity = recipients[user_id].user, activities[activity_id]
            # A reminder at the deadline and the overdue notice due together: one message.
            primary = next((r for r in rows if r.kind == ReminderKind.REMINDER), rows[0])
            overdue_too = primary.kind == ReminderKind.REMINDER and any(
                r.kind == ReminderKind.OVERDUE for r in rows
            )
            ids = [r.id for r in rows]
            try:
                msg = await self.renderer.reminder(
                    s, primary, activity, user, now=now, overdue_too=overdue_too
                )
                extra_chats = await self._item_targets(s, str(activity.owner_type), activity.owner_id)
            except Exception:  # noqa: BLE001 - one bad row must not stop the others
                log.exception("rendering reminder %s failed", ids)
                batch.retry_r.extend(ids)
                continue
            if msg is None:
                batch.quiet_r.extend(ids)
                continue
            lease = min(r.claimed_until for r in rows if r.claimed_until is not None)
            batch.jobs.append(
                Job(user.telegram_id, [msg], reminder_ids=ids, lease_until=lease, label=f"reminder {ids}")
            )
            if primary.kind == ReminderKind.OVERDUE:
                extra_chats = []  # a room hears of overdue activities in its feed (room_overdue)
            for chat, thread in extra_chats:  # the item's group chat (see ItemChats)
                batch.jobs.append(Job(chat, [msg], label=f"group copy of reminder {ids}", thread_id=thread))

    async def _item_targets(self, s: Any, owner_type: str, owner_id: int) -> list[tuple[int, int | None]]:
        """(chat, forum topic) of the item's room; an ItemChats that knows no topics gives chats."""
        targets = getattr(self.item_chats, "targets_for_item", None)
        if targets is not None:
            return [(t.chat_id, t.thread_id) for t in await targets(s, owner_type, owner_id)]
        return [(chat, None) for chat in await self.item_chats.chats_for_item(s, owner_type, owner_id)]

    async def _render_stale(
        self,
        s: Any,
        batch: Batch,
        stale: dict[int, list[tuple[ActivityReminder, Any]]],
        recipients: dict[int, delivery_service.Recipient],
        now: datetime,
    ) -> None:
        for user_id, pairs in stale.items():
            user = recipients[user_id].user
            ids = [r.id for r, _a in pairs]
            try:
                msg = await self.renderer.stale_summary(s, user, pairs, now=now)
            except Exception:  # noqa: BLE001
                log.exception("rendering the summary of reminders %s failed", ids)
                batch.retry_r.extend(ids)
                continue
            lease = min(r.claimed_until for r, _a in pairs if r.claimed_until is not None)
            batch.jobs.append(
                Job(user.telegram_id, [msg], reminder_ids=ids, lease_until=lease, label=f"summary {ids}")
            )

    async def _render_notifications(
        self,
        s: Any,
        batch: Batch,
        notifications: list[Notification],
        recipients: dict[int, delivery_service.Recipient],
        now: datetime,
    ) -> None:
        for n in notifications:
            if n.category == NotificationCategory.ROOM_EVENT:
                await self._render_room_event(s, batch, n, recipients, now)
                continue
            if n.category == NotificationCategory.ROOM_TOPIC:
                self._topic_state(batch, n)
                continue
            who = recipients.get(n.user_id)
            if who is None or not who.user.is_active:
                batch.failed_n["inactive user"].append(n.id)
                continue
            if who.undeliverable:
                batch.failed_n["undeliverable"].append(n.id)
                continue
            if who.mutes(n.category):
                batch.failed_n["muted"].append(n.id)
                continue
            try:
                msgs = await self.renderer.notification(s, n, who.user, now=now)
            except Exception:  # noqa: BLE001
                log.exception("rendering notification %s failed", n.id)
                batch.retry_n.append(n.id)
                continue
            if not msgs:
                batch.failed_n["nothing to send"].append(n.id)
                continue
            batch.jobs.append(
                Job(
                    who.user.telegram_id,
                    msgs,
                    notification_ids=[n.id],
                    lease_until=n.claimed_until,
                    label=f"notification {n.id} ({n.category})",
                )
            )

    async def _render_room_event(
        self,
        s: Any,
        batch: Batch,
        n: Notification,
        recipients: dict[int, delivery_service.Recipient],
        now: datetime,
    ) -> None:
        """An item's events for its room: to the room's chat and topic (in the payload), whatever
        the person it is filed under muted or blocked."""
        payload = n.payload or {}
        who = recipients.get(n.user_id)
        chat_id = payload.get("chat_id")
        if who is None or not isinstance(chat_id, int):
            batch.failed_n["no room"].append(n.id)
            return
        try:
            msgs = await self.renderer.notification(s, n, who.user, now=now)
        except Exception:  # noqa: BLE001
            log.exception("rendering room events %s failed", n.id)
            batch.retry_n.append(n.id)
            return
        if not msgs:
            batch.failed_n["nothing to send"].append(n.id)
            return
        thread = payload.get("thread_id")
        batch.jobs.append(
            Job(
                chat_id,
                msgs,
                notification_ids=[n.id],
                lease_until=n.claimed_until,
                label=f"room events {n.id}",
                thread_id=thread if isinstance(thread, int) else None,
            )
        )

    @staticmethod
    def _topic_state(batch: Batch, n: Notification) -> None:
        """Close or reopen a room's forum topic: a call, not a message (nothing to render)."""
        payload = n.payload or {}
        chat_id, thread, close = payload.get("chat_id"), payload.get("thread_id"), payload.get("close")
        if not isinstance(chat_id, int) or not isinstance(thread, int) or not isinstance(close, bool):
            batch.failed_n["no topic"].append(n.id)
            return
        batch.jobs.append(
            Job(
                chat_id,
                [],
                notification_ids=[n.id],
                lease_until=n.claimed_until,
                label=f"topic state {n.id}",
                thread_id=thread,
                topic_closed=close,
            )
        )
