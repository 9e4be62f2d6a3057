"""Comments on items, attachments (by Telegram file reference), mentions and pinning.

- Adding a comment needs the edit right on the item; editing or deleting one: its author or an admin
  (who must still see the item). Each writes a timeline event (comment_added/edited/deleted,
  file_attached).
- Mentions: `@username` in the text (case-insensitive) and/or explicit user ids. Each mentioned
  active user who may see the item gets a `mentioned` notification (deduplicated per comment and
  user, so an edit re-mentioning someone does not notify them twice). Others are skipped silently:
  telling the author who cannot see the item would leak nothing, but mentioning them gives no access.
- Pinning: any timeline event of an item (a comment pins its comment_added event) can be pinned;
  at most 7 per item, the 8th raises LimitExceeded(limit=7).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import AccessDenied, LimitExceeded, NotFound, ValidationFailed
from crm_core.fields.kinds import fit_offset
from crm_core.models.comments import Attachment, Comment
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.notifications import NotificationCategory
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role, User
from crm_core.permissions import can_view, ensure_active, ensure_can_edit, ensure_can_view
from crm_core.rows import insert_now
from crm_core.services.activities import load_item, touch_item
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event

MAX_PINNED = 7
MAX_COMMENT_LENGTH = 10_000
# Telegram usernames: 5-32 of [A-Za-z0-9_]; accept 3+ for older/bot names. Not inside an email.
MENTION_RE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{3,64})\b")


@dataclass(frozen=True)
class FileRef:
    """A file kept by Telegram: we store its reference, not its bytes."""

    file_id: str
    file_unique_id: str
    name: str = ""
    size: int | None = None
    mime: str | None = None


def _now(now: datetime | None) -> datetime:
    return ensure_utc(now) if now else utcnow()


def mentioned_usernames(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in MENTION_RE.finditer(text or ""):
        seen.setdefault(match.group(1).lower(), None)
    return list(seen)


async def _mention(
    session: AsyncSession,
    *,
    item: AnyItem,
    comment: Comment,
    author: User,
    text: str,
    user_ids: Iterable[int],
    now: datetime,
) -> list[int]:
    """Notify mentioned users who may see the item; returns their ids."""
    names = mentioned_usernames(text)
    ids = {int(i) for i in user_ids}
    if not names and not ids:
        return []
    conds = []
    if names:
        conds.append(func.lower(User.username).in_(names))
    if ids:
        conds.append(User.id.in_(ids))
    users = list(
        await session.scalars(select(User).where(or_(*conds), User.is_active.is_(True)).order_by(User.id))
    )
    notified = []
    excerpt = text if len(text) <= 300 else text[:299] + "…"
    for user in users:
        if user.id == author.id or not await can_view(session, user, item):
            continue
        await notify(
            session,
            user.id,
            NotificationCategory.MENTIONED,
            {
                "comment_id": comment.id,
                "owner_type": str(item.ITEM_TYPE),
                "owner_id": item.id,
                "ref": item.ref,
                "by": author.id,
                "text": excerpt,
            },
            dedupe_key=f"mention:{comment.id}:{user.id}",
            now=now,
        )
        notified.append(user.id)
    return notified


async def add_comment(
    session: AsyncSession,
    actor: User,
    owner_type: ItemType | str,
    owner_id: int,
    text: str,
    *,
    mention_user_ids: Iterable[int] = (),
    files: Sequence[FileRef] = (),
    now: datetime | None = None,
) -> Comment:
    ensure_active(actor)
    now = _now(now)
    text = (text or "").strip()
    if not text and not files:
        raise ValidationFailed("an empty comment", field="text")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed("comment too long", field="text", max=MAX_COMMENT_LENGTH)
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_edit(session, actor, item)
    comment = Comment(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        author_id=actor.id,
        text=text,
        created_at=now,
        updated_at=now,
    )
    await insert_now(session, comment)
    event = await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.COMMENT_ADDED,
        author_id=actor.id,
        payload={"comment_id": comment.id, "text": text, "files": len(files)},
        at=now,
    )
    comment.timeline_event_id = event.id
    for ref in files:
        await _attach(session, actor, item, ref, comment_id=comment.id, now=now)
    await touch_item(session, item, now)
    await _mention(
        session, item=item, comment=comment, author=actor, text=text, user_ids=mention_user_ids, now=now
    )
    await session.flush()
    return comment


async def _comment_for_author(session: AsyncSession, actor: User, comment_id: int) -> tuple[Comment, AnyItem]:
    ensure_active(actor)
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None:
        raise NotFound("comment", comment_id=comment_id)
    item = await load_item(session, comment.owner_type, comment.owner_id)
    await ensure_can_view(session, actor, item)
    if comment.author_id != actor.id and actor.role != Role.ADMIN:
        raise AccessDenied("only the author or an admin", comment_id=comment_id, user_id=actor.id)
    return comment, item


async def edit_comment(
    session: AsyncSession,
    actor: User,
    comment_id: int,
    text: str,
    *,
    mention_user_ids: Iterable[int] = (),
    now: datetime | None = None,
) -> Comment:
    now = _now(now)
    text = (text or "").strip()
    if not text:
        raise ValidationFailed("an empty comment", field="text")
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed("comment too long", field="text", max=MAX_COMMENT_LENGTH)
    comment, item = await _comment_for_author(session, actor, comment_id)
    if text == comment.text:
        return comment
    old = comment.text
    comment.text = text
    comment.edited_at = now
    comment.updated_at = now
    await session.flush()
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.COMMENT_EDITED,
        author_id=actor.id,
        payload={"comment_id": comment.id, "old": old, "new": text},
        at=now,
    )
    # The pinned/listed comment_added entry shows the current text.
    if comment.timeline_event_id is not None:
        event = await session.get(TimelineEvent, comment.timeline_event_id)
        if event is not None:
            event.payload = {**(event.payload or {}), "text": text, "edited": True}
    await _mention(
        session, item=item, comment=comment, author=actor, text=text, user_ids=mention_user_ids, now=now
    )
    await session.flush()
    return comment


async def delete_comment(
    session: AsyncSession, actor: User, comment_id: int, *, now: datetime | None = None
) -> None:
    now = _now(now)
    comment, item = await _comment_for_author(session, actor, comment_id)
    comment.deleted_at = now
    comment.deleted_by_id = actor.id
    if comment.timeline_event_id is not None:
        event = await session.get(TimelineEvent, comment.timeline_event_id)
        if event is not None:
            event.pinned = False
            event.pinned_at = None
            event.payload = {**(event.payload or {}), "text": "", "deleted": True}
    await session.flush()
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.COMMENT_DELETED,
        author_id=actor.id,
        payload={"comment_id": comment.id},
        at=now,
    )


async def _attach(
    session: AsyncSession, actor: User, item: AnyItem, ref: FileRef, *, comment_id: int | None, now: datetime
) -> Attachment:
    if not ref.file_id or not ref.file_unique_id:
        raise ValidationFailed("a file reference is required", field="file_id")
    if ref.size is not None and ref.size < 0:
        raise ValidationFailed("bad file size", field="size")
    attachment = Attachment(
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        comment_id=comment_id,
        file_id=ref.file_id,
        file_unique_id=ref.file_unique_id,
        name=(ref.name or "")[:255],
        size=ref.size,
        mime=ref.mime,
        uploaded_by_id=actor.id,
        created_at=now,
    )
    session.add(attachment)
    await session.flush()
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.FILE_ATTACHED,
        author_id=actor.id,
        payload={
            "attachment_id": attachment.id,
            "comment_id": comment_id,
            "name": attachment.name,
            "size": attachment.size,
            "mime": attachment.mime,
        },
        at=now,
    )
    return attachment


async def attach_file(
    session: AsyncSession,
    actor: User,
    owner_type: ItemType | str,
    owner_id: int,
    ref: FileRef,
    *,
    now: datetime | None = None,
) -> Attachment:
    ensure_active(actor)
    now = _now(now)
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_edit(session, actor, item)
    attachment = await _attach(session, actor, item, ref, comment_id=None, now=now)
    await touch_item(session, item, now)
    return attachment


async def list_attachments(
    session: AsyncSession, actor: User, owner_type: ItemType | str, owner_id: int, *, limit: int = 50
) -> list[Attachment]:
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    rows = await session.scalars(
        select(Attachment)
        .where(
            Attachment.owner_type == ItemType(owner_type),
            Attachment.owner_id == owner_id,
            Attachment.deleted_at.is_(None),
        )
        .order_by(Attachment.created_at.desc(), Attachment.id.desc())
        .limit(limit)
    )
    return list(rows)


async def list_comments(
    session: AsyncSession,
    actor: User,
    owner_type: ItemType | str,
    owner_id: int,
    *,
    limit: int = 20,
    offset: int = 0,
) -> list[Comment]:
    """An item's comments: pinned first, then newest first."""
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    pinned = func.coalesce(TimelineEvent.pinned, False)
    rows = await session.scalars(
        select(Comment)
        .outerjoin(TimelineEvent, TimelineEvent.id == Comment.timeline_event_id)
        .where(
            Comment.owner_type == ItemType(owner_type),
            Comment.owner_id == owner_id,
            Comment.deleted_at.is_(None),
        )
        .order_by(pinned.desc(), TimelineEvent.pinned_at.desc(), Comment.created_at.desc(), Comment.id.desc())
        .limit(limit)
        .offset(fit_offset(offset))
    )
    return list(rows)


