"""Read-only queries the item card needs that no other service offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.activities import Activity
from crm_core.models.clients import ClientChat
from crm_core.models.items import ITEM_MODELS, AnyItem, Communication, Lead
from crm_core.models.timeline import TimelineEvent
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
        .offset(offset)
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


def _converted_and_chats(model: Any) -> Select[Any]:
    converted = converted_clause(model.id) if model is Lead else false()
    return (
        select(converted, ClientChat)
        .select_from(model)
        .outerjoin(ClientChat, client_channel.of_item(model.ITEM_TYPE, model.id))
        .where(model.id == bindparam("item_id"))
        .order_by(ClientChat.id)
    )


# Built once per item type (the id bound at execution): every card render runs it.
_CONVERTED_AND_CHATS = {item_type: _converted_and_chats(model) for item_type, model in ITEM_MODELS.items()}


async def converted_and_chats(session: AsyncSession, item: AnyItem) -> tuple[bool, list[ClientChat]]:
    """What the card's keyboard needs in one statement on the item's row: whether items were
    already created from it (a lead; False for the others) and its client chats, in order."""
    stmt = _CONVERTED_AND_CHATS[item.ITEM_TYPE]
    rows = (await session.execute(stmt, {"item_id": item.id})).all()
    return bool(rows and rows[0][0]), [chat for _, chat in rows if chat is not None]


# The card's other reads, as plain rows of the columns it shows: loading ORM objects (identity map,
# instance state) for rows nobody changes cost a third more CPU per statement (in-process, both
# databases). Built once; the owner is bound at execution.
_ACT = Activity.__table__.c
_COMM = Communication.__table__.c
_EVENT = TimelineEvent.__table__.c
_NEAREST_OPEN = (
    select(_ACT.type, _ACT.subject, _ACT.deadline)
    .where(_ACT.owner_type == bindparam("owner_type"), _ACT.owner_id == bindparam("owner_id"))
    .where(_ACT.completed.is_(False))
    .order_by(_ACT.deadline, _ACT.id)
    .limit(1)
)
_COMMS = (
    select(_COMM.kind, _COMM.value)
    .where(_COMM.owner_type == bindparam("owner_type"), _COMM.owner_id == bindparam("owner_id"))
    .order_by(_COMM.kind, _COMM.sort, _COMM.id)
)
_PINNED = (
    select(_EVENT.event_type, _EVENT.payload)
    .where(_EVENT.owner_type == bindparam("owner_type"), _EVENT.owner_id == bindparam("owner_id"))
    .where(_EVENT.pinned.is_(True))
    .order_by(_EVENT.pinned_at.desc(), _EVENT.id.desc())
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class CardExtras:
    nearest_open: Row[Any] | None  # (type, subject, deadline) of the open activity due first
    comms: list[Row[Any]]  # (kind, value) of its phones and emails, in order
    pinned: list[Row[Any]]  # (event_type, payload) of its pinned records, last pinned first


async def card_extras(session: AsyncSession, actor: User, item: AnyItem, *, pinned: int) -> CardExtras:
    """What the card shows of an item's activities, phones and emails and pinned records (at most
    `pinned` of them), for an actor who may see it. The session writes pending changes first (it
    autoflushes Core statements too)."""
    await ensure_can_view(session, actor, item)
    owner = {"owner_type": item.ITEM_TYPE, "owner_id": item.id}
    nearest = (await session.execute(_NEAREST_OPEN, owner)).first()
    comms = list((await session.execute(_COMMS, owner)).all())
    pinned_rows = list((await session.execute(_PINNED, {**owner, "limit": pinned})).all())
    return CardExtras(nearest, comms, pinned_rows)
