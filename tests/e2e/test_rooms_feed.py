"""What reaches a room, and who is asked in, after the binding: an item's activity that became
overdue is told to its room whatever the responsible's own reminder settings (once, in the room's
summary), and people who join the item later (an observer added, a new responsible) get the
room's invite link privately, once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from crm_core.clock import utcnow
from crm_core.models import Deal, User
from crm_core.models.activities import ActivityReminder, ReminderKind, ReminderState
from crm_core.models.notifications import NotificationCategory
from crm_core.services import activities as activities_service
from crm_core.services import items as items_service
from crm_core.services import notifications as notifications_service
from tests.e2e.harness import Harness
from tests.e2e.rooms_helpers import (
    GROUP_ID,
    HEAD_ID,
    OBSERVER_ID,
    OUTSIDER_ID,
    SALES_ID,
    bound_room,
    room_bot,
    wait_in_chat,
)

__all__ = ["room_bot"]


def _said(bot: Harness, chat_id: int, marker: int, text: str) -> list[str]:
    return [m.text or "" for m in bot.tg.bot_messages(chat_id) if m.seq > marker and text in (m.text or "")]


async def test_overdue_activity_reaches_the_room_without_reminders_on(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    # The responsible wants no overdue notices of their own; the room never said /reminders on.
    async with bot.app.db.unit_of_work() as s:
        await notifications_service.mute_category(
            s, await s.get(User, people["sales"].id), NotificationCategory.OVERDUE
        )
        await activities_service.create_activity(
            s,
            await s.get(User, people["sales"].id),
            owner_type="deal",
            owner_id=item.id,
            deadline=utcnow() + timedelta(seconds=1.5),
            subject="Send the contract",
            reminder_offsets=[],
        )
    marker = bot.tg.mark()
    [told] = await wait_in_chat(bot, GROUP_ID, marker, lambda m: "Overdue" in (m.text or ""), timeout=15)
    assert "Send the contract" in (told.text or "") and item.ref in (told.text or "")
    # The overdue reminder row claimed again (its lease ran out before "sent" was recorded):
    # the room is not told twice.
    async with bot.app.db.unit_of_work() as s:
        await s.execute(
            update(ActivityReminder)
            .where(ActivityReminder.kind == ReminderKind.OVERDUE)
            .values(state=ReminderState.CLAIMED, claimed_until=utcnow() - timedelta(seconds=1))
        )
    bot.app.scheduler.engine.wake()  # type: ignore[union-attr]
    await asyncio.sleep(1.5)
    assert len(_said(bot, GROUP_ID, marker, "Overdue")) == 1
    assert _said(bot, SALES_ID, 0, "Send the contract") == []  # muted: nothing in private


async def test_people_joining_the_item_later_are_invited_once(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    [link] = [link["invite_link"] for link in bot.tg.invite_links if link["chat_id"] == GROUP_ID]
    for person in (SALES_ID, OBSERVER_ID):
        await wait_in_chat(bot, person, 0, lambda m: "invited to the room" in (m.text or ""))

    async def change(how: str, user_id: int) -> None:
        async with bot.app.db.unit_of_work() as s:
            actor = await s.get(User, people["admin"].id)
            d = await s.get(Deal, item.id)
            if how == "add":
                await items_service.add_observer(s, actor, d, user_id)
            elif how == "remove":
                await items_service.remove_observer(s, actor, d, user_id)
            else:
                await items_service.change_responsible(s, actor, d, user_id)

    await change("add", people["outsider"].id)
    [invite] = await wait_in_chat(bot, OUTSIDER_ID, 0, lambda m: "invited to the room" in (m.text or ""))
    assert invite.inline_keyboard[0][0][2] == link and item.ref in (invite.text or "")
    await change("responsible", people["head"].id)
    [invite] = await wait_in_chat(bot, HEAD_ID, 0, lambda m: "invited to the room" in (m.text or ""))
    assert invite.inline_keyboard[0][0][2] == link
    # Removed and added again, made responsible again: nobody is asked twice.
    await change("remove", people["outsider"].id)
    await change("add", people["outsider"].id)
    await change("responsible", people["sales"].id)
    await change("add", people["observer"].id)
    await asyncio.sleep(1.0)
    for person in (SALES_ID, OBSERVER_ID, OUTSIDER_ID, HEAD_ID):
        assert len(_said(bot, person, 0, "invited to the room")) == 1, person