# --- pinning -----------------------------------------------------------------------------------


async def _event_for_edit(session: AsyncSession, actor: User, event_id: int) -> tuple[TimelineEvent, AnyItem]:
    ensure_active(actor)
    event = await session.get(TimelineEvent, event_id)
    if event is None:
        raise NotFound("timeline event", event_id=event_id)
    # Lock the item row: two concurrent pins must not both see 6 and make 8 (PostgreSQL; SQLite
    # transactions are serialised anyway).
    item = await load_item(session, event.owner_type, event.owner_id, for_update=True)
    await ensure_can_edit(session, actor, item)
    return event, item


async def pinned_count(session: AsyncSession, owner_type: ItemType | str, owner_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(
                TimelineEvent.owner_type == ItemType(owner_type),
                TimelineEvent.owner_id == owner_id,
                TimelineEvent.pinned.is_(True),
            )
        )
        or 0
    )


async def pin_event(
    session: AsyncSession, actor: User, event_id: int, *, now: datetime | None = None
) -> TimelineEvent:
    """Pin a timeline record to the top of its item's timeline (at most 7 per item)."""
    now = _now(now)
    event, item = await _event_for_edit(session, actor, event_id)
    if event.pinned:
        return event
    if (event.payload or {}).get("deleted"):
        raise ValidationFailed("a deleted comment cannot be pinned", event_id=event_id)
    if await pinned_count(session, item.ITEM_TYPE, item.id) >= MAX_PINNED:
        raise LimitExceeded(f"at most {MAX_PINNED} pinned records per item", limit=MAX_PINNED, ref=item.ref)
    event.pinned = True
    event.pinned_at = now
    await session.flush()
    return event


