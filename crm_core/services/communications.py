"""Phones and e-mails of an item: child rows (`communications`) holding the value as typed plus a
normalised form (E.164 phone, lower-cased e-mail), so that duplicates and clients are found however
they were typed. Values are read by the field schema's rules (crm_core.fields)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.fields import phones as fields_phones
from crm_core.fields.kinds import parse_email
from crm_core.models.items import (
    AnyItem,
    CommKind,
    Communication,
    CommValueType,
    ItemType,
)

# The region of a phone typed without a country code: None is the configured default
# (crm_core.fields.phones.set_default_region, from settings DEFAULT_REGION).
DEFAULT_PHONE_REGION: str | None = None


def normalize_phone(value: str, default_region: str | None = None) -> str:
    """E.164 of a typed phone (crm_core.fields.phones); no region: the configured default."""
    return fields_phones.normalize_phone(value, default_region)


def try_normalize_phone(value: str, default_region: str | None = None) -> str | None:
    try:
        return normalize_phone(value, default_region)
    except ValidationFailed:
        return None


def normalize_email(value: str) -> str:
    """A valid email, lower-cased (the schema's email parser). Raises ValidationFailed."""
    return parse_email(value)


def try_normalize_email(value: str) -> str | None:
    try:
        return normalize_email(value)
    except ValidationFailed:
        return None


@dataclass(frozen=True)
class CommInput:
    value: str
    value_type: CommValueType = CommValueType.WORK


CommLike = str | CommInput | tuple[str, str] | dict[str, str]


def _comm_input(raw: CommLike) -> CommInput:
    if isinstance(raw, CommInput):
        return raw
    if isinstance(raw, str):
        return CommInput(raw)
    if isinstance(raw, tuple):
        return CommInput(raw[0], CommValueType(raw[1]))
    return CommInput(raw["value"], CommValueType(raw.get("type") or raw.get("value_type") or "work"))


def _normalize(kind: CommKind, value: str, region: str | None) -> str:
    return normalize_phone(value, region) if kind == CommKind.PHONE else normalize_email(value)


# Built once (values bound at execution): the card runs it on every render.
_COMMS_OF = (
    select(Communication)
    .where(
        Communication.owner_type == bindparam("owner_type"),
        Communication.owner_id.in_(bindparam("owner_ids", expanding=True)),
    )
    .order_by(Communication.owner_id, Communication.kind, Communication.sort, Communication.id)
)


async def get_communications(
    session: AsyncSession, item_type: ItemType, item_ids: Sequence[int]
) -> dict[int, list[Communication]]:
    """Phones and emails of many items in one query: {item_id: [rows in order]}."""
    out: dict[int, list[Communication]] = {i: [] for i in item_ids}
    if not item_ids:
        return out
    rows = await session.scalars(_COMMS_OF, {"owner_type": item_type, "owner_ids": list(item_ids)})
    for row in rows:
        out[row.owner_id].append(row)
    return out


async def phones_of(session: AsyncSession, item: AnyItem) -> list[Communication]:
    rows = (await get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
    return [r for r in rows if r.kind == CommKind.PHONE]


async def emails_of(session: AsyncSession, item: AnyItem) -> list[Communication]:
    rows = (await get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
    return [r for r in rows if r.kind == CommKind.EMAIL]


def prepare_comms(
    kind: CommKind, values: Iterable[CommLike] | None, region: str
) -> list[tuple[CommInput, str]]:
    """Validate and normalise; blank values are skipped, duplicates (same normalised) dropped."""
    out: list[tuple[CommInput, str]] = []
    seen: set[str] = set()
    for raw in values or ():
        ci = _comm_input(raw)
        if not ci.value or not ci.value.strip():
            continue
        norm = _normalize(kind, ci.value, region)
        if norm not in seen:
            seen.add(norm)
            out.append((CommInput(ci.value.strip(), ci.value_type), norm))
    return out


def comm_rows(item: AnyItem, kind: CommKind, prepared: list[tuple[CommInput, str]]) -> list[Communication]:
    """The rows of an item's phones or e-mails (prepared), in order."""
    return [
        Communication(
            owner_type=item.ITEM_TYPE,
            owner_id=item.id,
            kind=kind,
            value=ci.value,
            normalized=norm,
            value_type=ci.value_type,
            sort=i,
        )
        for i, (ci, norm) in enumerate(prepared)
    ]


async def replace_comms(
    session: AsyncSession, item: AnyItem, kind: CommKind, prepared: list[tuple[CommInput, str]]
) -> None:
    await session.execute(
        delete(Communication).where(
            Communication.owner_type == item.ITEM_TYPE,
            Communication.owner_id == item.id,
            Communication.kind == kind,
        )
    )
    session.add_all(comm_rows(item, kind, prepared))
