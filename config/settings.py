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
    delivery_rate_per_second: float = Field(28.0, gt=0)  # all chats together (Telegram allows ~30)
    room_summary_seconds: float = Field(5.0, ge=0)  # a deal room's events within this make one message

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
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name} is invalid: {msg}") from None
