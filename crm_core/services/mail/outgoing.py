"""Sending a letter from a card: built here, sent by SMTP from the sender's box, recorded with its
Message-ID (so a reply finds the item) and written on the item's timeline. A failure raises
MailServerError and records nothing: the caller keeps the draft for a retry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import NotFound
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.mail import Letter, LetterAttachment, LetterDirection, Mailbox
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_can_edit, ensure_can_view
from crm_core.services import activities as activity_service
from crm_core.services.communications import emails_of
from crm_core.services.mail import boxes, transport
from crm_core.services.mail.crypto import PasswordBox
from crm_core.services.mail.incoming import ensure_may_sort, timeline_payload
from crm_core.services.mail.rules import (
    check_attachments,
    check_subject,
    check_text,
    parse_recipients,
    reply_subject,
)
from crm_core.services.timeline import add_event


@dataclass
class OutFile:
    name: str
    mime: str
    data: bytes


@dataclass
class Draft:
    to: list[str]
    subject: str
    text: str
    cc: list[str] = field(default_factory=list)
    files: list[OutFile] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)


class NoMailbox(NotFound):
    code = "no_mailbox"


async def suggested_recipients(session: AsyncSession, actor: User, item: AnyItem) -> list[str]:
    """The item's emails, then its client's (a deal's or lead's contact and company)."""
    await ensure_can_view(session, actor, item)
    found = [c.normalized for c in await emails_of(session, item)]
    for attr, item_type in (("contact_id", ItemType.CONTACT), ("company_id", ItemType.COMPANY)):
        client_id = getattr(item, attr, None)
        if client_id:
            client = await activity_service.load_item(session, item_type, client_id)
            if client.deleted_at is None:
                found += [c.normalized for c in await emails_of(session, client)]
    return list(dict.fromkeys(found))


async def reply_draft(session: AsyncSession, actor: User, letter_id: int) -> tuple[AnyItem, Draft]:
    """A draft answering a letter on an item the actor may edit: to its sender, "Re:", threaded."""
    letter = await session.get(Letter, letter_id)
    if letter is None or letter.owner_id is None or letter.owner_type is None:
        raise NotFound("letter", letter_id=letter_id)
    item = await activity_service.load_item(session, letter.owner_type, letter.owner_id)
    await ensure_can_edit(session, actor, item)
    to = [letter.from_addr] if letter.direction == LetterDirection.IN else list(letter.to_addrs)
    refs = (letter.references or "").split() + [letter.message_id]
    draft = Draft(to=to, subject=reply_subject(letter.subject), text="")
    draft.in_reply_to = letter.message_id
    draft.references = list(dict.fromkeys(refs))[-20:]
    return item, draft


def build_message(box: Mailbox, draft: Draft, message_id: str, now: datetime) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = box.address
    msg["To"] = ", ".join(draft.to)
    if draft.cc:
        msg["Cc"] = ", ".join(draft.cc)
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if draft.in_reply_to:
        msg["In-Reply-To"] = draft.in_reply_to
        msg["References"] = " ".join(draft.references or [draft.in_reply_to])
    msg.set_content(draft.text)
    for f in draft.files:
        maintype, _, subtype = (f.mime or "application/octet-stream").partition("/")
        msg.add_attachment(f.data, maintype=maintype, subtype=subtype or "octet-stream", filename=f.name)
    return msg


def validate(draft: Draft) -> Draft:
    draft.to = parse_recipients(" ".join(draft.to))
    draft.cc = parse_recipients(" ".join(draft.cc)) if draft.cc else []
    draft.subject = check_subject(draft.subject)
    draft.text = check_text(draft.text)
    check_attachments([len(f.data) for f in draft.files])
    return draft


async def send_letter(
    session: AsyncSession,
    actor: User,
    item_type: ItemType,
    item_id: int,
    draft: Draft,
    key: str | None,
    *,
    now: datetime | None = None,
) -> Letter:
    """Send `draft` from the actor's box and record it on the item. Raises ValidationFailed,
    NoMailbox, MailServerError (nothing recorded), AccessDenied, NotFound."""
    now = now or utcnow()
    item = await activity_service.load_item(session, item_type, item_id)
    await ensure_can_edit(session, actor, item)
    validate(draft)
    box = await boxes.sending_box(session, actor)
    if box is None:
        raise NoMailbox("no connected mailbox")
    password = PasswordBox(key).decrypt(box.password_encrypted)
    domain = box.address.rpartition("@")[2] or None
    message_id = make_msgid(domain=domain)
    _imap, smtp = boxes.endpoints(box)
    await transport.smtp_send(smtp, box.login, password, build_message(box, draft, message_id, now))
    letter = Letter(
        mailbox_id=box.id,
        direction=LetterDirection.OUT,
        message_id=message_id,
        in_reply_to=draft.in_reply_to,
        references=" ".join(draft.references) or None,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        author_id=actor.id,
        from_addr=box.address,
        to_addrs=draft.to,
        cc_addrs=draft.cc,
        subject=draft.subject,
        body=draft.text,
        notes={},
        created_at=now,
    )
    session.add(letter)
    await session.flush()
    for f in draft.files:
        session.add(
            LetterAttachment(letter_id=letter.id, name=f.name[:255], mime=f.mime[:128], size=len(f.data))
        )
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.MESSAGE_OUT,
        author_id=actor.id,
        payload=timeline_payload(letter, [f.name for f in draft.files]),
        at=now,
    )
    await activity_service.touch_item(session, item, now)
    if draft.in_reply_to:
        # Answering a letter is doing what its incoming activity asked.
        answered = await session.scalar(
            select(Letter).where(
                Letter.message_id == draft.in_reply_to, Letter.direction == LetterDirection.IN
            )
        )
        if answered is not None and answered.activity_id is not None:
            await activity_service.complete_activity(session, actor, answered.activity_id, now=now)
    return letter


async def letters_of(session: AsyncSession, actor: User, item: AnyItem, *, limit: int = 10) -> list[Letter]:
    await ensure_can_view(session, actor, item)
    rows = await session.scalars(
        select(Letter)
        .where(Letter.owner_type == item.ITEM_TYPE, Letter.owner_id == item.id)
        .order_by(Letter.created_at.desc(), Letter.id.desc())
        .limit(limit)
    )
    return list(rows)


async def letter_for(session: AsyncSession, actor: User, letter_id: int) -> Letter:
    """A letter the actor may read: on an item they see, or unsorted for an admin."""
    letter = await session.get(Letter, letter_id)
    if letter is None:
        raise NotFound("letter", letter_id=letter_id)
    if letter.owner_id is None or letter.owner_type is None:
        await ensure_may_sort(session, actor, letter)
        return letter
    item = await activity_service.load_item(session, letter.owner_type, letter.owner_id)
    await ensure_can_view(session, actor, item)
    return letter
