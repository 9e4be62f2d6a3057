"""Read-only queries the item card needs that no other service offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.fields.kinds import fit_offset
from crm_core.models.activities import Activity, ActivityType
from crm_core.models.clients import ClientChat
from crm_core.models.items import ITEM_MODELS, AnyItem, CommKind, Communication, ItemObserver, ItemType, Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import User
from crm_core.permissions import ensure_active, ensure_can_view
from crm_core.services import client_channel
from crm_core.services.conversion import converted_clause


async def assignable_users(
    session: AsyncSession, actor: User, *, limit: int = 10, offset: int = 0
) -> tuple[list[User], int]:
    """Active users anyone may pick as responsible or observer (as in Bitrix24, every colleague
    can be chosen), by name; returns a page and the total count."""
    ensure_active(actor)
    total = await session.scalar(select(func.count(User.id)).where(User.is_active.is_(True))) or 0
    rows = await session.scalars(
        select(User)
        .where(User.is_active.is_(True))
        .order_by(User.full_name, User.id)
        .limit(limit)
        .offset(fit_offset(offset))
    )
    return list(rows), int(total)


async def users_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, User]:
    wanted: Sequence[int] = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    found: dict[int, User] = {}
    for user_id in wanted:  # those this unit of work has loaded already (often the actor): no query
        user = session.sync_session.identity_map.get(session.sync_session.identity_key(User, user_id))
        if user is not None:
            found[user_id] = user
    missing = [i for i in wanted if i not in found]
    if missing:
        found.update({u.id: u for u in await session.scalars(select(User).where(User.id.in_(missing)))})
    return found


async def lead_is_converted(session: AsyncSession, lead: Lead) -> bool:
    """Items were already created from this lead (the rule conversion itself applies)."""
    return bool(await session.scalar(select(converted_clause(lead.id))))


# What the card shows beyond the item's own row, as plain rows of the columns it needs, in one
# statement: its observers, its open activity due first, its phones and emails, its last pinned
# records, whether items were already created from it (a lead) and its client chats. Loading ORM
# objects for rows nobody changes cost a third more CPU per statement, and each statement is a
# round trip through the driver (in-process, both databases). Built once; the owner is bound at
# execution, one per item type. Each part fills its own columns (tag says which part a row is) and
# numbers its rows in its own order.
_OBS = ItemObserver.__table__.c
_ACT = Activity.__table__.c
_COMM = Communication.__table__.c
_EVENT = TimelineEvent.__table__.c
_CHAT = ClientChat.__table__.c
_COLUMNS = {
    "observer": _OBS.user_id,
    "act_type": _ACT.type,
    "act_subject": _ACT.subject,
    "act_deadline": _ACT.deadline,
    "comm_kind": _COMM.kind,
    "comm_value": _COMM.value,
    "event_type": _EVENT.event_type,
    "event_payload": _EVENT.payload,
    "chat": _CHAT.id,
}
_OBSERVER, _NEAREST, _COMM_ROW, _PINNED, _CONVERTED, _CHAT_ROW = range(6)


def _of_owner(table: Any) -> ColumnElement[bool]:
    return and_(table.owner_type == bindparam("owner_type"), table.owner_id == bindparam("owner_id"))


def _part(tag: int, source: Any, order: Sequence[Any], **own: Any) -> Select[Any]:
    """One part of the statement: the columns `own` from `source`, NULL in the others, cast to each
    column's type (PostgreSQL matches the parts' types; every value is read back as its column's)."""
    columns = [own[name].label(name) if name in own else cast(null(), c.type).label(name)
               for name, c in _COLUMNS.items()]  # fmt: skip
    number = func.row_number().over(order_by=list(order)) if order else literal(1)
    query = select(literal(tag).label("tag"), *columns, number.label("n"))
    return query.select_from(source) if source is not None else query


