"""What the mail screens share: their button data, and a server's failure said so a person can
act on it."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from crm_core.models.items import ItemType
from crm_core.services.mail.transport import MailServerError
from handlers.callbacks import Unpacked
from handlers.render import esc, truncate
from handlers.texts import N_, Translator

REASONS = {
    "auth": N_("mail.err.auth"),
    "unreachable": N_("mail.err.unreachable"),
    "tls": N_("mail.err.tls"),
    "timeout": N_("mail.err.timeout"),
    "rejected": N_("mail.err.rejected"),
    "protocol": N_("mail.err.protocol"),
}
SERVERS = {"imap": N_("mail.server.imap"), "smtp": N_("mail.server.smtp")}


def server_error_text(tr: Translator, exc: MailServerError) -> str:
    """ "The IMAP server refused the login or password (server said: ...)"."""
    server = tr(SERVERS[exc.server] if exc.server in SERVERS else "mail.server.imap")
    reason = tr(REASONS[exc.reason] if exc.reason in REASONS else "mail.err.protocol", server=server)
    if exc.detail:
        reason += "\n" + tr("mail.err.detail", detail=esc(truncate(exc.detail, 200)))
    return reason


class LetterAction(StrEnum):
    SHOW = "s"
    REPLY = "r"
    DONE = "d"
    FILES = "f"
    FILE = "g"  # one attachment: n is its id


class LetterCB(Unpacked, CallbackData, prefix="eml"):
    action: LetterAction
    id: int = 0  # the letter
    n: int = 0  # an attachment id


class ComposeAction(StrEnum):
    NEW = "n"
    TO = "to"  # a suggested address: n is its place in the list
    CC = "cc"
    SEND = "s"
    CANCEL = "x"


class ComposeCB(Unpacked, CallbackData, prefix="emc"):
    action: ComposeAction
    t: ItemType = ItemType.LEAD
    id: int = 0
    n: int = 0
