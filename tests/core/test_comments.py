"""Comments, mentions, attachments, pinning (at most 7), and the notification outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, LimitExceeded, NotFound, ValidationFailed
from crm_core.models.comments import Attachment
from crm_core.models.notifications import Notification, NotificationState
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import comments as svc
from crm_core.services import notifications as outbox
from crm_core.services.timeline import item_timeline
from tests.core.factories import make_admin, make_deal, make_lead, make_user

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


async def timeline(session, item, *types):
    rows = await session.scalars(
        select(TimelineEvent)
        .where(
            TimelineEvent.owner_type == item.ITEM_TYPE,
            TimelineEvent.owner_id == item.id,
            TimelineEvent.event_type.in_(types),
        )
        .order_by(TimelineEvent.id)
    )
    return list(rows)


async def mentions_of(session, user):
    rows = await session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.category == "mentioned")
    )
    return list(rows)


async def test_add_comment_with_mentions_notifies_those_who_can_see(session):
    author = await make_user(session, username="author")
    observer = await make_user(session, username="Olga_Sales")
    outsider = await make_user(session, username="outsider")
    by_id = await make_user(session)
    lead = await make_lead(session, author, observer_ids=[observer.id, by_id.id])
    comment = await svc.add_comment(
        session,
        author,
        "lead",
        lead.id,
        "Hi @olga_sales and @outsider, mail me at me@author.com, @author @nobody_here",
        mention_user_ids=[by_id.id],
        now=NOW,
    )
    [event] = await timeline(session, lead, EventType.COMMENT_ADDED)
    assert comment.timeline_event_id == event.id and event.payload["comment_id"] == comment.id
    [note] = await mentions_of(session, observer)
    assert note.payload["comment_id"] == comment.id and note.payload["by"] == author.id
    assert len(await mentions_of(session, by_id)) == 1
    assert await mentions_of(session, outsider) == []  # cannot see the lead
    assert await mentions_of(session, author) == []  # not oneself
    assert (await session.get(type(lead), lead.id)).last_activity_at == NOW

    # Editing keeps a mention once (dedupe) and notifies a newly mentioned one.
    await svc.edit_comment(session, author, comment.id, "Still @olga_sales", mention_user_ids=[by_id.id])
    assert len(await mentions_of(session, observer)) == 1


async def test_a_comment_leaves_the_loaded_item_as_stored(session):
    """The item stays loaded through the unit of work: what it holds must be the row's values."""
    author = await make_user(session)
    lead = await make_lead(session, author)
    await svc.add_comment(session, author, "lead", lead.id, "Called", now=NOW)
    table = type(lead).__table__
    row = (
        await session.execute(
            select(table.c.updated_at, table.c.last_activity_at).where(table.c.id == lead.id)
        )
    ).one()
    assert lead.last_activity_at == row.last_activity_at == NOW
    assert lead.updated_at == row.updated_at


async def test_mentions_parser():
    assert svc.mentioned_usernames("@Anna, @anna @bob_1! x@y.com @ab") == ["anna", "bob_1"]


async def test_empty_and_access(session):
    author = await make_user(session)
    stranger = await make_user(session)
    lead = await make_lead(session, author)
    with pytest.raises(ValidationFailed):
        await svc.add_comment(session, author, "lead", lead.id, "   ")
    with pytest.raises(AccessDenied):
        await svc.add_comment(session, stranger, "lead", lead.id, "hello")
    with pytest.raises(NotFound):
        await svc.add_comment(session, author, "deal", 424242, "hello")


