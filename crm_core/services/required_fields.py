"""Required fields per item type (deal fields also per pipeline). Admins set them; create, update
and conversion refuse an item that leaves one empty, with RequiredFieldsMissing(["deal.amount"])."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import cache
from crm_core.errors import NotFound, RequiredFieldsMissing, ValidationFailed
from crm_core.fields import requirable_fields
from crm_core.models.items import ItemType, Pipeline, RequiredField
from crm_core.models.users import User
from crm_core.permissions import ensure_admin

# "phone" and "email" mean "at least one"; the rest are model attributes. Which fields an admin
# may require is a flag of the field schema (crm_core.fields).
COMM_FIELDS = {f.name for t in ItemType for f in requirable_fields(t) if f.many}
REQUIRABLE_FIELDS: dict[ItemType, frozenset[str]] = {
    item_type: frozenset(f.name for f in requirable_fields(item_type)) for item_type in ItemType
}


async def set_required_fields(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    fields: Iterable[str],
    *,
    pipeline_id: int | None = None,
) -> list[str]:
    """Replace the required set of an item type (or of one deal pipeline). Admin only."""
    ensure_admin(actor)
    item_type = ItemType(item_type)
    fields = sorted(set(fields))
    unknown = set(fields) - REQUIRABLE_FIELDS[item_type]
    if unknown:
        raise ValidationFailed("unknown fields", fields=sorted(unknown))
    if pipeline_id is not None:
        pipeline = await session.get(Pipeline, pipeline_id)
        if pipeline is None or pipeline.entity_type != item_type:
            raise NotFound(pipeline_id=pipeline_id)
    cond = (
        RequiredField.pipeline_id.is_(None)
        if pipeline_id is None
        else RequiredField.pipeline_id == pipeline_id
    )
    await session.execute(delete(RequiredField).where(RequiredField.item_type == item_type, cond))
    for f in fields:
        session.add(RequiredField(item_type=item_type, pipeline_id=pipeline_id, field=f))
    await session.flush()
    return fields


async def get_required_fields(
    session: AsyncSession, item_type: ItemType | str, *, pipeline_id: int | None = None
) -> list[str]:
    """Fields required for every item of the type plus those of the given pipeline."""
    item_type = ItemType(item_type)
    table = await cache.table(session, RequiredField)
    if table is not None:
        key = ("required", item_type, pipeline_id)
        return list(cache.derived(table, key, lambda rows: _required_of(rows, item_type, pipeline_id)))
    cond = RequiredField.pipeline_id.is_(None)
    if pipeline_id is not None:
        cond = or_(cond, RequiredField.pipeline_id == pipeline_id)
    rows = await session.scalars(
        select(RequiredField.field).where(RequiredField.item_type == item_type, cond)
    )
    return sorted(set(rows))


def _required_of(rows: Iterable[dict[str, Any]], item_type: ItemType, pipeline_id: int | None) -> list[str]:
    return sorted(
        {
            r["field"]
            for r in rows
            if r["item_type"] == item_type and (r["pipeline_id"] is None or r["pipeline_id"] == pipeline_id)
        }
    )


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


async def missing_required(
    session: AsyncSession,
    item_type: ItemType | str,
    values: Any,
    *,
    pipeline_id: int | None = None,
    has_phone: bool = False,
    has_email: bool = False,
) -> list[str]:
    """Names ("deal.amount") of required fields left empty. `values` is an item or a dict."""
    required = await get_required_fields(session, item_type, pipeline_id=pipeline_id)
    return missing_of(item_type, required, values, has_phone=has_phone, has_email=has_email)


def missing_of(
    item_type: ItemType | str,
    required: list[str],
    values: Any,
    *,
    has_phone: bool = False,
    has_email: bool = False,
) -> list[str]:
    """missing_required with the required fields already read (many items checked at once)."""
    item_type = ItemType(item_type)
    missing = []
    for field in required:
        if field == "phone":
            empty = not has_phone
        elif field == "email":
            empty = not has_email
        else:
            value = values.get(field) if isinstance(values, dict) else getattr(values, field, None)
            empty = _empty(value)
        if empty:
            missing.append(f"{item_type}.{field}")
    return missing


async def ensure_required(
    session: AsyncSession,
    item_type: ItemType | str,
    values: Any,
    *,
    pipeline_id: int | None = None,
    has_phone: bool = False,
    has_email: bool = False,
) -> None:
    missing = await missing_required(
        session, item_type, values, pipeline_id=pipeline_id, has_phone=has_phone, has_email=has_email
    )
    if missing:
        raise RequiredFieldsMissing(missing)
