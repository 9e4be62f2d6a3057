"""Bulk actions on a selection of items: each item in its own savepoint, so one refusal (no access,
a required field, a conflict) does not undo the others; a result per item says what happened.
Used by the lists' group actions; an import or a web form calls the same functions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, DomainError, NotFound
from crm_core.models.items import AnyItem, ItemType
from crm_core.models.users import User
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import trash as trash_service


@dataclass(frozen=True, slots=True)
class ItemResult:
    item_type: ItemType
    item_id: int
    error: DomainError | None = None  # None: done

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ref(self) -> str:
        return f"{self.item_type.prefix}-{self.item_id}"


Action = Callable[[AnyItem], Awaitable[Any]]


async def for_each(
    session: AsyncSession, actor: User, item_type: ItemType | str, item_ids: Sequence[int], action: Action
) -> list[ItemResult]:
    """Run `action` on each item the actor may change, in order, each in its own savepoint. An item
    the actor may not see is reported as not found (it never reveals that it exists)."""
    item_type = ItemType(item_type)
    results = []
    for item_id in dict.fromkeys(item_ids):  # a repeated id is acted on once
        try:
            async with session.begin_nested():
                try:
                    item = await items_service.get_item(session, actor, item_type, item_id, for_edit=True)
                except AccessDenied as exc:
                    raise NotFound(item_type=item_type.value, item_id=item_id) from exc
                await action(item)
        except DomainError as exc:
            results.append(ItemResult(item_type, item_id, exc))
        else:
            results.append(ItemResult(item_type, item_id))
    return results


async def move_stage(
    session: AsyncSession, actor: User, item_type: ItemType | str, item_ids: Sequence[int], stage_id: int
) -> list[ItemResult]:
    async def move(item: AnyItem) -> None:
        await pipelines_service.move_stage(session, actor, item, stage_id)  # type: ignore[arg-type]

    return await for_each(session, actor, item_type, item_ids, move)


async def change_responsible(
    session: AsyncSession, actor: User, item_type: ItemType | str, item_ids: Sequence[int], user_id: int
) -> list[ItemResult]:
    async def reassign(item: AnyItem) -> None:
        await items_service.change_responsible(session, actor, item, user_id)

    return await for_each(session, actor, item_type, item_ids, reassign)


async def delete(
    session: AsyncSession, actor: User, item_type: ItemType | str, item_ids: Sequence[int]
) -> list[ItemResult]:
    async def to_trash(item: AnyItem) -> None:
        await trash_service.delete_item(session, actor, item)

    return await for_each(session, actor, item_type, item_ids, to_trash)
