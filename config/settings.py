"""Application settings, read from the environment and `.env` (pydantic-settings)."""

from __future__ import annotations

import zoneinfo
from typing import Annotated

import phonenumbers
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TELEGRAM_DEFAULT_API = "https://api.telegram.org"


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    telegram_api_url: str = TELEGRAM_DEFAULT_API
    database_url: str = "sqlite+aiosqlite:///./crm.db"
    redis_url: str | None = None
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    default_timezone: str = "UTC"
    default_region: str = "RU"
    log_level: str = "INFO"
    # Seconds given to in-flight handlers to finish on SIGTERM/SIGINT.
    shutdown_timeout: float = 30.0
    # Reminder and notification delivery (scheduler/delivery.py).
    reminder_lease_seconds: float = Field(60.0, ge=1)  # a claimed, unsent row is retried after this
    reminder_poll_seconds: float = Field(5.0, gt=0)  # fallback poll behind the precise wake-up
    reminder_stale_minutes: int = Field(180, ge=1)  # older due reminders are summarised in one message
    delivery_rate_per_second: float = Field(29.0, gt=0)  # in any one second, all chats (Telegram: ~30)
    # Email: the key mailbox passwords are encrypted with (Fernet); unset = mail cannot be connected.
    secret_key: SecretStr | None = None
    mail_poll_seconds: float = Field(60.0, gt=0)  # how often each connected box is read
    mail_retry_seconds: float = Field(30.0, gt=0)  # first pause after a box's server failed (doubles)

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        import base64
        import binascii

        try:
            ok = len(base64.urlsafe_b64decode(value.get_secret_value().strip().encode())) == 32
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise ValueError("must be a Fernet key (32 url-safe base64 bytes); see README, Email")
        return SecretStr(value.get_secret_value().strip())

    # The REST API (handlers/http/rest): each token's leaky bucket.
    rest_rate_per_second: float = Field(2.0, gt=0)
    rest_rate_burst: int = Field(50, ge=1)
    # The HTTP server (web forms, health, metrics, the webhook): on when HTTP_PORT is set.
    http_host: str = "127.0.0.1"
    http_port: int | None = Field(None, ge=0, le=65535)
    # Believe the last X-Forwarded-For address (only behind a reverse proxy that sets it).
    http_trust_forwarded: bool = False
    # Webhook mode: both set (and HTTP_PORT) = Telegram pushes updates instead of being polled.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # The public address of the HTTP server (web form snippets, REST webhook URLs); default:
    # WEBHOOK_URL's host, else http://HTTP_HOST:HTTP_PORT.
    public_url: str | None = None
    # Web forms: the largest accepted body, and submissions per minute from one address.
    form_max_bytes: int = Field(16_384, ge=256)
    form_rate_per_minute: int = Field(10, ge=1)
    room_summary_seconds: float = Field(5.0, ge=0)  # a deal room's events within this make one message
    room_chat_gap_seconds: float = Field(4.0, ge=0)  # between two summaries to one group (15 a minute)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            try:
                return [int(p) for p in parts]
            except ValueError:
                raise ValueError("must be comma-separated Telegram user ids, e.g. 123,456") from None
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("default_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}, e.g. Europe/Moscow") from None
        return value

    @field_validator("default_region")
    @classmethod
    def _check_region(cls, value: str) -> str:
        # The region of phones typed without a country code ("8 999 ..." in RU).
        code = value.strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}, a two-letter country code such as RU or DE")
        return code

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers only)"
            )
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL of a Bot API server")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not value.startswith("https://"):
            raise ValueError("must be the public https:// URL Telegram posts updates to")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if not (1 <= len(secret) <= 256) or not all(
            c.isascii() and (c.isalnum() or c in "_-") for c in secret
        ):
            raise ValueError("must be 1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's secret_token)")
        return value

    @property
    def public_base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        if self.webhook_url:
            from urllib.parse import urlsplit

            parts = urlsplit(self.webhook_url)
            return f"{parts.scheme}://{parts.netloc}"
        return f"http://{self.http_host}:{self.http_port or 8080}"

    @property
    def webhook_mode(self) -> bool:
        return bool(self.webhook_url and self.webhook_secret and self.http_port is not None)

    def require_token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise SettingsError("BOT_TOKEN is not set: get a token from @BotFather and set BOT_TOKEN")
        token = self.bot_token.get_secret_value().strip()
        left, _, right = token.partition(":")
        if not left.isdigit() or not right:
            raise SettingsError("BOT_TOKEN is malformed: expected '<digits>:<secret>' as given by @BotFather")
        return token


def load_settings(**overrides: object) -> Settings:
    """Build Settings, turning validation errors into one clear line naming the setting."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {msg}") from None
    if (settings.webhook_url or settings.webhook_secret) and not settings.webhook_mode:
        # Half a webhook set-up would silently poll (and delete the webhook other processes serve).
        missing = [
            name
            for name, value in (
                ("WEBHOOK_URL", settings.webhook_url),
                ("WEBHOOK_SECRET", settings.webhook_secret),
                ("HTTP_PORT", settings.http_port),
            )
            if value is None
        ]
        raise SettingsError(
            f"{', '.join(missing)} not set: webhook mode needs WEBHOOK_URL, WEBHOOK_SECRET and HTTP_PORT"
        )
    return settings
