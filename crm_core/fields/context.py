"""What a typed value is read against: the person's language, timezone, "now" and phone region."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from crm_core.clock import ensure_utc, utcnow, zone_of
from crm_core.fields.phones import default_region


@dataclass(frozen=True, slots=True)
class FieldContext:
    """`region` is the phone region a number without a country code belongs to; None means the
    process-wide default the composition root configured (settings DEFAULT_REGION)."""

    language: str = "en"
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("UTC"))
    now: datetime = field(default_factory=utcnow)
    region: str | None = None

    @classmethod
    def of(
        cls,
        language: str | None,
        timezone: str | None,
        *,
        region: str | None = None,
        now: datetime | None = None,
    ) -> FieldContext:
        return cls(language or "en", zone_of(timezone), ensure_utc(now or utcnow()), region)

    @property
    def today(self) -> date:
        return ensure_utc(self.now).astimezone(self.zone).date()

    @property
    def phone_region(self) -> str:
        return self.region or default_region()
