"""Mailbox passwords at rest: Fernet (AES-128-CBC + HMAC) with a key the composition root reads
from the environment (SECRET_KEY) and hands over; crm_core never reads settings itself."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from crm_core.errors import DomainError


class MailKeyMissing(DomainError):
    """SECRET_KEY is not set (or not a Fernet key): mail cannot be connected or read."""

    code = "mail_key_missing"


def new_key() -> str:
    """A fresh key for SECRET_KEY (the README's `python -c` line prints one)."""
    return Fernet.generate_key().decode()


class PasswordBox:
    def __init__(self, key: str | None) -> None:
        if not key:
            raise MailKeyMissing("SECRET_KEY is not set")
        try:
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        except (ValueError, TypeError) as exc:
            raise MailKeyMissing("SECRET_KEY is not a Fernet key") from exc

    def encrypt(self, password: str) -> str:
        return self._fernet.encrypt(password.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise MailKeyMissing("SECRET_KEY changed: reconnect the mailbox") from exc

    def __repr__(self) -> str:  # never shows the key
        return "PasswordBox(***)"
