"""Deal rooms in crm_core: tokens (single-use, expiring, personal), one room per item and one item
per group, who may unbind, migration, and the room feed summarising a burst into one outbox row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, RoomRefused
from crm_core.models.items import ItemType
from crm_core.models.notifications import Notification, NotificationCategory, NotificationState
from crm_core.models.rooms import Room
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role
from crm_core.services import comments, room_feed, rooms
from tests.core.factories import make_admin, make_deal, make_lead, make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_tokens_are_single_use_personal_and_expire(session) -> None:
    sales = await make_user(session, Role.SALESPERSON)
    other = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, sales)
    token = await rooms.create_token(session, sales, ItemType.DEAL, deal.id, now=T0)
    assert token.startswith(rooms.TOKEN_PREFIX) and str(deal.id) != token[5:]
    with pytest.raises(RoomRefused) as refused:
        await rooms.take_token(session, other, token, now=T0)
    assert refused.value.reason == "token_unknown"
    with pytest.raises(RoomRefused) as refused:
        await rooms.take_token(session, sales, token, now=T0 + rooms.TOKEN_TTL)
    assert refused.value.reason == "token_expired"
    assert (await rooms.take_token(session, sales, token, now=T0 + timedelta(minutes=5))).id == deal.id
    with pytest.raises(RoomRefused) as refused:
        await rooms.take_token(session, sales, token, now=T0 + timedelta(minutes=6))
    assert refused.value.reason == "token_used"
    # Only someone who may see the item gets a token at all.
    with pytest.raises(AccessDenied):
        await rooms.create_token(session, other, ItemType.DEAL, deal.id, now=T0)


async def test_one_room_per_item_one_item_per_group_topics_share_the_forum(session) -> None:
    admin = await make_admin(session)
    deal = await make_deal(session, admin)
    lead = await make_lead(session, admin)
    room = await rooms.bind(session, admin, deal, chat_id=-100, title="ACME", now=T0)
    assert (await rooms.room_in_chat(session, -100)) is room
    with pytest.raises(RoomRefused) as refused:
        await rooms.bind(session, admin, deal, chat_id=-200, title="again")
    assert refused.value.reason == "item_has_room"
    with pytest.raises(RoomRefused) as refused:
        await rooms.bind(session, admin, lead, chat_id=-100, title="same group")
    assert refused.value.reason == "chat_taken"
    await rooms.register_forum(session, admin, -300, "Team")
    with pytest.raises(RoomRefused):
        await rooms.bind(session, admin, lead, chat_id=-300, title="not a topic")
    topic_room = await rooms.bind(session, admin, lead, chat_id=-300, title="L topic", thread_id=12)
    assert await rooms.room_in_chat(session, -300, 12) is topic_room
    assert await rooms.room_in_chat(session, -300) is None
    bound = await session.scalars(
        select(TimelineEvent).where(TimelineEvent.event_type == EventType.ROOM_BOUND)
    )
    assert {(e.owner_type, e.payload["title"]) for e in bound} == {
        (ItemType.DEAL, "ACME"),
        (ItemType.LEAD, "L topic"),
    }


async def test_unbind_by_responsible_or_admin_and_migration(session) -> None:
    sales = await make_user(session, Role.SALESPERSON)
    observer = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, sales, observer_ids=[observer.id])
    room = await rooms.bind(session, sales, deal, chat_id=-100, title="ACME")
    assert await rooms.migrate_chat(session, -100, -1000100) == 1
    await session.refresh(room)
    assert room.chat_id == -1000100
    with pytest.raises(RoomRefused):
        await rooms.unbind_by(session, observer, room)
    await rooms.unbind_by(session, sales, room)
    assert await session.scalar(select(Room)) is None
    [gone] = await session.scalars(
        select(TimelineEvent).where(TimelineEvent.event_type == EventType.ROOM_UNBOUND)
    )
    assert gone.payload == {"title": "ACME", "reason": "command"} and gone.author_id == sales.id


async def test_a_burst_of_events_is_one_room_notification(session) -> None:
    sales = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, sales)
    await comments.add_comment(session, sales, ItemType.DEAL, deal.id, "before the room")
    room = await rooms.bind(session, sales, deal, chat_id=-100, title="ACME")
    for n in range(3):
        await comments.add_comment(session, sales, ItemType.DEAL, deal.id, f"c{n}")
    with room_feed.acting_in_room(room.id):  # said in the room itself: not echoed back
        await comments.add_comment(session, sales, ItemType.DEAL, deal.id, "in the room")
    [row] = await session.scalars(
        select(Notification).where(Notification.category == NotificationCategory.ROOM_EVENT)
    )
    assert len(row.payload["events"]) == 3 and row.payload["chat_id"] == -100
    assert row.available_at > row.created_at  # waits for the rest of the burst
    # Once claimed, the next event opens a new summary.
    row.state = NotificationState.CLAIMED
    await session.flush()
    await comments.add_comment(session, sales, ItemType.DEAL, deal.id, "later")
    rows = list(
        await session.scalars(
            select(Notification).where(Notification.category == NotificationCategory.ROOM_EVENT)
        )
    )
    assert len(rows) == 2


async def test_removal_cancels_what_waited_for_the_room(session) -> None:
    sales = await make_user(session, Role.SALESPERSON)
    deal = await make_deal(session, sales)
    await rooms.bind(session, sales, deal, chat_id=-100, title="ACME")
    await comments.add_comment(session, sales, ItemType.DEAL, deal.id, "queued")
    assert len(await rooms.chat_gone(session, -100)) == 1
    [row] = await session.scalars(
        select(Notification).where(Notification.category == NotificationCategory.ROOM_EVENT)
    )
    await session.refresh(row)
    assert row.state == NotificationState.CANCELLED


async def test_summaries_to_one_chat_are_spaced_topics_of_a_forum_together(session) -> None:
    admin = await make_admin(session)
    first, second = await make_deal(session, admin), await make_deal(session, admin)
    await rooms.register_forum(session, admin, -300, "Team")
    rooms_ = [
        await rooms.bind(session, admin, d, chat_id=-300, title=f"T{n}", thread_id=10 + n)
        for n, d in enumerate((first, second))
    ]

    async def summaries() -> list[Notification]:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.category == NotificationCategory.ROOM_EVENT)
            .order_by(Notification.id)
        )
        return list(rows)

    await comments.add_comment(session, admin, ItemType.DEAL, first.id, "one")
    await comments.add_comment(session, admin, ItemType.DEAL, second.id, "two")  # the other topic
    [a, b] = await summaries()
    assert [a.payload["thread_id"], b.payload["thread_id"]] == [r.thread_id for r in rooms_]
    gap = timedelta(seconds=room_feed.config.chat_gap)
    assert b.available_at - a.available_at >= gap - timedelta(milliseconds=1)
    # The first topic's summary taken by a worker: its next one waits for a slot after the other's.
    a.state = NotificationState.CLAIMED
    await session.flush()
    await comments.add_comment(session, admin, ItemType.DEAL, first.id, "three")
    c = (await summaries())[-1]
    assert c.available_at - b.available_at >= gap - timedelta(milliseconds=1)
    # Meanwhile it collects: a steady flow is one message per slot, not one per event.
    await comments.add_comment(session, admin, ItemType.DEAL, first.id, "four")
    await session.refresh(c)
    assert len(await summaries()) == 3 and len(c.payload["events"]) == 2
