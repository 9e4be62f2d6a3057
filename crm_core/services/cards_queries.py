"""Read-only queries the item card needs that no other service offers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.clients import ClientChat
from crm_core.models.items import ITEM_MODELS, AnyItem, Lead
from crm_core.models.users import User
from crm_core.permissions import ensure_active
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