async def unpin_event(session: AsyncSession, actor: User, event_id: int) -> TimelineEvent:
    event, _item = await _event_for_edit(session, actor, event_id)
    if event.pinned:
        event.pinned = False
        event.pinned_at = None
        await session.flush()
    return event


async def _comment_event_id(session: AsyncSession, actor: User, comment_id: int) -> int:
    comment = await session.get(Comment, comment_id)
    if comment is None or comment.deleted_at is not None or comment.timeline_event_id is None:
        raise NotFound("comment", comment_id=comment_id)
    return comment.timeline_event_id


async def pin_comment(
    session: AsyncSession, actor: User, comment_id: int, *, now: datetime | None = None
) -> TimelineEvent:
    return await pin_event(session, actor, await _comment_event_id(session, actor, comment_id), now=now)


async def unpin_comment(session: AsyncSession, actor: User, comment_id: int) -> TimelineEvent:
    return await unpin_event(session, actor, await _comment_event_id(session, actor, comment_id))


# Built once (values bound at execution): the card runs it on every render.
_PINNED = (
    select(TimelineEvent)
    .where(
        TimelineEvent.owner_type == bindparam("owner_type"),
        TimelineEvent.owner_id == bindparam("owner_id"),
        TimelineEvent.pinned.is_(True),
    )
    .order_by(TimelineEvent.pinned_at.desc(), TimelineEvent.id.desc())
)


async def list_pinned(
    session: AsyncSession, actor: User, owner_type: ItemType | str, owner_id: int
) -> list[Any]:
    """The item's pinned timeline records, most recently pinned first."""
    item = await load_item(session, owner_type, owner_id)
    await ensure_can_view(session, actor, item)
    rows = await session.scalars(_PINNED, {"owner_type": ItemType(owner_type), "owner_id": owner_id})
    return list(rows)
