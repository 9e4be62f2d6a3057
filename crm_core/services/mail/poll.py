"""Reading the boxes: each active box is polled for letters after the last UID recorded; each
letter is recorded in a transaction of its own together with the new reading position, so a
crash or a second reader never loses or doubles one. A server that is down is retried with a
growing pause (backoff), and the box shows the last error to whoever manages it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from crm_core.clock import utcnow
from crm_core.db import Database
from crm_core.models.mail import Mailbox
from crm_core.services.mail import boxes, transport
from crm_core.services.mail.crypto import MailKeyMissing, PasswordBox
from crm_core.services.mail.incoming import record_incoming
from crm_core.services.mail.parse import fallback_message_id, parse_letter
from crm_core.services.mail.transport import MailServerError

log = logging.getLogger(__name__)

BACKOFF_MAX = timedelta(minutes=30)
# A box being read is held this long by the process reading it: another process (several bot
# processes share one database) skips it, and a reader that died lets it go when this runs out.
READ_LEASE = timedelta(minutes=10)


def backoff(failures: int, base: float) -> timedelta:
    """base, 2*base, 4*base... seconds after each failure in a row, at most BACKOFF_MAX."""
    return min(timedelta(seconds=base * 2 ** max(failures - 1, 0)), BACKOFF_MAX)


async def poll_box(
    db: Database,
    box_id: int,
    key: str | None,
    *,
    retry_base: float = 30.0,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Read one box; returns how many letters were recorded."""
    async with db.unit_of_work() as session:
        box = await session.get(Mailbox, box_id)
        if box is None or not box.active:
            return 0
        try:
            password = PasswordBox(key).decrypt(box.password_encrypted)
        except MailKeyMissing as exc:
            box.last_error = str(exc)[:500]
            box.next_poll_at = clock() + BACKOFF_MAX
            return 0
        imap, _smtp = boxes.endpoints(box)
        login, uidvalidity, last_uid = box.login, box.uidvalidity, box.last_uid
    try:
        current, fetched = await transport.fetch_new(
            imap, login, password, uidvalidity=uidvalidity, last_uid=last_uid
        )
    except MailServerError as exc:
        async with db.unit_of_work() as session:
            box = await session.get(Mailbox, box_id)
            if box is not None:
                box.failures += 1
                box.last_error = f"{exc.reason}: {exc.detail}"[:500]
                box.next_poll_at = clock() + backoff(box.failures, retry_base)
                log.warning("mailbox %s: %s (try %s)", box_id, exc.reason, box.failures)
        return 0
    recorded = 0
    if current != uidvalidity:
        async with db.unit_of_work() as session:
            box = await session.get(Mailbox, box_id)
            if box is not None:
                box.uidvalidity, box.last_uid = current, 0
    for item in fetched:
        parsed = parse_letter(
            item.raw,
            fallback_id=fallback_message_id(box_id, current, item.uid),
            header_only=item.header_only,
            size=item.size,
        )
        try:
            async with db.unit_of_work() as session:
                box = await session.get(Mailbox, box_id)
                if box is None:
                    return recorded
                if await record_incoming(
                    session, box, parsed, uidvalidity=current, uid=item.uid, now=clock()
                ):
                    recorded += 1
                box.last_uid = max(box.last_uid, item.uid)
        except Exception:
            # Not skipped (it would be lost): the box waits and tries this letter again.
            log.exception("mailbox %s: letter uid %s could not be recorded", box_id, item.uid)
            async with db.unit_of_work() as session:
                box = await session.get(Mailbox, box_id)
                if box is not None:
                    box.failures += 1
                    box.last_error = "a letter could not be recorded"
                    box.next_poll_at = clock() + backoff(box.failures, retry_base)
            return recorded
    async with db.unit_of_work() as session:
        box = await session.get(Mailbox, box_id)
        if box is not None:
            box.failures, box.last_error, box.next_poll_at = 0, None, None
    return recorded


async def claim_due_boxes(db: Database, now: datetime) -> list[int]:
    """The active boxes due for reading, each claimed for this reader until READ_LEASE runs out
    (poll_box clears or reschedules it), so that two processes never read one box at once."""
    async with db.unit_of_work() as session:
        due = list(
            await session.scalars(
                select(Mailbox.id).where(
                    Mailbox.active.is_(True), or_(Mailbox.next_poll_at.is_(None), Mailbox.next_poll_at <= now)
                )
            )
        )
    claimed = []
    for box_id in due:
        async with db.unit_of_work() as session:
            result = await session.execute(
                update(Mailbox)
                .where(
                    Mailbox.id == box_id,
                    or_(Mailbox.next_poll_at.is_(None), Mailbox.next_poll_at <= now),
                )
                .values(next_poll_at=now + READ_LEASE)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                claimed.append(box_id)
    return claimed


async def poll_all(
    db: Database, key: str | None, *, retry_base: float = 30.0, clock: Callable[[], datetime] = utcnow
) -> int:
    """Read every active box that is not waiting out a failure."""
    ids = await claim_due_boxes(db, clock())
    total = 0
    for box_id in ids:
        total += await poll_box(db, box_id, key, retry_base=retry_base, clock=clock)
    return total
