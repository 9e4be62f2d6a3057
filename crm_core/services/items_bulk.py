"""Creating many items of one type in a few statements (an import): each is checked by the same
rules as items.create_item, and one that fails comes back as its error with none of its parts
added. The items, their phones/e-mails, stage history, "created" records and notifications are
flushed together, so a chunk of rows costs a handful of statements, not a dozen per row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import ensure_utc, utcnow
from crm_core.errors import DomainError, RequiredFieldsMissing
from crm_core.models.items import AnyItem, CommKind, Company, Contact, ItemType, Lead, Stage
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.permissions import ensure_active
from crm_core.services import pipelines as pl
from crm_core.services.communications import DEFAULT_PHONE_REGION, CommInput, comm_rows, prepare_comms
from crm_core.services.items import (
    _check_fields,
    _check_links,
    assigned_category,
    check_user,
    clients_by_comms,
    created_payload,
    is_earlier_client,
    new_item,
    tell_payload,
)
from crm_core.services.notifications import is_muted, new_notification
from crm_core.services.required_fields import get_required_fields, missing_of
from crm_core.services.timeline import new_event


@dataclass
class NewItem:
    fields: dict[str, Any]
    phones: list[CommInput] = field(default_factory=list)
    emails: list[CommInput] = field(default_factory=list)
    responsible_id: int | None = None
    stage_id: int | None = None  # None: the first stage of the default pipeline


@dataclass
class _Ready:
    item: AnyItem
    stage: Stage | None
    phones: list[tuple[CommInput, str]]
    emails: list[tuple[CommInput, str]]


async def create_items(
    session: AsyncSession,
    actor: User,
    item_type: ItemType,
    new: Sequence[NewItem],
    *,
    default_region: str | None = DEFAULT_PHONE_REGION,
    now: datetime | None = None,
    event_payload: dict[str, Any] | None = None,
) -> list[AnyItem | DomainError]:
    """create_item(check_link_access=False, auto_link_client=True) for each of `new`, in its order:
    the item created, or the error it failed with (nothing of it added). Database errors (a broken
    constraint) are raised: the caller rolls the whole batch back. The items come back with their
    ids but outside the session (inserted with Core): load one to change it."""
    ensure_active(actor)
    item_type = ItemType(item_type)
    now = ensure_utc(now) if now else utcnow()
    out: list[AnyItem | DomainError] = []
    ready: list[_Ready | None] = []
    users = await _users(session, {n.responsible_id or actor.id for n in new})
    stages: dict[int | None, Stage | DomainError] = {}
    required: dict[int | None, list[str]] = {}
    for spec in new:
        try:
            values = _check_fields(item_type, dict(spec.fields))
            phones = prepare_comms(CommKind.PHONE, spec.phones, default_region)
            emails = prepare_comms(CommKind.EMAIL, spec.emails, default_region)
            await _check_links(session, actor, item_type, values, check_access=False)
            responsible_id = spec.responsible_id or actor.id
            check_user(users.get(responsible_id), responsible_id)
            stage = None
            if item_type.has_stages:
                stage = await _stage(session, stages, item_type, spec.stage_id)
            item = new_item(item_type, values, responsible_id, actor, now, stage)
            ready.append(_Ready(item, stage, phones, emails))
            out.append(item)
        except DomainError as exc:
            ready.append(None)
            out.append(exc)
    if item_type == ItemType.LEAD:
        await _link_clients(session, [r for r in ready if r is not None])
    for i, r in enumerate(ready):
        if r is None:
            continue
        pipeline_id = getattr(r.item, "pipeline_id", None)
        if pipeline_id not in required:
            required[pipeline_id] = await get_required_fields(session, item_type, pipeline_id=pipeline_id)
        missing = missing_of(
            item_type, required[pipeline_id], r.item, has_phone=bool(r.phones), has_email=bool(r.emails)
        )
        if missing:
            ready[i], out[i] = None, RequiredFieldsMissing(missing)
    made = [r for r in ready if r is not None]
    told = {(r.item.responsible_id, assigned_category(r.item)) for r in made}
    muted = {(uid, cat): await is_muted(session, uid, cat) for uid, cat in told if uid != actor.id}
    await _insert(session, [r.item for r in made], ids=True)
    children: list[Any] = []
    for r in made:
        item = r.item
        children += comm_rows(item, CommKind.PHONE, r.phones) + comm_rows(item, CommKind.EMAIL, r.emails)
        if r.stage is not None:
            children.append(pl.stage_history_row(item, r.stage, actor, now))  # type: ignore[arg-type]
        children.append(
            new_event(
                owner_type=item_type,
                owner_id=item.id,
                event_type=EventType.CREATED,
                author_id=actor.id,
                payload=created_payload(item, r.stage, event_payload),
                at=now,
            )
        )
        category = assigned_category(item)
        if item.responsible_id != actor.id and not muted[item.responsible_id, category]:
            children.append(
                new_notification(item.responsible_id, category, tell_payload(item, actor), now=now)
            )
    for kind in dict.fromkeys(type(c) for c in children):
        await _insert(session, [c for c in children if type(c) is kind])
    return out


async def _insert(session: AsyncSession, objs: list[Any], *, ids: bool = False) -> None:
    """INSERT new rows of one mapped class, given as transient objects, with executemany (the ORM
    sends a versioned row at a time). Unset columns take their defaults. With `ids`, each object
    gets its new id: ids come from the rowid/sequence row by row, so in ascending order they
    follow the rows' order."""
    if not objs:
        return
    mapper = sa_inspect(type(objs[0]))
    table = mapper.local_table
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for obj in objs:
        row = {}
        for attr in mapper.column_attrs:
            value = getattr(obj, attr.key)
            if value is not None:
                row[attr.columns[0].key] = value
        groups.setdefault(tuple(row), []).append((obj, row))
    for group in groups.values():
        rows = [row for _, row in group]
        if not ids:
            await session.execute(insert(table), rows)
            continue
        new_ids = sorted(await session.scalars(insert(table).returning(table.c.id), rows))
        for (obj, _), new_id in zip(group, new_ids, strict=True):
            obj.id = new_id