async def test_edit_and_delete_only_by_author_or_admin(session):
    author = await make_user(session)
    observer = await make_user(session)
    admin = await make_admin(session)
    lead = await make_lead(session, author, observer_ids=[observer.id])
    c = await svc.add_comment(session, author, "lead", lead.id, "first", now=NOW)
    with pytest.raises(AccessDenied):
        await svc.edit_comment(session, observer, c.id, "hacked")
    with pytest.raises(AccessDenied):
        await svc.delete_comment(session, observer, c.id)
    await svc.edit_comment(session, author, c.id, "second", now=NOW)
    assert c.text == "second" and c.edited_at == NOW
    [edited] = await timeline(session, lead, EventType.COMMENT_EDITED)
    assert edited.payload == {"comment_id": c.id, "old": "first", "new": "second"}
    await svc.delete_comment(session, admin, c.id, now=NOW)
    [deleted] = await timeline(session, lead, EventType.COMMENT_DELETED)
    assert deleted.author_id == admin.id
    assert await svc.list_comments(session, author, "lead", lead.id) == []
    with pytest.raises(NotFound):
        await svc.edit_comment(session, author, c.id, "again")


async def test_attachments_by_reference(session):
    user = await make_user(session)
    deal = await make_deal(session, user)
    doc = svc.FileRef(
        file_id="BQACAgI", file_unique_id="AgAD1", name="offer.pdf", size=12345, mime="application/pdf"
    )
    c = await svc.add_comment(session, user, "deal", deal.id, "", files=[doc], now=NOW)
    loose = await svc.attach_file(
        session, user, "deal", deal.id, svc.FileRef(file_id="AgACAgI", file_unique_id="AQAD2"), now=NOW
    )
    files = await svc.list_attachments(session, user, "deal", deal.id)
    assert {(a.file_id, a.comment_id) for a in files} == {("BQACAgI", c.id), ("AgACAgI", None)}
    stored = await session.get(Attachment, loose.id)
    assert stored.file_unique_id == "AQAD2"
    events = await timeline(session, deal, EventType.FILE_ATTACHED)
    assert [e.payload["name"] for e in events] == ["offer.pdf", ""]
    with pytest.raises(ValidationFailed):
        await svc.attach_file(session, user, "deal", deal.id, svc.FileRef(file_id="", file_unique_id="x"))


async def test_pin_at_most_seven_and_pinned_first(session):
    user = await make_user(session)
    lead = await make_lead(session, user)
    other = await make_lead(session, user)
    comments = [
        await svc.add_comment(session, user, "lead", lead.id, f"c{i}", now=NOW + timedelta(minutes=i))
        for i in range(9)
    ]
    for i, c in enumerate(comments[:7]):
        await svc.pin_comment(session, user, c.id, now=NOW + timedelta(hours=1, minutes=i))
    await svc.pin_comment(session, user, comments[0].id)  # already pinned: no-op
    with pytest.raises(LimitExceeded) as exc:
        await svc.pin_comment(session, user, comments[7].id)
    assert exc.value.params["limit"] == 7 and exc.value.code == "limit_exceeded"
    # Another item has its own seven.
    c_other = await svc.add_comment(session, user, "lead", other.id, "elsewhere", now=NOW)
    await svc.pin_comment(session, user, c_other.id)

    listed = await svc.list_comments(session, user, "lead", lead.id, limit=20)
    assert [c.text for c in listed] == ["c6", "c5", "c4", "c3", "c2", "c1", "c0", "c8", "c7"]
    timeline_view = await item_timeline(session, user, lead, limit=3)
    assert all(e.pinned for e in timeline_view[:7])

    await svc.unpin_comment(session, user, comments[3].id)
    await svc.pin_comment(session, user, comments[7].id)
    assert len(await svc.list_pinned(session, user, "lead", lead.id)) == 7
    # Deleting a pinned comment unpins it.
    await svc.delete_comment(session, user, comments[7].id)
    assert len(await svc.list_pinned(session, user, "lead", lead.id)) == 6
    # Any timeline record can be pinned, e.g. the "created" event.
    [created] = await timeline(session, lead, EventType.CREATED)
    await svc.pin_event(session, user, created.id)
    assert len(await svc.list_pinned(session, user, "lead", lead.id)) == 7


# --- notification outbox -------------------------------------------------------------------------


