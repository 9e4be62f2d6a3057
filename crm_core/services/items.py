"""Items: create, read, update (with field history), responsible, observers, links. Phones and
e-mails are crm_core.services.communications. Every change writes a timeline event; the caller's
unit of work commits.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Executable, bindparam, delete, func, insert, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.db import hold
from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields import fields as schema_fields
from crm_core.fields import get_field
from crm_core.models.items import (
    ITEM_MODELS,
    AnyItem,
    CommKind,
    Communication,
    Company,
    Contact,
    Deal,
    ItemObserver,
    ItemType,
    Lead,
    contact_companies,
)
from crm_core.models.notifications import NotificationCategory
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_active, ensure_can_edit, ensure_can_view
from crm_core.services import pipelines as pl
from crm_core.services.communications import (
    DEFAULT_PHONE_REGION,
    CommInput,
    CommLike,
    comm_rows,
    get_communications,
    prepare_comms,
    replace_comms,
)
from crm_core.services.notifications import notify
from crm_core.services.timeline import add_event
from crm_core.services.versioning import check_version, flush_or_conflict

# Fields create/update accept, per item type (the schema's settable fields).
EDITABLE_FIELDS: dict[ItemType, frozenset[str]] = {
    t: frozenset(f.name for f in schema_fields(t) if f.settable) for t in ItemType
}


# --- reading ------------------------------------------------------------------------------------


def model_for(item_type: ItemType | str) -> type[AnyItem]:
    return ITEM_MODELS[ItemType(item_type)]  # type: ignore[return-value]


async def get_item(
    session: AsyncSession, actor: User, item_type: ItemType | str, item_id: int, *, for_edit: bool = False
) -> AnyItem:
    """Load an item the actor may see (NotFound if absent or trashed, AccessDenied otherwise)."""
    ensure_active(actor)
    item = await session.get(model_for(item_type), item_id)
    if item is None:
        raise NotFound(item_type=str(item_type), item_id=item_id)
    hold(session, item)
    if for_edit:
        await ensure_can_edit(session, actor, item)
    else:
        await ensure_can_view(session, actor, item)
    return item


# Hot statements are built once (values bound at execution): building one and computing its cache
# key on every call cost more CPU than the query itself.
# Of the table, not the mapped class: a plain statement skips the ORM's per-execution setup.
_OBS = ItemObserver.__table__.c
_OBSERVER_IDS = (
    select(_OBS.user_id)
    .where(_OBS.owner_type == bindparam("owner_type"), _OBS.owner_id == bindparam("owner_id"))
    .order_by(_OBS.created_at, _OBS.user_id)
)


async def get_observer_ids(session: AsyncSession, item: AnyItem) -> list[int]:
    rows = await session.scalars(_OBSERVER_IDS, {"owner_type": item.ITEM_TYPE, "owner_id": item.id})
    return list(rows)


async def get_company_ids(session: AsyncSession, contact_id: int) -> list[int]:
    rows = await session.scalars(
        select(contact_companies.c.company_id).where(contact_companies.c.contact_id == contact_id)
    )
    return sorted(rows)


async def get_contact_ids(session: AsyncSession, company_id: int) -> list[int]:
    rows = await session.scalars(
        select(contact_companies.c.contact_id).where(contact_companies.c.company_id == company_id)
    )
    return sorted(rows)


# --- writing ------------------------------------------------------------------------------------


def _check_fields(item_type: ItemType, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - EDITABLE_FIELDS[item_type]
    if unknown:
        raise ValidationFailed("unknown fields", fields=sorted(unknown), item_type=str(item_type))
    return {k: get_field(item_type, k).clean(v) for k, v in fields.items()}


async def _check_links(
    session: AsyncSession,
    actor: User,
    item_type: ItemType,
    fields: dict[str, Any],
    *,
    check_access: bool = True,
) -> None:
    """A linked client/lead must exist, not be trashed, and be visible to the actor."""
    targets = {"contact_id": Contact, "company_id": Company, "lead_id": Lead}
    for field, model in targets.items():
        target_id = fields.get(field)
        if target_id is None:
            continue
        target = await session.get(model, target_id)
        if target is None or target.deleted_at is not None:
            raise NotFound(item_type=str(model.ITEM_TYPE), item_id=target_id)
        if check_access:
            await ensure_can_view(session, actor, target)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


async def recompute_return_customer(session: AsyncSession, lead: Lead) -> bool:
    """A lead whose client is an existing contact/company is a repeat lead: one that was in the CRM
    before the lead came. A client created for this lead afterwards (typed into its client field,
    or made by converting it) does not make it one."""
    result = False
    for model, client_id in ((Contact, lead.contact_id), (Company, lead.company_id)):
        if client_id is None:
            continue
        if is_earlier_client(lead, await session.get(model, client_id)):
            result = True
    lead.is_return_customer = result
    return result


def is_earlier_client(lead: Lead, client: Contact | Company | None) -> bool:
    """The client was in the CRM before the lead came (not made for it): the lead is a repeat one."""
    if client is None or (lead.id is not None and client.lead_id == lead.id):
        return False
    return lead.created_at is None or client.created_at is None or client.created_at < lead.created_at


async def _find_clients_by_comms(
    session: AsyncSession, models: list[type[Contact] | type[Company]], prepared: list[tuple[CommKind, str]]
) -> dict[ItemType, int]:
    """Per model, the newest non-trashed contact/company having one of these normalised phones or
    emails (one statement for both)."""
    wanted = set(prepared)
    if not wanted or not models:
        return {}
    stmt = _clients_by_comms_stmt(tuple(models))
    found: dict[ItemType, int] = {}
    for owner_type, kind, norm, client_id in await session.execute(stmt, _comms_params(wanted)):
        if (CommKind(kind), norm) in wanted:
            found[ItemType(owner_type)] = max(found.get(ItemType(owner_type), client_id), client_id)
    return found


@functools.cache
def _clients_by_comms_stmt(models: tuple[type[Contact] | type[Company], ...]) -> Executable:
    """Built once per set of models (building it took ~1.5% of a busy bot's CPU); the phones and
    emails are bound as `_comms_params` gives them."""
    parts = [
        select(Communication.owner_type, Communication.kind, Communication.normalized, func.max(model.id))
        .join(model, (Communication.owner_type == model.ITEM_TYPE) & (Communication.owner_id == model.id))
        .where(
            Communication.kind.in_(bindparam("kinds", expanding=True)),  # the (kind, normalized) index
            Communication.normalized.in_(bindparam("norms", expanding=True)),
            model.deleted_at.is_(None),
        )
        .group_by(Communication.owner_type, Communication.kind, Communication.normalized)
        for model in models
    ]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def _comms_params(wanted: set[tuple[CommKind, str]]) -> dict[str, list[Any]]:
    return {"kinds": sorted({kind for kind, _ in wanted}), "norms": sorted({norm for _, norm in wanted})}


async def clients_by_comms(
    session: AsyncSession, model: type[Contact] | type[Company], prepared: Iterable[tuple[CommKind, str]]
) -> dict[tuple[CommKind, str], int]:
    """For each normalised phone/email, the newest non-trashed contact/company having it (one query
    for many new leads)."""
    wanted = set(prepared)
    if not wanted:
        return {}
    rows = await session.execute(_clients_by_comms_stmt((model,)), _comms_params(wanted))
    return {(CommKind(k), n): i for _, k, n, i in rows if (CommKind(k), n) in wanted}


async def create_item(
    session: AsyncSession,
    actor: User,
    item_type: ItemType | str,
    fields: dict[str, Any] | None = None,
    *,
    phones: Iterable[CommLike] | None = None,
    emails: Iterable[CommLike] | None = None,
    responsible_id: int | None = None,
    observer_ids: Iterable[int] = (),
    company_ids: Iterable[int] = (),
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    auto_link_client: bool = True,
    check_link_access: bool = True,
    check_required: bool = True,
    default_region: str | None = DEFAULT_PHONE_REGION,
    now: datetime | None = None,
    event_payload: dict[str, Any] | None = None,
) -> AnyItem:
    """Create a lead, deal, contact or company. Leads/deals go to the given stage or the first
    stage of the given (or default) pipeline. A lead without an explicit client is linked to an
    existing contact/company sharing a phone or email (a repeat lead) when `auto_link_client`.
    `event_payload` adds to the "created" timeline record (an import names its file).
    Raises RequiredFieldsMissing, ValidationFailed, AccessDenied."""
    from crm_core.services.required_fields import ensure_required

    ensure_active(actor)
    item_type = ItemType(item_type)
    now = ensure_utc(now) if now else utcnow()
    values = _check_fields(item_type, dict(fields or {}))
    prepared_phones = prepare_comms(CommKind.PHONE, phones, default_region)
    prepared_emails = prepare_comms(CommKind.EMAIL, emails, default_region)
    await _check_links(session, actor, item_type, values, check_access=check_link_access)
    responsible_id = responsible_id or actor.id
    await _ensure_user(session, responsible_id)

    stage = None
    if item_type.has_stages:
        stage = await pl.resolve_target_stage(session, item_type, pipeline_id=pipeline_id, stage_id=stage_id)
    item = new_item(item_type, values, responsible_id, actor, now, stage)
    if stage is not None:
        if item_type == ItemType.LEAD and auto_link_client:
            # A known phone/email fills whichever client side was left empty (a repeat lead).
            comms = [(CommKind.PHONE, n) for _, n in prepared_phones] + [
                (CommKind.EMAIL, n) for _, n in prepared_emails
            ]
            empty = [
                m for m, k in ((Contact, "contact_id"), (Company, "company_id")) if getattr(item, k) is None
            ]
            found = await _find_clients_by_comms(session, empty, comms)
            if item.contact_id is None:
                item.contact_id = found.get(ItemType.CONTACT)
            if item.company_id is None:
                item.company_id = found.get(ItemType.COMPANY)
    if check_required:
        await ensure_required(
            session,
            item_type,
            item,
            pipeline_id=getattr(item, "pipeline_id", None),
            has_phone=bool(prepared_phones),
            has_email=bool(prepared_emails),
        )
    session.add(item)
    await session.flush()
    if isinstance(item, Lead):
        await recompute_return_customer(session, item)
    # A new item has no phones or e-mails to replace yet.
    session.add_all(
        comm_rows(item, CommKind.PHONE, prepared_phones) + comm_rows(item, CommKind.EMAIL, prepared_emails)
    )
    observer_set = [u for u in dict.fromkeys(observer_ids) if u != responsible_id]
    for uid in observer_set:
        await _ensure_user(session, uid)
        session.add(ItemObserver(owner_type=item_type, owner_id=item.id, user_id=uid, created_at=now))
    if isinstance(item, Contact):
        for cid in dict.fromkeys(company_ids):
            await _check_links(session, actor, ItemType.COMPANY, {"company_id": cid})
            await session.execute(insert(contact_companies).values(contact_id=item.id, company_id=cid))
    if stage is not None:
        await pl.open_stage_history(session, item, stage, actor, now)
    await add_event(
        session,
        owner_type=item_type,
        owner_id=item.id,
        event_type=EventType.CREATED,
        author_id=actor.id,
        payload=created_payload(item, stage, event_payload),
        at=now,
    )
    await _tell(session, responsible_id, assigned_category(item), item, actor, now)
    for uid in observer_set:
        await _tell(session, uid, NotificationCategory.OBSERVER_ADDED, item, actor, now)
    await session.flush()
    return item


def new_item(
    item_type: ItemType, values: dict[str, Any], responsible_id: int, actor: User, now: datetime, stage: Any
) -> AnyItem:
    """A new item of checked values, on its stage (a lead/deal), not yet added to the session."""
    item = model_for(item_type)(
        **values,
        responsible_id=responsible_id,
        created_by_id=actor.id,
        updated_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    if stage is not None:
        item.pipeline_id = stage.pipeline_id
        item.stage_id = stage.id
        item.stage_entered_at = now
        pl.apply_stage_semantics(item, stage, now)
    return item


def created_payload(item: AnyItem, stage: Any, event_payload: dict[str, Any] | None) -> dict[str, Any]:
    """The "created" timeline record's payload (after the item's flush: its title may use its id)."""
    payload: dict[str, Any] = {**(event_payload or {}), "title": item.display_name}
    if stage is not None:
        payload["stage_id"] = stage.id
    if getattr(item, "lead_id", None):
        payload["lead_id"] = item.lead_id
    return payload


def assigned_category(item: AnyItem) -> NotificationCategory:
    if isinstance(item, Lead):
        return NotificationCategory.LEAD_ASSIGNED
    return NotificationCategory.RESPONSIBLE_ASSIGNED


async def create_lead(session: AsyncSession, actor: User, **kwargs: Any) -> Lead:
    """create_item for a lead; model fields as keywords, service options as in create_item."""
    fields, options = _split_kwargs(kwargs)
    return await create_item(session, actor, ItemType.LEAD, fields, **options)  # type: ignore[return-value]


async def create_deal(session: AsyncSession, actor: User, **kwargs: Any) -> Deal:
    fields, options = _split_kwargs(kwargs)
    return await create_item(session, actor, ItemType.DEAL, fields, **options)  # type: ignore[return-value]


async def create_contact(session: AsyncSession, actor: User, **kwargs: Any) -> Contact:
    fields, options = _split_kwargs(kwargs)
    return await create_item(session, actor, ItemType.CONTACT, fields, **options)  # type: ignore[return-value]


async def create_company(session: AsyncSession, actor: User, **kwargs: Any) -> Company:
    fields, options = _split_kwargs(kwargs)
    return await create_item(session, actor, ItemType.COMPANY, fields, **options)  # type: ignore[return-value]


_OPTIONS = {
    "phones",
    "emails",
    "responsible_id",
    "observer_ids",
    "company_ids",
    "pipeline_id",
    "stage_id",
    "auto_link_client",
    "check_link_access",
    "check_required",
    "default_region",
    "now",
    "event_payload",
}


def _split_kwargs(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {k: v for k, v in kwargs.items() if k not in _OPTIONS},
        {k: v for k, v in kwargs.items() if k in _OPTIONS},
    )


async def update_item(
    session: AsyncSession,
    actor: User,
    item: AnyItem,
    changes: dict[str, Any] | None = None,
    *,
    phones: Iterable[CommLike] | None = None,
    emails: Iterable[CommLike] | None = None,
    expected_version: int | None = None,
    default_region: str | None = DEFAULT_PHONE_REGION,
    now: datetime | None = None,
) -> list[str]:
    """Change fields (and/or replace the phone/email lists). Each real change writes a
    field_changed event {field, old, new}. Returns the changed field names.
    Raises AccessDenied, ConcurrencyConflict, RequiredFieldsMissing, ValidationFailed."""
    from crm_core.services.required_fields import ensure_required

    await ensure_can_edit(session, actor, item)
    check_version(item, expected_version)
    now = ensure_utc(now) if now else utcnow()
    values = _check_fields(item.ITEM_TYPE, dict(changes or {}))
    await _check_links(
        session, actor, item.ITEM_TYPE, {k: v for k, v in values.items() if v != getattr(item, k)}
    )
    diffs: list[tuple[str, Any, Any]] = []
    for field, new in values.items():
        old = getattr(item, field)
        if old != new:
            diffs.append((field, old, new))
            setattr(item, field, new)

    comm_diffs: list[tuple[str, list[str], list[str]]] = []
    prepared_by_kind: dict[CommKind, list[tuple[CommInput, str]]] = {}
    current = (await get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
    for kind, raw, name in ((CommKind.PHONE, phones, "phones"), (CommKind.EMAIL, emails, "emails")):
        if raw is None:
            continue
        prepared = prepare_comms(kind, raw, default_region)
        old_vals = [c.value for c in current if c.kind == kind]
        new_vals = [ci.value for ci, _ in prepared]
        old_types = [c.value_type for c in current if c.kind == kind]
        if old_vals != new_vals or old_types != [ci.value_type for ci, _ in prepared]:
            prepared_by_kind[kind] = prepared
            comm_diffs.append((name, old_vals, new_vals))
    has_phone = (
        bool(prepared_by_kind[CommKind.PHONE])
        if CommKind.PHONE in prepared_by_kind
        else any(c.kind == CommKind.PHONE for c in current)
    )
    has_email = (
        bool(prepared_by_kind[CommKind.EMAIL])
        if CommKind.EMAIL in prepared_by_kind
        else any(c.kind == CommKind.EMAIL for c in current)
    )
    if not diffs and not comm_diffs:
        return []
    await ensure_required(
        session,
        item.ITEM_TYPE,
        item,
        pipeline_id=getattr(item, "pipeline_id", None),
        has_phone=has_phone,
        has_email=has_email,
    )
    if isinstance(item, Lead) and any(f in ("contact_id", "company_id") for f, _, _ in diffs):
        await recompute_return_customer(session, item)
    item.updated_by_id = actor.id
    item.updated_at = now
    await flush_or_conflict(session, item)
    for kind, prepared in prepared_by_kind.items():
        await replace_comms(session, item, kind, prepared)
    for field, old, new in diffs:
        await add_event(
            session,
            owner_type=item.ITEM_TYPE,
            owner_id=item.id,
            event_type=EventType.FIELD_CHANGED,
            author_id=actor.id,
            payload={"field": field, "old": _jsonable(old), "new": _jsonable(new)},
            at=now,
        )
    for name, old_vals, new_vals in comm_diffs:
        await add_event(
            session,
            owner_type=item.ITEM_TYPE,
            owner_id=item.id,
            event_type=EventType.FIELD_CHANGED,
            author_id=actor.id,
            payload={"field": name, "old": old_vals, "new": new_vals},
            at=now,
        )
    await flush_or_conflict(session, item)
    return [f for f, _, _ in diffs] + [n for n, _, _ in comm_diffs]


async def _ensure_user(session: AsyncSession, user_id: int) -> User:
    return check_user(await session.get(User, user_id), user_id)


def check_user(user: User | None, user_id: int) -> User:
    """A responsible/observer must exist and be active."""
    if user is None:
        raise NotFound(user_id=user_id)
    if not user.is_active:
        raise ValidationFailed("inactive user", field="user", user_id=user_id)
    return user


async def _tell(
    session: AsyncSession,
    user_id: int,
    category: NotificationCategory,
    item: AnyItem,
    actor: User,
    now: datetime,
) -> None:
    """A person is given an item (or made an observer) by someone else: queue a notification in the
    same transaction as the change. Nobody is told about what they did themselves."""
    if user_id == actor.id:
        return
    await notify(session, user_id, category, tell_payload(item, actor), now=now)


def tell_payload(item: AnyItem, actor: User) -> dict[str, Any]:
    return {"owner_type": str(item.ITEM_TYPE), "owner_id": item.id, "ref": item.ref, "by": actor.id}


async def change_responsible(
    session: AsyncSession,
    actor: User,
    item: AnyItem,
    user_id: int,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
) -> None:
    await ensure_can_edit(session, actor, item)
    check_version(item, expected_version)
    await _ensure_user(session, user_id)
    if item.responsible_id == user_id:
        return
    now = ensure_utc(now) if now else utcnow()
    old = item.responsible_id
    item.responsible_id = user_id
    item.updated_by_id = actor.id
    item.updated_at = now
    await flush_or_conflict(session, item)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.RESPONSIBLE_CHANGED,
        author_id=actor.id,
        payload={"old": old, "new": user_id},
        at=now,
    )
    await _tell(session, user_id, NotificationCategory.RESPONSIBLE_ASSIGNED, item, actor, now)


async def add_observer(
    session: AsyncSession, actor: User, item: AnyItem, user_id: int, *, now: datetime | None = None
) -> bool:
    """Returns False if the user already observes the item."""
    await ensure_can_edit(session, actor, item)
    await _ensure_user(session, user_id)
    now = ensure_utc(now) if now else utcnow()
    existing = await session.get(ItemObserver, (item.ITEM_TYPE, item.id, user_id))
    if existing is not None:
        return False
    session.add(ItemObserver(owner_type=item.ITEM_TYPE, owner_id=item.id, user_id=user_id, created_at=now))
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.OBSERVER_ADDED,
        author_id=actor.id,
        payload={"user_id": user_id},
        at=now,
    )
    await _tell(session, user_id, NotificationCategory.OBSERVER_ADDED, item, actor, now)
    return True


async def remove_observer(
    session: AsyncSession, actor: User, item: AnyItem, user_id: int, *, now: datetime | None = None
) -> bool:
    await ensure_can_edit(session, actor, item)
    existing = await session.get(ItemObserver, (item.ITEM_TYPE, item.id, user_id))
    if existing is None:
        return False
    await session.delete(existing)
    await add_event(
        session,
        owner_type=item.ITEM_TYPE,
        owner_id=item.id,
        event_type=EventType.OBSERVER_REMOVED,
        author_id=actor.id,
        payload={"user_id": user_id},
        at=ensure_utc(now) if now else None,
    )
    return True


async def link_contact_company(
    session: AsyncSession, actor: User, contact: Contact, company: Company, *, now: datetime | None = None
) -> bool:
    """Link a contact and a company (many-to-many); events on both. False if already linked."""
    await ensure_can_edit(session, actor, contact)
    await ensure_can_edit(session, actor, company)
    exists_ = await session.scalar(
        select(contact_companies.c.contact_id).where(
            contact_companies.c.contact_id == contact.id, contact_companies.c.company_id == company.id
        )
    )
    if exists_ is not None:
        return False
    await session.execute(insert(contact_companies).values(contact_id=contact.id, company_id=company.id))
    await _link_events(session, actor, contact, company, EventType.LINK_ADDED, now)
    return True


async def unlink_contact_company(
    session: AsyncSession, actor: User, contact: Contact, company: Company, *, now: datetime | None = None
) -> bool:
    await ensure_can_edit(session, actor, contact)
    await ensure_can_edit(session, actor, company)
    result = await session.execute(
        delete(contact_companies).where(
            contact_companies.c.contact_id == contact.id, contact_companies.c.company_id == company.id
        )
    )
    if not result.rowcount:
        return False
    await _link_events(session, actor, contact, company, EventType.LINK_REMOVED, now)
    return True


async def _link_events(
    session: AsyncSession, actor: User, a: AnyItem, b: AnyItem, event_type: EventType, now: datetime | None
) -> None:
    for this, other in ((a, b), (b, a)):
        await add_event(
            session,
            owner_type=this.ITEM_TYPE,
            owner_id=this.id,
            event_type=event_type,
            author_id=actor.id,
            payload={"item_type": str(other.ITEM_TYPE), "item_id": other.id, "ref": other.ref},
            at=now,
        )
