"""The wire: IMAP (stdlib imaplib, run in a thread) and SMTP (aiosmtplib). A failure is a
MailServerError whose `reason` a person can act on: the login or password was refused, the host
cannot be reached, the TLS mode does not match the port, the server took too long. Passwords go
to the server and nowhere else: not into errors, not into logs."""

from __future__ import annotations

import asyncio
import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from crm_core.errors import DomainError
from crm_core.models.mail import TlsMode
from crm_core.services.mail.rules import INCOMING_LETTER_MAX, Endpoint

TIMEOUT = 15.0
FETCH_BATCH = 50


class MailServerError(DomainError):
    """params: server ("imap" | "smtp"), reason ("auth", "unreachable", "tls", "timeout",
    "rejected", "protocol"), detail (the server's words, never a password)."""

    code = "mail_server"

    def __init__(self, server: str, reason: str, detail: str = "") -> None:
        super().__init__(
            f"{server} {reason}: {detail}"[:300], server=server, reason=reason, detail=detail[:200]
        )
        self.server = server
        self.reason = reason
        self.detail = detail[:200]


def _text(exc: BaseException) -> str:
    if isinstance(exc, imaplib.IMAP4.error) and exc.args:
        arg = exc.args[0]
        return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
    return str(exc) or type(exc).__name__


def _classify(server: str, exc: BaseException) -> MailServerError:
    if isinstance(exc, MailServerError):
        return exc
    detail = _text(exc)
    if isinstance(exc, ssl.SSLError | aiosmtplib.SMTPServerDisconnected) and "ssl" in detail.lower():
        return MailServerError(server, "tls", detail)
    if isinstance(exc, ssl.SSLError):
        return MailServerError(server, "tls", detail)
    if isinstance(exc, TimeoutError | socket.timeout | aiosmtplib.SMTPTimeoutError):
        return MailServerError(server, "timeout", detail)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return MailServerError(server, "auth", detail)
    if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionError | socket.gaierror | OSError):
        return MailServerError(server, "unreachable", detail)
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused | aiosmtplib.SMTPRecipientRefused):
        return MailServerError(server, "rejected", detail)
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code in (530, 535):
        return MailServerError(server, "auth", detail)
    if isinstance(exc, aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError):
        return MailServerError(server, "rejected", detail)
    if "starttls" in detail.lower() or "tls" in detail.lower():
        return MailServerError(server, "tls", detail)
    return MailServerError(server, "protocol", detail)


# --- IMAP -------------------------------------------------------------------------------------


def _imap_open(ep: Endpoint, login: str, password: str, timeout: float) -> imaplib.IMAP4:
    context = ssl.create_default_context()
    try:
        if ep.tls == TlsMode.SSL:
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(ep.host, ep.port, ssl_context=context, timeout=timeout)
        else:
            conn = imaplib.IMAP4(ep.host, ep.port, timeout=timeout)
            if ep.tls == TlsMode.STARTTLS:
                try:
                    conn.starttls(ssl_context=context)
                except imaplib.IMAP4.error as exc:
                    conn.shutdown()
                    raise MailServerError("imap", "tls", _text(exc)) from None
    except MailServerError:
        raise
    except imaplib.IMAP4.abort as exc:  # a TLS server spoke no IMAP greeting to a plain client
        raise MailServerError("imap", "tls", _text(exc)) from None
    except Exception as exc:
        raise _classify("imap", exc) from None
    try:
        conn.login(login, password)
    except imaplib.IMAP4.error as exc:
        detail = _text(exc)
        conn.shutdown()
        reason = "tls" if "LOGINDISABLED" in detail.upper() or "plaintext" in detail.lower() else "auth"
        raise MailServerError("imap", reason, detail) from None
    except Exception as exc:
        raise _classify("imap", exc) from None
    return conn


@contextmanager
def _imap(ep: Endpoint, login: str, password: str, timeout: float) -> Iterator[imaplib.IMAP4]:
    conn = _imap_open(ep, login, password, timeout)
    try:
        yield conn
    except MailServerError:
        raise
    except Exception as exc:
        raise _classify("imap", exc) from None
    finally:
        try:
            conn.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            pass