async def test_notify_mute_and_dedupe(session):
    user = await make_user(session)
    n1 = await outbox.notify(session, user.id, "reminder", {"a": 1}, dedupe_key="k1", now=NOW)
    n2 = await outbox.notify(session, user.id, "reminder", {"a": 2}, dedupe_key="k1", now=NOW)
    assert n1.id == n2.id and n2.payload == {"a": 1}
    await outbox.mute_category(session, user, "digest")
    await outbox.mute_category(session, user, "digest")
    assert await outbox.notify(session, user.id, "digest", {}) is None
    assert await outbox.muted_categories(session, user.id) == {"digest"}
    await outbox.unmute_category(session, user, "digest")
    assert await outbox.notify(session, user.id, "digest", {}) is not None


async def test_outbox_rows_roll_back_with_the_change(db):
    async with db.unit_of_work() as s:
        user = await make_user(s)
        lead = await make_lead(s, user)
        mentioned = await make_user(s, username="mentioned_one")
        await s.flush()
        from crm_core.services.items import add_observer

        await add_observer(s, user, lead, mentioned.id)
    with pytest.raises(RuntimeError):
        async with db.unit_of_work() as s:
            actor = await s.get(type(user), user.id)
            await svc.add_comment(s, actor, "lead", lead.id, "@mentioned_one look")
            raise RuntimeError("the handler failed after the change")
    async with db.unit_of_work() as s:
        assert await mentions_of(s, mentioned) == []


async def test_outbox_claim_send_release_and_concurrency(db):
    async with db.unit_of_work() as s:
        user = await make_user(s)
        for i in range(10):
            await outbox.notify(s, user.id, "reminder", {"i": i}, now=NOW + timedelta(seconds=i))

    async def worker(name: str) -> list[int]:
        got: list[int] = []
        while True:
            async with db.unit_of_work() as s:
                rows = await outbox.claim_notifications(
                    s, now=NOW + timedelta(minutes=1), lease_seconds=60, worker_id=name, limit=3
                )
            if not rows:
                return got
            got.extend(r.id for r in rows)

    results = await asyncio.gather(worker("a"), worker("b"))
    ids = [i for r in results for i in r]
    assert len(ids) == 10 and len(set(ids)) == 10

    async with db.unit_of_work() as s:
        assert await outbox.mark_notifications_sent(s, ids[:5], NOW + timedelta(minutes=1)) == 5
        await outbox.release_notifications(s, ids[5:8], NOW + timedelta(minutes=10), error="timeout")
        await outbox.mark_notifications_failed(s, ids[8:9], error="bot blocked")
    t = NOW + timedelta(seconds=90)
    async with db.unit_of_work() as s:
        # The last one's lease has not expired; the released ones wait for their retry time.
        assert await outbox.claim_notifications(s, now=t, lease_seconds=60, worker_id="c", limit=10) == []
    async with db.unit_of_work() as s:
        again = await outbox.claim_notifications(
            s, now=NOW + timedelta(minutes=10), lease_seconds=60, worker_id="c", limit=10
        )
        assert sorted(r.id for r in again) == sorted(ids[5:8] + ids[9:])
        assert {r.attempts for r in again} == {2}
    async with db.unit_of_work() as s:
        states = {n.id: n.state for n in await s.scalars(select(Notification))}
        assert [states[i] for i in ids[:5]] == [NotificationState.SENT] * 5
        assert states[ids[8]] == NotificationState.FAILED


async def test_two_open_transactions_skip_each_others_notifications_on_postgresql(db):
    if db.is_sqlite:
        pytest.skip("SQLite serialises writers")
    async with db.unit_of_work() as s:
        user = await make_user(s)
        for i in range(4):
            await outbox.notify(s, user.id, "reminder", {"i": i}, now=NOW)
    async with db.sessionmaker() as s1, db.sessionmaker() as s2:
        a = await outbox.claim_notifications(s1, now=NOW, lease_seconds=60, worker_id="a", limit=3)
        b = await asyncio.wait_for(
            outbox.claim_notifications(s2, now=NOW, lease_seconds=60, worker_id="b", limit=3), 10
        )
        assert len(a) == 3 and len(b) == 1 and not {r.id for r in a} & {r.id for r in b}
        await s1.commit()
        await s2.commit()
