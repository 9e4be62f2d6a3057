"""Lead conversion (Bitrix24): create a deal and/or contact and/or company from a lead.

All or nothing: required fields of every target are checked first (one error listing all that
is missing), then everything is written inside a SAVEPOINT, so a failure leaves nothing behind.
A repeat lead's existing contact/company is reused, never duplicated.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import (
    ConcurrencyConflict,
    DomainError,
    LeadAlreadyConverted,
    NotFound,
    RequiredFieldsMissing,
)
from crm_core.models.items import CommKind, Company, Contact, Deal, ItemType, Lead
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.services import communications
from crm_core.services import items as items_svc
from crm_core.services import pipelines as pl
from crm_core.services.required_fields import missing_required
from crm_core.services.timeline import add_event


class Scheme(enum.StrEnum):
    DEAL = "deal"
    CONTACT = "contact"
    COMPANY = "company"
    CONTACT_COMPANY = "contact_company"
    DEAL_CONTACT = "deal_contact"
    DEAL_COMPANY = "deal_company"
    DEAL_CONTACT_COMPANY = "deal_contact_company"

    @property
    def targets(self) -> frozenset[ItemType]:
        return frozenset(ItemType(part) for part in self.value.split("_"))


DEFAULT_SCHEME = Scheme.DEAL_CONTACT_COMPANY


@dataclass
class ConversionResult:
    lead: Lead
    deal: Deal | None = None
    contact: Contact | None = None
    company: Company | None = None
    created: list[str] = field(default_factory=list)  # refs of the new items
    reused: list[str] = field(default_factory=list)  # refs of an existing client that was reused


@dataclass
class BulkResult:
    lead_id: int
    ok: bool
    created: list[str] = field(default_factory=list)
    error: DomainError | None = None

    @property
    def error_code(self) -> str | None:
        return self.error.code if self.error else None


ExtraFields = Mapping[ItemType | str, Mapping[str, Any]]


def converted_clause(lead_id: Any) -> ColumnElement[bool]:
    """Items were already created from the lead `lead_id` (a value or the leads.id column)."""
    return or_(*(exists().where(m.lead_id == lead_id) for m in (Deal, Contact, Company)))


async def _already_converted(session: AsyncSession, lead: Lead) -> bool:
    return bool(await session.scalar(select(converted_clause(lead.id))))


def _contact_values(lead: Lead) -> dict[str, Any]:
    # Named from the lead's person, never from its title ("замена котла" is not a person).
    return {
        "name": lead.name,
        "second_name": lead.second_name,
        "last_name": lead.last_name,
        "position": lead.position,
    }


PERSON_FIELDS = ("name", "second_name", "last_name")
CONTACT_NAME = "contact.name"  # the whole name, typed at once: name / second_name / last_name
COMPANY_TITLE = "company.title"


def missing_names(lead: Lead, scheme: Scheme | str, extra_fields: ExtraFields | None = None) -> list[str]:
    """The names a conversion by `scheme` would need and the lead lacks: "contact.name" when a
    new contact would have no name, "company.title" when a new company would have no title.

    A contact or company the lead already has is reused and needs nothing; `extra_fields` are
    the values the user typed for the new items. A nameless company is junk data, and the
    lead's title (what is wanted) is no one's name, so the caller asks for the name instead."""
    targets = Scheme(scheme).targets
    extra = {ItemType(k): v for k, v in (extra_fields or {}).items()}
    out = []
    if ItemType.CONTACT in targets and lead.contact_id is None:
        person = {**_contact_values(lead), **extra.get(ItemType.CONTACT, {})}
        if not any(str(person.get(k) or "").strip() for k in PERSON_FIELDS):
            out.append(CONTACT_NAME)
    if ItemType.COMPANY in targets and lead.company_id is None:
        title = extra.get(ItemType.COMPANY, {}).get("title") or lead.company_title
        if not str(title or "").strip():
            out.append(COMPANY_TITLE)
    return out


async def convert_lead(
    session: AsyncSession,
    actor: User,
    lead_id: int,
    scheme: Scheme | str = DEFAULT_SCHEME,
    *,
    extra_fields: ExtraFields | None = None,
    deal_pipeline_id: int | None = None,
    now: datetime | None = None,
) -> ConversionResult:
    """Convert a lead the actor may edit. Raises AccessDenied, NotFound, LeadAlreadyConverted,
    RequiredFieldsMissing(["deal.amount", ...]); on any error nothing is written."""
    scheme = Scheme(scheme)
    now = ensure_utc(now) if now else utcnow()
    lead: Lead = await items_svc.get_item(session, actor, ItemType.LEAD, lead_id, for_edit=True)  # type: ignore
    if await _already_converted(session, lead):
        raise LeadAlreadyConverted(ref=lead.ref)
    extra = {ItemType(k): dict(v) for k, v in (extra_fields or {}).items()}
    targets = scheme.targets

    comms = (await communications.get_communications(session, ItemType.LEAD, [lead.id]))[lead.id]
    phones = [communications.CommInput(c.value, c.value_type) for c in comms if c.kind == CommKind.PHONE]
    emails = [communications.CommInput(c.value, c.value_type) for c in comms if c.kind == CommKind.EMAIL]
    observers = await items_svc.get_observer_ids(session, lead)

    reuse_contact = lead.contact_id if ItemType.CONTACT in targets or ItemType.DEAL in targets else None
    reuse_company = lead.company_id if ItemType.COMPANY in targets or ItemType.DEAL in targets else None
    create_contact = ItemType.CONTACT in targets and lead.contact_id is None
    create_company = ItemType.COMPANY in targets and lead.company_id is None

    plan: dict[ItemType, dict[str, Any]] = {}
    if create_contact:
        plan[ItemType.CONTACT] = {
            **_contact_values(lead),
            "source": lead.source,
            "comment": lead.comment,
            "lead_id": lead.id,
            **extra.get(ItemType.CONTACT, {}),
        }
    if create_company:
        plan[ItemType.COMPANY] = {
            "title": lead.company_title,
            "source": lead.source,
            "comment": lead.comment,
            "lead_id": lead.id,
            **extra.get(ItemType.COMPANY, {}),
        }
    deal_stage = None
    if ItemType.DEAL in targets:
        deal_stage = await pl.resolve_target_stage(session, ItemType.DEAL, pipeline_id=deal_pipeline_id)
        plan[ItemType.DEAL] = {
            "title": lead.title or lead.display_name,
            "amount": lead.amount,
            "currency": lead.currency,
            "source": lead.source,
            "comment": lead.comment,
            "lead_id": lead.id,
            **extra.get(ItemType.DEAL, {}),
        }

    # Check every target first: one clear error listing everything missing, nothing written.
    # Names come first: the user is asked for them before any other field.
    missing: list[str] = missing_names(lead, scheme, extra_fields)
    for item_type, values in plan.items():
        values = items_svc._check_fields(item_type, values)  # noqa: SLF001 - same package, same rules
        plan[item_type] = values
        client_ok = item_type == ItemType.DEAL
        probe = dict(values)
        if client_ok:  # the deal's client is known only after the others are created
            probe.setdefault("contact_id", reuse_contact or (-1 if create_contact else None))
            probe.setdefault("company_id", reuse_company or (-1 if create_company else None))
        missing += await missing_required(
            session,
            item_type,
            probe,
            pipeline_id=deal_stage.pipeline_id if client_ok and deal_stage else None,
            has_phone=bool(phones),
            has_email=bool(emails),
        )
    if missing:
        raise RequiredFieldsMissing(list(dict.fromkeys(missing)), ref=lead.ref)

    result = ConversionResult(lead=lead)
    lead_ref = lead.ref
    try:
        async with session.begin_nested():
            common = dict(
                phones=phones,
                emails=emails,
                responsible_id=lead.responsible_id,
                observer_ids=observers,
                check_required=False,
                check_link_access=False,
                now=now,
            )
            if create_company:
                result.company = await items_svc.create_item(  # type: ignore[assignment]
                    session, actor, ItemType.COMPANY, plan[ItemType.COMPANY], **common
                )
            elif reuse_company:
                result.company = await session.get(Company, reuse_company)
                if result.company is not None:
                    result.reused.append(result.company.ref)
            if create_contact:
                result.contact = await items_svc.create_item(  # type: ignore[assignment]
                    session, actor, ItemType.CONTACT, plan[ItemType.CONTACT], **common
                )
            elif reuse_contact:
                result.contact = await session.get(Contact, reuse_contact)
                if result.contact is not None:
                    result.reused.append(result.contact.ref)
            if (create_contact or create_company) and result.contact and result.company:
                await _link(session, result.contact, result.company)
            if ItemType.DEAL in targets:
                deal_values = dict(plan[ItemType.DEAL])
                deal_values.setdefault("contact_id", result.contact.id if result.contact else None)
                deal_values.setdefault("company_id", result.company.id if result.company else None)
                result.deal = await items_svc.create_item(  # type: ignore[assignment]
                    session, actor, ItemType.DEAL, deal_values, stage_id=deal_stage.id, **common
                )  # type: ignore
            for new in (result.deal, result.contact, result.company):
                if new is not None and new.ref not in result.reused:
                    result.created.append(new.ref)
                    await add_event(
                        session,
                        owner_type=new.ITEM_TYPE,
                        owner_id=new.id,
                        event_type=EventType.CONVERTED,
                        author_id=actor.id,
                        payload={"from_lead": lead.ref, "lead_id": lead.id},
                        at=now,
                    )
            if result.contact is not None and lead.contact_id is None:
                lead.contact_id = result.contact.id
            if result.company is not None and lead.company_id is None:
                lead.company_id = result.company.id
            await items_svc.recompute_return_customer(session, lead)
            success = await pl.success_stage(session, lead.pipeline_id)
            moved = await pl.move_stage(
                session,
                actor,
                lead,
                success.id,
                now=now,
                check_access=False,
                extra_payload={"conversion": True},
            )
            if not moved:
                lead.updated_by_id = actor.id
                lead.updated_at = now
                await items_svc.flush_or_conflict(session, lead)
            await add_event(
                session,
                owner_type=ItemType.LEAD,
                owner_id=lead.id,
                event_type=EventType.CONVERTED,
                author_id=actor.id,
                payload={"scheme": str(scheme), "created": result.created, "reused": result.reused},
                at=now,
            )

    except StaleDataError as exc:  # an autoflush met a row changed by someone else
        raise ConcurrencyConflict(ref=lead_ref) from exc
    return result


async def _link(session: AsyncSession, contact: Contact, company: Company) -> None:
    from crm_core.models.items import contact_companies

    linked = await session.scalar(
        select(contact_companies.c.contact_id).where(
            contact_companies.c.contact_id == contact.id, contact_companies.c.company_id == company.id
        )
    )
    if linked is None:
        await session.execute(contact_companies.insert().values(contact_id=contact.id, company_id=company.id))


async def convert_leads_bulk(
    session: AsyncSession,
    actor: User,
    lead_ids: Iterable[int],
    scheme: Scheme | str = DEFAULT_SCHEME,
    *,
    extra_fields: ExtraFields | None = None,
    deal_pipeline_id: int | None = None,
    now: datetime | None = None,
) -> list[BulkResult]:
    """Convert several leads (group action); each succeeds or fails on its own. A lead that
    lacks a name the scheme needs is skipped with RequiredFieldsMissing(["contact.name"]), never
    converted into a nameless contact or company."""
    results = []
    for lead_id in dict.fromkeys(lead_ids):
        try:
            res = await convert_lead(
                session,
                actor,
                lead_id,
                scheme,
                extra_fields=extra_fields,
                deal_pipeline_id=deal_pipeline_id,
                now=now,
            )
        except DomainError as exc:
            results.append(BulkResult(lead_id=lead_id, ok=False, error=exc))
            # The savepoint rolled back; make the lead reload cleanly if anyone reads it later.
            lead = await session.get(Lead, lead_id)
            if lead is not None:
                await session.refresh(lead)
        else:
            results.append(BulkResult(lead_id=lead_id, ok=True, created=res.created))
    return results


__all__ = [
    "BulkResult",
    "ConversionResult",
    "LeadAlreadyConverted",
    "NotFound",
    "Scheme",
    "convert_lead",
    "convert_leads_bulk",
    "missing_names",
]