async def _users(session: AsyncSession, ids: set[int]) -> dict[int, User]:
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))}


async def _stage(
    session: AsyncSession,
    cache: dict[int | None, Stage | DomainError],
    item_type: ItemType,
    stage_id: int | None,
) -> Stage:
    if stage_id not in cache:
        try:
            cache[stage_id] = await pl.resolve_target_stage(session, item_type, stage_id=stage_id)
        except DomainError as exc:
            cache[stage_id] = exc
    found = cache[stage_id]
    if isinstance(found, DomainError):
        raise found
    return found


async def _link_clients(session: AsyncSession, ready: list[_Ready]) -> None:
    """A new lead with a known phone/e-mail gets that client (a repeat lead), as create_item does:
    one query per client kind for all of them."""
    keys = {(CommKind.PHONE, n) for r in ready for _, n in r.phones}
    keys |= {(CommKind.EMAIL, n) for r in ready for _, n in r.emails}
    for model, attr in ((Contact, "contact_id"), (Company, "company_id")):
        found = await clients_by_comms(session, model, keys)
        for r in ready:
            if getattr(r.item, attr) is None:
                mine = [found.get((CommKind.PHONE, n)) for _, n in r.phones]
                mine += [found.get((CommKind.EMAIL, n)) for _, n in r.emails]
                setattr(r.item, attr, max((i for i in mine if i is not None), default=None))
    clients: dict[Any, Any] = {}
    for model, attr in ((Contact, "contact_id"), (Company, "company_id")):
        ids = {getattr(r.item, attr) for r in ready} - {None}
        if ids:
            for c in await session.scalars(select(model).where(model.id.in_(ids))):
                clients[model, c.id] = c
    for r in ready:
        lead: Lead = r.item  # type: ignore[assignment]
        pair = [clients.get((Contact, lead.contact_id)), clients.get((Company, lead.company_id))]
        lead.is_return_customer = any(is_earlier_client(lead, c) for c in pair)
