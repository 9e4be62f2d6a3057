"""The client field of leads and deals: search contacts and companies, create them inline, and
find duplicates by phone (normalised E.164) or email (case-insensitive)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.models.items import AnyItem, CommKind, Communication, Company, Contact, ItemType, Lead
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active, role_visible_clause, visible_clause
from crm_core.services import items as items_svc
from crm_core.services.communications import (
    DEFAULT_PHONE_REGION,
    CommLike,
    try_normalize_email,
    try_normalize_phone,
)
from crm_core.services.like import contains_pattern


@dataclass(frozen=True)
class ClientMatch:
    item_type: ItemType
    item: Contact | Company
    matched_by: str  # "name" | "phone" | "email"

    @property
    def ref(self) -> str:
        return self.item.ref


def _comm_terms(query: str, region: str | None) -> list[tuple[CommKind, str]]:
    terms: list[tuple[CommKind, str]] = []
    if "@" in query:
        email = try_normalize_email(query)
        if email:
            terms.append((CommKind.EMAIL, email))
    elif sum(c.isdigit() for c in query) >= 5:
        phone = try_normalize_phone(query, region)
        if phone:
            terms.append((CommKind.PHONE, phone))
    return terms


async def search_clients(
    session: AsyncSession,
    actor: User,
    query: str,
    *,
    limit: int = 10,
    types: Iterable[ItemType] = (ItemType.CONTACT, ItemType.COMPANY),
    default_region: str | None = DEFAULT_PHONE_REGION,
) -> list[ClientMatch]:
    """Contacts and companies the actor may see whose name contains `query`, or whose phone/email
    equals it however it was typed. Exact phone/email matches come first."""
    ensure_active(actor)
    query = (query or "").strip()
    if not query:
        return []
    comm_terms = _comm_terms(query, default_region)
    results: list[ClientMatch] = []
    seen: set[tuple[ItemType, int]] = set()
    for item_type in types:
        model = Contact if ItemType(item_type) == ItemType.CONTACT else Company
        if comm_terms:
            kind, norm = comm_terms[0]
            rows = await session.scalars(
                select(model)
                .join(
                    Communication,
                    (Communication.owner_type == model.ITEM_TYPE) & (Communication.owner_id == model.id),
                )
                .where(
                    Communication.kind == kind, Communication.normalized == norm, visible_clause(actor, model)
                )
                .distinct()
                .order_by(model.id.desc())
                .limit(limit)
            )
            for row in rows:
                seen.add((model.ITEM_TYPE, row.id))
                results.append(ClientMatch(model.ITEM_TYPE, row, str(kind)))
        pattern = contains_pattern(query.lower())
        if model is Contact:
            full = func.lower(func.coalesce(Contact.name, "") + " " + func.coalesce(Contact.last_name, ""))
            name_cond = or_(
                func.lower(Contact.name).like(pattern, escape="\\"),
                func.lower(Contact.last_name).like(pattern, escape="\\"),
                full.like(pattern, escape="\\"),
            )
        else:
            name_cond = func.lower(Company.title).like(pattern, escape="\\")
        rows = await session.scalars(
            select(model)
            .where(name_cond, visible_clause(actor, model))
            .order_by(model.id.desc())
            .limit(limit)
        )
        for row in rows:
            if (model.ITEM_TYPE, row.id) not in seen:
                seen.add((model.ITEM_TYPE, row.id))
                results.append(ClientMatch(model.ITEM_TYPE, row, "name"))
    return results


async def create_client(
    session: AsyncSession,
    actor: User,
    *,
    contact: dict[str, Any] | None = None,
    company: dict[str, Any] | None = None,
    contact_phones: Iterable[CommLike] = (),
    contact_emails: Iterable[CommLike] = (),
    company_phones: Iterable[CommLike] = (),
    company_emails: Iterable[CommLike] = (),
    responsible_id: int | None = None,
    default_region: str | None = DEFAULT_PHONE_REGION,
) -> tuple[Contact | None, Company | None]:
    """Create a new contact and/or company from the client field. Created together, they are
    linked to each other. Returns (contact, company)."""
    if contact is None and company is None:
        raise ValidationFailed("nothing to create")
    new_company = None
    new_contact = None
    if company is not None:
        new_company = await items_svc.create_item(
            session,
            actor,
            ItemType.COMPANY,
            company,
            phones=company_phones,
            emails=company_emails,
            responsible_id=responsible_id,
            default_region=default_region,
        )
    if contact is not None:
        new_contact = await items_svc.create_item(
            session,
            actor,
            ItemType.CONTACT,
            contact,
            phones=contact_phones,
            emails=contact_emails,
            responsible_id=responsible_id,
            default_region=default_region,
        )
    if new_contact is not None and new_company is not None:
        await items_svc.link_contact_company(session, actor, new_contact, new_company)  # type: ignore[arg-type]
    return new_contact, new_company  # type: ignore[return-value]


@dataclass(frozen=True)
class Duplicate:
    item_type: ItemType
    item: AnyItem
    matched_by: str  # "phone" | "email"
    value: str  # the normalised value that matched

    @property
    def ref(self) -> str:
        return self.item.ref


async def find_duplicates(
    session: AsyncSession,
    actor: User,
    *,
    phones: Iterable[str] = (),
    emails: Iterable[str] = (),
    exclude: AnyItem | None = None,
    types: Iterable[ItemType] = (ItemType.LEAD, ItemType.CONTACT, ItemType.COMPANY),
    default_region: str | None = DEFAULT_PHONE_REGION,
    limit: int = 20,
) -> list[Duplicate]:
    """Leads, contacts and companies (visible to the actor, not trashed) sharing a phone or an
    email with the given ones. One query per item type, on the (kind, normalized) index."""
    ensure_active(actor)
    terms: list[tuple[CommKind, str]] = []
    for p in phones:
        norm = try_normalize_phone(p, default_region)
        if norm:
            terms.append((CommKind.PHONE, norm))
    for e in emails:
        norm = try_normalize_email(e)
        if norm:
            terms.append((CommKind.EMAIL, norm))
    if not terms:
        return []
    params: dict[str, Any] = {"actor_id": actor.id, "department_id": actor.department_id, "limit": limit}
    for i, (kind, norm) in enumerate(terms):
        params[f"k{i}"], params[f"n{i}"] = kind, norm
    team = actor.role == Role.HEAD and actor.department_id is not None
    out: list[Duplicate] = []
    for item_type in types:
        item_type = ItemType(item_type)
        excluding = exclude is not None and exclude.ITEM_TYPE == item_type
        stmt = _duplicates_stmt(item_type, actor.role, team, len(terms), excluding)
        seen: set[int] = set()
        for row, kind, norm in (
            await session.execute(stmt, {**params, "exclude_id": exclude.id} if excluding else params)
        ).all():
            if row.id not in seen:
                seen.add(row.id)
                out.append(Duplicate(item_type, row, str(kind), norm))
    return out


_DUPLICATE_MODELS = {ItemType.LEAD: Lead, ItemType.CONTACT: Contact, ItemType.COMPANY: Company}


@functools.lru_cache(maxsize=256)
def _duplicates_stmt(item_type: ItemType, role: Role, team: bool, n_terms: int, excluding: bool) -> Any:
    """find_duplicates' statement, built once per shape and run with bound values: built per call
    it took ~1.5% of a busy bot's CPU (every lead captured with a phone asks)."""
    model = _DUPLICATE_MODELS[item_type]
    pairs = [
        (Communication.kind == bindparam(f"k{i}")) & (Communication.normalized == bindparam(f"n{i}"))
        for i in range(n_terms)
    ]
    department = bindparam("department_id") if team else None
    stmt = (
        select(model, Communication.kind, Communication.normalized)
        .join(Communication, (Communication.owner_type == item_type) & (Communication.owner_id == model.id))
        .where(or_(*pairs), role_visible_clause(role, bindparam("actor_id"), department, model))
        .order_by(model.id.desc())
        .limit(bindparam("limit"))
    )
    return stmt.where(model.id != bindparam("exclude_id")) if excluding else stmt
