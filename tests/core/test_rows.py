"""crm_core.rows.insert_now: a new row written by a Core INSERT is what a flush would have written,
and the object is left in the session as if loaded."""

from __future__ import annotations

from contextlib import nullcontext

import pytest
from sqlalchemy import event, select

from crm_core.db import Database
from crm_core.models import Comment, Lead, TimelineEvent
from crm_core.models.items import ItemType
from crm_core.models.timeline import EventType
from crm_core.rows import insert_now
from tests.core.factories import make_lead, make_user
from tests.core.sql_log import statements


def _verb_and_table(statement: str) -> str:
    words = statement.split()  # "UPDATE leads ...", "INSERT INTO comments ..."
    return f"{words[0]} {words[1] if words[0] == 'UPDATE' else words[2]}"


async def test_the_row_is_written_with_its_defaults_and_stays_loaded(db: Database) -> None:
    async with db.unit_of_work() as s:
        user = await make_user(s)
        lead = await make_lead(s, user)
        event_row = TimelineEvent(
            owner_type=ItemType.LEAD, owner_id=lead.id, event_type=EventType.COMMENT_ADDED, author_id=user.id
        )
        assert await insert_now(s, event_row) is event_row
        assert isinstance(event_row.id, int)
        # Defaults as a flush applies them: a constant, a function of no argument.
        assert event_row.pinned is False and event_row.payload == {} and event_row.created_at is not None
        assert await s.get(TimelineEvent, event_row.id) is event_row  # in the identity map, no SELECT
        event_row.pinned = True  # a change after it is written goes out as an UPDATE
    async with db.unit_of_work() as s:
        row = (
            await s.execute(
                select(TimelineEvent.pinned, TimelineEvent.payload, TimelineEvent.owner_id).where(
                    TimelineEvent.id == event_row.id
                )
            )
        ).one()
        assert tuple(row) == (True, {}, lead.id)


@pytest.mark.parametrize("autoflush", [True, False], ids=["autoflush", "no_autoflush"])
async def test_pending_changes_are_written_first_and_a_clean_session_costs_one_statement(
    db: Database, autoflush: bool
) -> None:
    async with db.unit_of_work() as s:
        user = await make_user(s)
        lead = await make_lead(s, user)
    with statements(db, _verb_and_table) as seen:
        async with db.unit_of_work() as s:
            lead = await s.get(Lead, lead.id)
            seen.clear()
            with nullcontext() if autoflush else s.no_autoflush:
                lead.title = "Renamed before the comment"
                first = await insert_now(
                    s, Comment(owner_type=ItemType.LEAD, owner_id=lead.id, author_id=user.id, text="one")
                )
                assert seen == ["UPDATE leads", "INSERT comments"]  # the pending change, then the row
                seen.clear()
                second = await insert_now(
                    s, Comment(owner_type=ItemType.LEAD, owner_id=lead.id, author_id=user.id, text="two")
                )
                assert seen == ["INSERT comments"]
                assert second.id > first.id
    async with db.unit_of_work() as s:
        texts = await s.scalars(select(Comment.text).where(Comment.owner_id == lead.id).order_by(Comment.id))
        assert texts.all() == ["one", "two"]
        assert (await s.get(Lead, lead.id)).title == "Renamed before the comment"


async def test_a_class_it_cannot_write_is_flushed_as_before(db: Database) -> None:
    """A lead has a version counter (and relationships): insert_now adds and flushes it."""
    async with db.unit_of_work() as s:
        user = await make_user(s)
        other = await make_lead(s, user)
        lead = Lead(
            title="By flush",
            responsible_id=user.id,
            created_by_id=user.id,
            updated_by_id=user.id,
            pipeline_id=other.pipeline_id,
            stage_id=other.stage_id,
        )
        flushed: list[object] = []
        event.listen(s.sync_session, "after_flush", lambda session, _ctx: flushed.extend(session.new))
        await insert_now(s, lead)
        assert flushed == [lead]  # written by the session's flush, not by a statement of its own
        assert lead.id is not None and lead in s
        assert lead.version == 1
    async with db.unit_of_work() as s:
        assert await s.scalar(select(Lead.title).where(Lead.id == lead.id)) == "By flush"
