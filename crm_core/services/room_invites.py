"""Invites to an item's room, sent privately through the outbox: to the responsible and the
observers when the item is bound, and to whoever becomes its responsible or an observer later.

Once per person and room: the outbox's dedupe key `room:<room>:invite:<user>` is the marker. A
later invite carries the link the binding made (Telegram's link has no member limit or expiry).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.rooms import Room
from crm_core.services.notifications import notify


def _key(room: Room, user_id: int) -> str:
    return f"room:{room.id}:invite:{user_id}"


async def invite(
    session: AsyncSession, room: Room, user_ids: Iterable[int | None], link: str | None
) -> list[int]:
    """Queue an invite for each person not invited to this room yet; returns everyone asked for."""
    people = list(dict.fromkeys(i for i in user_ids if i is not None))
    for user_id in people:
        payload = {
            "owner_type": str(room.owner_type),
            "owner_id": room.owner_id,
            "room_id": room.id,
            "link": link,
        }
        await notify(
            session, user_id, NotificationCategory.ROOM_INVITE, payload, dedupe_key=_key(room, user_id)
        )
    return people


async def invite_later(session: AsyncSession, room: Room, user_id: int) -> None:
    """Someone joined the item after the binding: the same link as the others got."""
    payloads = await session.scalars(
        select(Notification.payload)
        .where(
            Notification.dedupe_key.like(f"room:{room.id}:invite:%"),
            Notification.category == NotificationCategory.ROOM_INVITE,
        )
        .order_by(Notification.id)
        .limit(1)
    )
    first = next(iter(payloads), None) or {}
    link = first.get("link")
    await invite(session, room, [user_id], link if isinstance(link, str) else None)