def _card_reads(item_type: ItemType) -> Select[Any]:
    nearest = (
        select(_ACT.type, _ACT.subject, _ACT.deadline, _ACT.id)
        .where(_of_owner(_ACT), _ACT.completed.is_(False))
        .order_by(_ACT.deadline, _ACT.id)
        .limit(1)
        .subquery()
    )
    pinned = (
        select(_EVENT.event_type, _EVENT.payload, _EVENT.pinned_at, _EVENT.id)
        .where(_of_owner(_EVENT), _EVENT.pinned.is_(True))
        .order_by(_EVENT.pinned_at.desc(), _EVENT.id.desc())
        .limit(bindparam("limit"))
        .subquery()
    )
    converted = _part(_CONVERTED, None, ()).where(converted_clause(bindparam("owner_id")))
    parts = union_all(
        *([converted] if item_type == ItemType.LEAD else []),
        _part(_CHAT_ROW, ClientChat.__table__, [_CHAT.id], chat=_CHAT.id)
        .where(client_channel.of_item(bindparam("owner_type"), bindparam("owner_id"))),
        _part(_OBSERVER, ItemObserver.__table__, [_OBS.created_at, _OBS.user_id], observer=_OBS.user_id)
        .where(_of_owner(_OBS)),
        _part(_NEAREST, nearest, [nearest.c.deadline, nearest.c.id],
              act_type=nearest.c.type, act_subject=nearest.c.subject, act_deadline=nearest.c.deadline),
        _part(_COMM_ROW, Communication.__table__, [_COMM.kind, _COMM.sort, _COMM.id],
              comm_kind=_COMM.kind, comm_value=_COMM.value)
        .where(_of_owner(_COMM)),
        _part(_PINNED, pinned, [pinned.c.pinned_at.desc(), pinned.c.id.desc()],
              event_type=pinned.c.event_type, event_payload=pinned.c.payload),
    ).subquery()  # fmt: skip
    return select(parts).order_by(parts.c.tag, parts.c.n)


_CARD_READS = {item_type: _card_reads(item_type) for item_type in ITEM_MODELS}


class Nearest(NamedTuple):
    type: ActivityType
    subject: str
    deadline: datetime


class Comm(NamedTuple):
    kind: CommKind
    value: str


class Pinned(NamedTuple):
    event_type: EventType
    payload: dict[str, Any]


@dataclass(frozen=True)
class CardExtras:
    converted: bool  # items were already created from it (a lead; False for the others)
    chat_ids: list[int]  # its client chats, oldest first
    observer_ids: list[int]  # in the order they were added
    nearest_open: Nearest | None  # the open activity due first
    comms: list[Comm]  # its phones and emails, in order
    pinned: list[Pinned]  # its pinned records, last pinned first


async def card_extras(session: AsyncSession, actor: User, item: AnyItem, *, pinned: int) -> CardExtras:
    """What the card shows of an item beyond its row (pinned records: at most `pinned`), for an actor
    who may see it. The session writes pending changes first (it autoflushes Core statements too)."""
    await ensure_can_view(session, actor, item)
    params = {"owner_type": item.ITEM_TYPE, "owner_id": item.id, "limit": pinned}
    rows = (await session.execute(_CARD_READS[item.ITEM_TYPE], params)).all()
    nearest = [Nearest(r.act_type, r.act_subject, r.act_deadline) for r in rows if r.tag == _NEAREST]
    return CardExtras(
        converted=any(r.tag == _CONVERTED for r in rows),
        chat_ids=[r.chat for r in rows if r.tag == _CHAT_ROW],
        observer_ids=[r.observer for r in rows if r.tag == _OBSERVER],
        nearest_open=nearest[0] if nearest else None,
        comms=[Comm(r.comm_kind, r.comm_value) for r in rows if r.tag == _COMM_ROW],
        pinned=[Pinned(r.event_type, r.event_payload) for r in rows if r.tag == _PINNED],
    )


async def client_chats(session: AsyncSession, chat_ids: Sequence[int]) -> list[ClientChat]:
    """The client chats of `chat_ids` (a card's, from card_extras), in that order."""
    if not chat_ids:
        return []
    found = {c.id: c for c in await session.scalars(select(ClientChat).where(ClientChat.id.in_(chat_ids)))}
    return [found[i] for i in chat_ids if i in found]
