"""Connected mailboxes: a team box (admins connect it in /admin) or one person's own (/settings).
Connecting tests the servers at once; the password is stored encrypted and never shown back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, NotFound
from crm_core.models.mail import Mailbox
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active, ensure_admin
from crm_core.services.mail import transport
from crm_core.services.mail.crypto import PasswordBox
from crm_core.services.mail.rules import BoxForm, Endpoint

Checker = Callable[[Endpoint, Endpoint, str, str], Awaitable[None]]


def endpoints(box: Mailbox) -> tuple[Endpoint, Endpoint]:
    return (
        Endpoint(box.imap_host, box.imap_port, box.imap_tls),
        Endpoint(box.smtp_host, box.smtp_port, box.smtp_tls),
    )


async def connect_box(
    session: AsyncSession,
    actor: User,
    form: BoxForm,
    key: str | None,
    *,
    team: bool,
    check: Checker = transport.check,
    now: datetime | None = None,
) -> Mailbox:
    """Test the servers with the form's login, then save (a box of the same address and owner is
    updated). Raises MailServerError (nothing saved), MailKeyMissing, AccessDenied."""
    if team:
        ensure_admin(actor)
    else:
        ensure_active(actor)
    passwords = PasswordBox(key)
    await check(form.imap, form.smtp, form.login, form.password)
    now = now or utcnow()
    owner_id = None if team else actor.id
    box = await session.scalar(
        select(Mailbox).where(
            Mailbox.address == form.address,
            Mailbox.owner_id.is_(None) if owner_id is None else Mailbox.owner_id == owner_id,
        )
    )
    if box is None:
        box = Mailbox(owner_id=owner_id, responsible_id=actor.id, address=form.address, last_uid=0)
        box.unknown_to_lead = True
        box.created_at = now
        session.add(box)
    box.imap_host, box.imap_port, box.imap_tls = form.imap.host, form.imap.port, form.imap.tls
    box.smtp_host, box.smtp_port, box.smtp_tls = form.smtp.host, form.smtp.port, form.smtp.tls
    box.login = form.login
    box.password_encrypted = passwords.encrypt(form.password)
    box.active = True
    box.failures = 0
    box.next_poll_at = None
    box.last_error = None
    box.updated_at = now
    await session.flush()
    return box


async def get_box(session: AsyncSession, actor: User, box_id: int) -> Mailbox:
    """A box the actor manages: their own, or any when they are an admin."""
    ensure_active(actor)
    box = await session.get(Mailbox, box_id)
    if box is None:
        raise NotFound("mailbox", box_id=box_id)
    if box.owner_id != actor.id and actor.role != Role.ADMIN:
        raise AccessDenied("not your mailbox", user_id=actor.id)
    return box


async def team_boxes(session: AsyncSession, actor: User) -> list[Mailbox]:
    ensure_admin(actor)
    rows = await session.scalars(select(Mailbox).where(Mailbox.owner_id.is_(None)).order_by(Mailbox.id))
    return list(rows)


async def own_box(session: AsyncSession, user: User) -> Mailbox | None:
    return await session.scalar(
        select(Mailbox).where(Mailbox.owner_id == user.id).order_by(Mailbox.active.desc(), Mailbox.id.desc())
    )


async def sending_box(session: AsyncSession, user: User) -> Mailbox | None:
    """The box a person's letters go out from: their own, else the team's first."""
    own = await own_box(session, user)
    if own is not None and own.active:
        return own
    return await session.scalar(
        select(Mailbox).where(Mailbox.owner_id.is_(None), Mailbox.active.is_(True)).order_by(Mailbox.id)
    )


async def set_unknown_to_lead(session: AsyncSession, actor: User, box_id: int, value: bool) -> Mailbox:
    box = await get_box(session, actor, box_id)
    box.unknown_to_lead = value
    return box


async def disconnect(session: AsyncSession, actor: User, box_id: int) -> Mailbox:
    """Stop reading and sending; the letters stay on their cards."""
    box = await get_box(session, actor, box_id)
    box.active = False
    return box
