"""Phone numbers: the one normaliser (E.164, extension dropped) and the default region.

The region a number typed without a country code belongs to is a deployment setting
(DEFAULT_REGION); crm_core cannot read settings, so the composition root calls
`set_default_region` once at start, and every parse without an explicit region uses it."""

from __future__ import annotations

import phonenumbers

from crm_core.errors import ValidationFailed

_default_region = "RU"


def check_region(region: str) -> str:
    """An ISO 3166 region phonenumbers knows ("RU", "DE"), upper-cased; ValueError otherwise."""
    code = (region or "").strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region: {region!r}")
    return code


def set_default_region(region: str) -> None:
    global _default_region
    _default_region = check_region(region)


def default_region() -> str:
    return _default_region


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 form of a phone typed any way ("+7 (999) 123-45-67", "8 999 1234567"); the
    extension is ignored. Raises ValidationFailed for something that is not a phone number."""
    try:
        parsed = phonenumbers.parse(value, region or _default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed("invalid phone", field="phone", value=value) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise ValidationFailed("invalid phone", field="phone", value=value)
    parsed.extension = None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str, region: str | None = None) -> str:
    """A stored number as people of the region write it: national for local numbers
    ("8 (999) 123-45-67"), international for others ("+49 30 123456")."""
    try:
        parsed = phonenumbers.parse(e164, region or _default_region)
    except phonenumbers.NumberParseException:
        return e164
    local = phonenumbers.region_code_for_number(parsed) == (region or _default_region)
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if local else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(parsed, fmt)
