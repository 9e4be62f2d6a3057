"""The mail job: every MAIL_POLL_SECONDS it reads each connected box (crm_core.services.mail.poll:
new letters after the last UID, a server that is down waits out its backoff), then wakes the
delivery engine so the responsible people hear of the letters at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_core.db import Database
from crm_core.services.mail import poll
from scheduler.delivery import wake_all

if TYPE_CHECKING:
    from scheduler.jobs import Scheduler


class MailReader:
    def __init__(self, db: Database, key: str | None, *, retry_seconds: float = 30.0) -> None:
        self.db = db
        self._key = key
        self.retry_seconds = retry_seconds

    def __repr__(self) -> str:  # the job's repr may be logged: never the key
        return "MailReader()"

    async def run(self) -> int:
        recorded = await poll.poll_all(self.db, self._key, retry_base=self.retry_seconds)
        if recorded:
            wake_all()
        return recorded


def add_mail_job(
    scheduler: Scheduler, db: Database, key: str | None, *, poll_seconds: float, retry_seconds: float
) -> MailReader:
    reader = MailReader(db, key, retry_seconds=retry_seconds)
    scheduler.add_job(reader.run, "interval", seconds=poll_seconds, id="mail", max_instances=1, coalesce=True)
    return reader
