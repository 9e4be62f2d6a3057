"""Trash and what hangs on an item: reminders pause while it is in the trash, and purging takes
activities, reminders, tasks, comments and attachments with it."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.activities import Activity, ActivityReminder, ReminderState, Task
from crm_core.models.comments import Attachment, Comment
from crm_core.models.timeline import TimelineEvent
from crm_core.services import activities, comments, tasks, trash
from crm_core.services.comments import FileRef
from tests.core.factories import make_admin, make_deal

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def _live_reminders(session: AsyncSession, activity_id: int) -> int:
    return await session.scalar(
        select(func.count())
        .select_from(ActivityReminder)
        .where(ActivityReminder.activity_id == activity_id, ActivityReminder.state == ReminderState.PENDING)
    )


async def test_trashed_item_stops_reminding_until_restored(session: AsyncSession) -> None:
    admin = await make_admin(session)
    deal = await make_deal(session, admin, title="Boiler")
    act = await activities.create_activity(
        session, admin, owner_type="deal", owner_id=deal.id, deadline=NOW + timedelta(days=1), now=NOW
    )
    before = await _live_reminders(session, act.id)
    assert before >= 1
    await trash.delete_item(session, admin, deal, now=NOW)
    assert await _live_reminders(session, act.id) == 0
    await trash.restore_item(session, admin, "deal", deal.id, now=NOW + timedelta(hours=1))
    assert await _live_reminders(session, act.id) == before


async def test_purge_removes_everything_attached(session: AsyncSession) -> None:
    admin = await make_admin(session)
    deal = await make_deal(session, admin, title="Old")
    keep = await make_deal(session, admin, title="Kept")
    for item in (deal, keep):
        await activities.create_activity(
            session, admin, owner_type="deal", owner_id=item.id, deadline=NOW + timedelta(days=1), now=NOW
        )
        await tasks.create_task(
            session, admin, owner_type="deal", owner_id=item.id, title="Send offer", now=NOW
        )
        await comments.add_comment(
            session,
            admin,
            "deal",
            item.id,
            "note",
            files=[FileRef(file_id="f", file_unique_id="u", name="a.pdf", size=10, mime="application/pdf")],
            now=NOW,
        )
    await trash.delete_item(session, admin, deal, now=NOW)
    assert await trash.purge_trash(session, NOW + timedelta(days=31)) == 1

    for model in (Activity, Task, Comment, Attachment, TimelineEvent):
        owned = (
            select(func.count())
            .select_from(model)
            .where(model.owner_id == deal.id, model.owner_type == "deal")
        )
        kept = (
            select(func.count())
            .select_from(model)
            .where(model.owner_id == keep.id, model.owner_type == "deal")
        )
        assert await session.scalar(owned) == 0, model.__name__
        assert await session.scalar(kept) >= 1, model.__name__
    orphans = (
        select(func.count())
        .select_from(ActivityReminder)
        .where(ActivityReminder.activity_id.not_in(select(Activity.id)))
    )
    assert await session.scalar(orphans) == 0


async def test_calendar_hides_activities_of_trashed_items(session: AsyncSession) -> None:
    from crm_core.services.counters import calendar_month

    admin = await make_admin(session)
    gone = await make_deal(session, admin, title="Gone")
    here = await make_deal(session, admin, title="Here")
    for item in (gone, here):
        await activities.create_activity(
            session, admin, owner_type="deal", owner_id=item.id, deadline=NOW + timedelta(days=1), now=NOW
        )
    await trash.delete_item(session, admin, gone, now=NOW)
    days = await calendar_month(session, admin, 2026, 11)
    owners = [a.owner_id for acts in days.values() for a in acts]
    assert owners == [here.id]
