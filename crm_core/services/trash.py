"""Trash: deleting moves an item to the trash (hidden everywhere, links kept); it can be restored
for 30 days, then it is purged for good."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import NotFound, ValidationFailed
from crm_core.models.activities import Activity, Task
from crm_core.models.comments import Attachment, Comment
from crm_core.models.items import (
    ITEM_MODELS,
    AnyItem,
    Communication,
    ItemObserver,
    ItemType,
    StageHistory,
)
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.permissions import ensure_active, ensure_can_edit, visible_clause
from crm_core.services import reminders
from crm_core.services.items import flush_or_conflict, model_for
from crm_core.services.timeline import add_event

RETENTION = timedelta(days=30)

# Rows attached to an item by (owner_type, owner_id), deleted with it when it is purged; in an
# order that respects their foreign keys (attachments -> comments -> timeline events).
# Activities take their reminder rows with them (ON DELETE CASCADE).
OWNED_ROWS = (Attachment, Comment, Task, Activity, Communication, ItemObserver, StageHistory, TimelineEvent)


async def delete_item(
    session: AsyncSession, actor: User, item: AnyItem, *, now: datetime | None = None
) -> None:
    """Move an item to the trash (whoever may edit it may delete it)."""
    await ensure_can_edit(session, actor, item)
    now = ensure_utc(now) if now else utcnow()
    item.deleted_at = now
    item.deleted_by_id = actor.id
    await flush_or_conflict(session, item)
    # A trashed item must not ring anyone: its pending reminders are cancelled (restored on restore).
    await reminders.suspend_item_reminders(session, item.ITEM_TYPE, item.id)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.DELETED,
        author_id=actor.id,
        payload={"ref": item.ref},
        at=now,
    )


async def get_trashed(session: AsyncSession, actor: User, item_type: ItemType | str, item_id: int) -> AnyItem:
    ensure_active(actor)
    item = await session.get(model_for(item_type), item_id)
    if item is None or item.deleted_at is None:
        raise NotFound(item_type=str(item_type), item_id=item_id)
    await ensure_can_edit(session, actor, item, allow_deleted=True)
    return item


async def restore_item(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    item_id: int,
    *,
    now: datetime | None = None,
) -> AnyItem:
    """Bring an item back from the trash with its links and timeline; logged as 'restored'."""
    item = await get_trashed(session, actor, item_type, item_id)
    now = ensure_utc(now) if now else utcnow()
    deleted_at = item.deleted_at
    item.deleted_at = None
    item.deleted_by_id = None
    await flush_or_conflict(session, item)
    await reminders.resume_item_reminders(session, item.ITEM_TYPE, item.id, now=now)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.RESTORED,
        author_id=actor.id,
        payload={"deleted_at": deleted_at},
        at=now,
    )
    return item


@dataclass(frozen=True)
class TrashEntry:
    item_type: ItemType
    item: AnyItem

    @property
    def ref(self) -> str:
        return self.item.ref


# Deeper than anyone pages through the trash by hand.
MAX_OFFSET = 1_000_000


async def list_trash(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str | None = None,
    *,
    limit: int = 20,
    offset: int = 0,
) -> list[TrashEntry]:
    """Trashed items the actor may see, most recently deleted first."""
    ensure_active(actor)
    # The offset comes from a button (forgeable): PostgreSQL refuses to bind a number past BIGINT.
    offset = max(0, min(offset, MAX_OFFSET))
    types: Sequence[ItemType] = [ItemType(item_type)] if item_type else list(ItemType)
    entries: list[TrashEntry] = []
    for t in types:
        model = ITEM_MODELS[t]
        rows = await session.scalars(
            select(model)
            .where(model.deleted_at.is_not(None), visible_clause(actor, model, include_deleted=True))
            .order_by(model.deleted_at.desc(), model.id.desc())
            .limit(limit + offset)
        )
        entries += [TrashEntry(t, r) for r in rows]
    entries.sort(key=lambda e: (e.item.deleted_at, e.item.id), reverse=True)
    return entries[offset : offset + limit]


async def purge_trash(session: AsyncSession, now: datetime | None = None, *, batch: int = 1000) -> int:
    """Delete for good the items trashed more than 30 days ago, with everything attached to them
    (phones/emails, observers, stage history, timeline, activities and reminders, tasks, comments,
    attachments). Returns the count.
    A system job: no actor."""
    now = ensure_utc(now) if now else utcnow()
    if batch <= 0:
        raise ValidationFailed("batch must be positive")
    cutoff = now - RETENTION
    total = 0
    # Deals and contacts/companies first: leads are referenced by their lead_id (SET NULL anyway).
    for item_type in (ItemType.DEAL, ItemType.CONTACT, ItemType.COMPANY, ItemType.LEAD):
        model = ITEM_MODELS[item_type]
        while True:
            ids = list(
                await session.scalars(
                    select(model.id)
                    .where(model.deleted_at.is_not(None), model.deleted_at < cutoff)
                    .limit(batch)
                )
            )
            if not ids:
                break
            for child in OWNED_ROWS:
                await session.execute(
                    delete(child).where(child.owner_type == item_type, child.owner_id.in_(ids))
                )
            await session.execute(delete(model).where(model.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch:
                break
    return total
