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
    # The REST API: each token's request rate and burst (Bitrix24's leaky bucket: 2/s after 50),
    # and the public address its webhook URLs are shown with in /admin ("" shows the path only).
    rest_rate_per_second: float = 2.0
    rest_burst: int = 50
    public_url: str = ""
