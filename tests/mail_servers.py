"""Real mail servers for the tests: Dovecot (IMAP, Debian's package) with a test user and a Maildir,
started from a config file in a temporary directory on a free unprivileged port, and an aiosmtpd
SMTP server with a login that keeps what it receives.

Dovecot missing: the tests that need it skip on a developer's machine, and fail under CI
(.ci/run installs it, as it does PostgreSQL)."""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
BOX_LOGIN = "sales@example.com"
BOX_PASSWORD = "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_dovecot() -> str:
    if DOVECOT is None:
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed: .ci/run must install dovecot-imapd")
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    return DOVECOT


CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{dir}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """A Dovecot of its own: start(), stop() (the server goes down), start() again (back)."""

    def __init__(self) -> None:
        self.binary = need_dovecot()
        self.dir = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        (self.dir / "mail").mkdir()
        (self.dir / "state").mkdir()
        if os.geteuid() == 0:
            dovecot = pwd.getpwnam("dovecot")
            os.chown(self.dir / "mail", dovecot.pw_uid, dovecot.pw_gid)
        (self.dir / "passwd").write_text(f"{BOX_LOGIN}:{{PLAIN}}{BOX_PASSWORD}\n")
        (self.dir / "passwd").chmod(0o644)
        self.config = self.dir / "dovecot.conf"
        self.config.write_text(CONFIG.format(dir=self.dir, port=self.port))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # its children close the port after the master
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.1)
            except OSError:
                return

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def append(self, raw: bytes | EmailMessage) -> None:
        """Drop a letter into the test user's INBOX (as a delivery would)."""
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        conn = imaplib.IMAP4("127.0.0.1", self.port)
        try:
            conn.login(BOX_LOGIN, BOX_PASSWORD)
            typ, detail = conn.append("INBOX", None, None, data)
            assert typ == "OK", detail
        finally:
            conn.logout()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpSink:
    """aiosmtpd receiving our letters; it asks for the login and keeps what arrives."""

    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"

    def _auth(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            BOX_LOGIN.encode(),
            BOX_PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._auth,
            auth_require_tls=False,
            auth_required=True,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def box_form(dovecot_port: int, smtp_port: int, password: str = BOX_PASSWORD) -> str:
    """The connection form as a person types it in the bot."""
    return f"{BOX_LOGIN}\n127.0.0.1 {dovecot_port} none\n127.0.0.1 {smtp_port} none\n{password}"
