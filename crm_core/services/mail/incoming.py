"""A letter that arrived: recorded once, matched to its item (a reply to our letter goes to the
item that letter came from, else the sender's contact, company or lead by normalised email),
landed on the item's timeline with an incoming Email activity for the responsible, who is
notified. An unknown sender makes a lead (source EMAIL) or waits in the unsorted list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, NotFound, ValidationFailed
from crm_core.models.activities import ActivityType
from crm_core.models.items import ITEM_MODELS, AnyItem, CommKind, Communication, ItemType
from crm_core.models.mail import Letter, LetterAttachment, LetterDirection, Mailbox
from crm_core.models.timeline import EventType
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active, ensure_can_edit
from crm_core.services import activities as activity_service
from crm_core.services import items as item_service
from crm_core.services.communications import try_normalize_email
from crm_core.services.mail.parse import ParsedLetter, split_quote
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event

MAIL_IN = "mail_in"  # the notification category of an incoming letter
MAIL_UNSORTED = "mail_unsorted"  # a letter from an unknown sender waits to be sorted
LEAD_SOURCE = "EMAIL"
PREVIEW = 300
# The order a sender's items are looked for in: the person, their company, then a lead.
_SENDER_ORDER = (ItemType.CONTACT, ItemType.COMPANY, ItemType.LEAD)


def preview(letter: Letter | ParsedLetter) -> str:
    fresh, _quoted = split_quote(letter.body or "")
    return " ".join(fresh.split())[:PREVIEW]


async def _alive(session: AsyncSession, owner_type: ItemType, owner_id: int) -> AnyItem | None:
    item = await session.get(ITEM_MODELS[owner_type], owner_id)
    return item if item is not None and item.deleted_at is None else None


async def _thread_owner(session: AsyncSession, parsed: ParsedLetter) -> AnyItem | None:
    ids = [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
    if not ids:
        return None
    rows = await session.execute(
        select(Letter.message_id, Letter.owner_type, Letter.owner_id).where(
            Letter.message_id.in_(ids), Letter.owner_id.is_not(None)
        )
    )
    by_id = {mid: (t, o) for mid, t, o in rows}
    for mid in ids:
        if mid in by_id:
            item = await _alive(session, ItemType(by_id[mid][0]), by_id[mid][1])
            if item is not None:
                return item
    return None


async def _sender_owner(session: AsyncSession, email: str) -> AnyItem | None:
    if not email:
        return None
    for item_type in _SENDER_ORDER:
        model = ITEM_MODELS[item_type]
        item = await session.scalar(
            select(model)
            .join(
                Communication,
                (Communication.owner_type == item_type) & (Communication.owner_id == model.id),
            )
            .where(
                Communication.kind == CommKind.EMAIL,
                Communication.normalized == email,
                model.deleted_at.is_(None),
            )
            .order_by(model.id.desc())
            .limit(1)
        )
        if item is not None:
            return item
    return None


async def _new_lead(session: AsyncSession, box: Mailbox, parsed: ParsedLetter, now: datetime) -> AnyItem:
    actor = await session.get(User, box.owner_id or box.responsible_id)
    assert actor is not None
    fields: dict[str, Any] = {"title": (parsed.subject or parsed.from_name or parsed.from_addr)[:255]}
    if parsed.from_name:
        fields["name"] = parsed.from_name[:100]
    return await item_service.create_lead(
        session,
        actor,
        **fields,
        source=LEAD_SOURCE,
        emails=[email] if (email := try_normalize_email(parsed.from_addr)) else [],
        check_required=False,
        now=now,
    )


async def is_recorded(session: AsyncSession, message_id: str) -> bool:
    return bool(await session.scalar(select(func.count()).where(Letter.message_id == message_id)))


async def record_incoming(
    session: AsyncSession,
    box: Mailbox,
    parsed: ParsedLetter,
    *,
    uidvalidity: int | None,
    uid: int | None,
    now: datetime | None = None,
) -> Letter | None:
    """Record a letter once (None when its Message-ID is known) and land it where it belongs."""
    now = now or utcnow()
    if await is_recorded(session, parsed.message_id):
        return None
    item = await _thread_owner(session, parsed) or await _sender_owner(session, parsed.from_addr)
    if item is None and box.unknown_to_lead:
        item = await _new_lead(session, box, parsed, now)
    letter = Letter(
        mailbox_id=box.id,
        direction=LetterDirection.IN,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=" ".join(parsed.references)[:10_000] or None,
        uidvalidity=uidvalidity,
        uid=uid,
        from_addr=parsed.from_addr[:320],
        from_name=parsed.from_name[:255],
        to_addrs=parsed.to,
        cc_addrs=parsed.cc,
        subject=parsed.subject,
        body=parsed.body,
        notes=parsed.notes,
        raw=parsed.raw,
        created_at=now,
    )
    session.add(letter)
    await session.flush()
    for att in parsed.attachments:
        session.add(
            LetterAttachment(letter_id=letter.id, name=att.name, mime=att.mime, size=att.size, data=att.data)
        )
    await session.flush()
    if item is not None:
        await land(session, letter, item, now=now)
    else:
        await notify(
            session,
            box.owner_id or box.responsible_id,
            MAIL_UNSORTED,
            {"letter_id": letter.id},
            dedupe_key=f"mail_unsorted:{letter.id}",
            now=now,
        )
    return letter


async def attachments_of(session: AsyncSession, letter_id: int) -> list[LetterAttachment]:
    rows = await session.scalars(
        select(LetterAttachment).where(LetterAttachment.letter_id == letter_id).order_by(LetterAttachment.id)
    )
    return list(rows)


def timeline_payload(letter: Letter, attachment_names: list[str]) -> dict[str, Any]:
    people = letter.from_addr if letter.direction == LetterDirection.IN else ", ".join(letter.to_addrs)
    text = f"✉️ {letter.subject} · {people}: {preview(letter)}"
    if attachment_names:
        text += " 📎 " + ", ".join(attachment_names)
    return {
        "channel": "email",
        "letter_id": letter.id,
        "subject": letter.subject,
        "text": text,
        "attachments": attachment_names,
    }


async def land(session: AsyncSession, letter: Letter, item: AnyItem, *, now: datetime) -> None:
    """Put a recorded incoming letter on an item: timeline, incoming Email activity, notification."""
    letter.owner_type = item.ITEM_TYPE
    letter.owner_id = item.id
    names = [a.name for a in await attachments_of(session, letter.id)]
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.MESSAGE_IN,
        author_id=None,
        payload=timeline_payload(letter, names),
        at=now,
    )
    activity = await activity_service.create_incoming_activity(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        type=ActivityType.EMAIL,
        subject=(letter.subject or letter.from_addr)[:500],
        description=preview(letter),
        now=now,
    )
    letter.activity_id = activity.id
    await session.flush()
    await notify(
        session,
        activity.responsible_id,
        MAIL_IN,
        {
            "letter_id": letter.id,
            "activity_id": activity.id,
            "owner_type": str(item.ITEM_TYPE),
            "owner_id": item.id,
        },
        dedupe_key=f"mail_in:{letter.id}",
        now=now,
    )


# --- the unsorted list ---------------------------------------------------------------------------


async def unsorted(session: AsyncSession, actor: User, *, limit: int = 20) -> list[Letter]:
    """Letters nobody owns yet: all of them for an admin, those of one's own box for others."""
    ensure_active(actor)
    q = select(Letter).where(Letter.direction == LetterDirection.IN, Letter.owner_id.is_(None))
    if actor.role != Role.ADMIN:
        own = select(Mailbox.id).where(Mailbox.owner_id == actor.id).scalar_subquery()
        q = q.where(Letter.mailbox_id.in_(own))
    rows = await session.scalars(q.order_by(Letter.id.desc()).limit(limit))
    return list(rows)


