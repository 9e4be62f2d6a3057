"""Which card a person has open: the last card the bot showed them, for a while.

Showing a card (handlers.card_render.card_screen) notes it for the current update; after the
handler, `OpenCardMiddleware` keeps the last one noted in the person's FSM data (so it works with
Redis and several processes too) with the moment it was shown. `open_card_of` reads it back unless
it is older than OPEN_CARD_TTL. The item is only a hint: whoever acts on it re-checks access.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware
from aiogram.fsm.context import FSMContext
from aiogram.types import TelegramObject

from crm_core.models.items import ItemType

OPEN_CARD_KEY = "open_card"
OPEN_CARD_TTL = 60 * 60  # seconds: a call about the card may take a while

_shown: ContextVar[list[tuple[str, int]] | None] = ContextVar("shown_cards", default=None)


def note_card_shown(item_type: ItemType | str, item_id: int) -> None:
    """Called where cards are rendered; outside an update (tests, scripts) it does nothing."""
    shown = _shown.get()
    if shown is not None:
        shown.append((str(ItemType(item_type).value), item_id))


async def open_card_of(state: FSMContext, *, now: float | None = None) -> tuple[ItemType, int] | None:
    data = (await state.get_data()).get(OPEN_CARD_KEY)
    if not isinstance(data, dict):
        return None
    try:
        item_type, item_id, at = ItemType(data["t"]), int(data["id"]), float(data["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if (now if now is not None else time.time()) - at > OPEN_CARD_TTL:
        return None
    return item_type, item_id


class OpenCardMiddleware(BaseMiddleware):
    """Outer update middleware, inside the unit of work and after the FSM one (it needs `state`)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        shown: list[tuple[str, int]] = []
        token = _shown.set(shown)
        try:
            result = await handler(event, data)
        finally:
            _shown.reset(token)
        state: FSMContext | None = data.get("state")
        if shown and state is not None:
            item_type, item_id = shown[-1]
            await state.update_data({OPEN_CARD_KEY: {"t": item_type, "id": item_id, "at": time.time()}})
        return result


__all__ = ["OPEN_CARD_KEY", "OPEN_CARD_TTL", "OpenCardMiddleware", "note_card_shown", "open_card_of"]