@dataclass(frozen=True)
class Fetched:
    uid: int
    size: int
    raw: bytes  # the whole letter, or only its header when it is over INCOMING_LETTER_MAX
    header_only: bool


def _payload(data: list) -> bytes:  # type: ignore[type-arg]
    for part in data:
        if isinstance(part, tuple) and len(part) > 1:
            return bytes(part[1])
    return b""


def _fetch_sync(
    ep: Endpoint, login: str, password: str, uidvalidity: int | None, last_uid: int, timeout: float
) -> tuple[int, list[Fetched]]:
    with _imap(ep, login, password, timeout) as conn:
        typ, _ = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise MailServerError("imap", "protocol", "no INBOX")
        current = int(conn.response("UIDVALIDITY")[1][0])
        if current != uidvalidity:
            last_uid = 0  # the folder was rebuilt: read again; Message-IDs keep letters single
        typ, data = conn.uid("SEARCH", None, f"UID {last_uid + 1}:*")
        uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid)[:FETCH_BATCH]
        out: list[Fetched] = []
        for uid in uids:
            typ, data = conn.uid("FETCH", str(uid), "(RFC822.SIZE)")
            found = re.search(rb"RFC822\.SIZE (\d+)", b" ".join(d for d in data if isinstance(d, bytes)))
            size = int(found.group(1)) if found else 0
            header_only = size > INCOMING_LETTER_MAX
            part = "BODY.PEEK[HEADER]" if header_only else "BODY.PEEK[]"
            typ, data = conn.uid("FETCH", str(uid), f"({part})")
            out.append(Fetched(uid, size, _payload(data), header_only))
        return current, out


async def fetch_new(
    ep: Endpoint,
    login: str,
    password: str,
    *,
    uidvalidity: int | None,
    last_uid: int,
    timeout: float = TIMEOUT,
) -> tuple[int, list[Fetched]]:
    """The INBOX's UIDVALIDITY and the letters after `last_uid` (all of them when UIDVALIDITY
    changed), oldest first, at most FETCH_BATCH; read-only, nothing is marked seen."""
    return await asyncio.to_thread(_fetch_sync, ep, login, password, uidvalidity, last_uid, timeout)


def _imap_check_sync(ep: Endpoint, login: str, password: str, timeout: float) -> None:
    with _imap(ep, login, password, timeout) as conn:
        typ, _ = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise MailServerError("imap", "protocol", "no INBOX")


# --- SMTP -------------------------------------------------------------------------------------


def _smtp_client(ep: Endpoint, timeout: float) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=ep.host,
        port=ep.port,
        use_tls=ep.tls == TlsMode.SSL,
        start_tls=ep.tls == TlsMode.STARTTLS,
        timeout=timeout,
    )


async def _smtp_session(ep: Endpoint, login: str, password: str, timeout: float) -> aiosmtplib.SMTP:
    client = _smtp_client(ep, timeout)
    try:
        await client.connect()
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        if client.supports_extension("auth"):
            await client.login(login, password)
    except Exception as exc:
        client.close()
        raise _classify("smtp", exc) from None
    return client


async def smtp_send(
    ep: Endpoint, login: str, password: str, message: EmailMessage, *, timeout: float = TIMEOUT
) -> None:
    client = await _smtp_session(ep, login, password, timeout)
    try:
        await client.send_message(message)
    except Exception as exc:
        raise _classify("smtp", exc) from None
    finally:
        try:
            await client.quit()
        except Exception:  # noqa: BLE001 - sent is sent; a rude goodbye changes nothing
            client.close()


async def check(
    imap: Endpoint, smtp: Endpoint, login: str, password: str, *, timeout: float = TIMEOUT
) -> None:
    """Log in to both servers (the connection test of /admin and /settings)."""
    await asyncio.to_thread(_imap_check_sync, imap, login, password, timeout)
    client = await _smtp_session(smtp, login, password, timeout)
    try:
        await client.quit()
    except Exception:  # noqa: BLE001
        client.close()