async def ensure_may_sort(session: AsyncSession, actor: User, letter: Letter) -> None:
    """An unsorted letter is an admin's business, or its box owner's."""
    ensure_active(actor)
    if actor.role == Role.ADMIN:
        return
    box = await session.get(Mailbox, letter.mailbox_id)
    if box is None or box.owner_id != actor.id:
        raise AccessDenied("not your letter", user_id=actor.id)


async def _unsorted_letter(session: AsyncSession, actor: User, letter_id: int) -> Letter:
    letter = await session.get(Letter, letter_id)
    if letter is None or letter.direction != LetterDirection.IN:
        raise NotFound("letter", letter_id=letter_id)
    await ensure_may_sort(session, actor, letter)
    if letter.owner_id is not None:
        raise ValidationFailed("already assigned", field="letter")
    return letter


async def assign(
    session: AsyncSession,
    actor: User,
    letter_id: int,
    item_type: ItemType,
    item_id: int,
    *,
    now: datetime | None = None,
) -> AnyItem:
    """An admin puts an unsorted letter on an item they may edit."""
    letter = await _unsorted_letter(session, actor, letter_id)
    item = await activity_service.load_item(session, item_type, item_id)
    await ensure_can_edit(session, actor, item)
    await land(session, letter, item, now=now or utcnow())
    return item


async def make_lead(
    session: AsyncSession, actor: User, letter_id: int, *, now: datetime | None = None
) -> AnyItem:
    """An admin turns an unsorted letter into a lead (source EMAIL) of the box's responsible."""
    now = now or utcnow()
    letter = await _unsorted_letter(session, actor, letter_id)
    box = await session.get(Mailbox, letter.mailbox_id)
    assert box is not None
    parsed = ParsedLetter(
        message_id=letter.message_id,
        from_addr=letter.from_addr,
        from_name=letter.from_name,
        subject=letter.subject,
    )
    item = await _new_lead(session, box, parsed, now)
    await land(session, letter, item, now=now)
    return item
