"""What the composition root hands to handlers through workflow data (no import of config/bot)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HandlerOptions:
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    default_timezone: str = "UTC"
    # The region of phones typed without a country code (settings DEFAULT_REGION).
    phone_region: str = "RU"
    # The offline sandbox lets the first person in as an admin.
    first_user_is_admin: bool = False
    # SECRET_KEY: mailbox passwords are encrypted with it (None: email cannot be connected).
    mail_key: str | None = field(default=None, repr=False)
    # The REST API: each token's request rate and burst (Bitrix24's leaky bucket: 2/s after 50).
    rest_rate_per_second: float = 2.0
    rest_burst: int = 50
    # Web forms (handlers/http/forms.py): the largest body, submissions per minute per address,
    # and whether X-Forwarded-For names the address (behind a reverse proxy).
    form_max_bytes: int = 16_384
    form_rate_per_minute: int = 10
    trust_forwarded: bool = False
    # The public address of the HTTP server, for the web forms' snippets and REST webhook URLs (https://crm.example.com).
    public_url: str = "http://127.0.0.1:8080"
