"""Around every update: events caused from inside a room are not echoed back to it.

(Closing or reopening a won, lost or reopened item's forum topic is not done here: crm_core writes
it to the outbox with the change, and the delivery engine carries it out.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update

from crm_core.services import room_feed
from crm_core.services import rooms as rooms_service


def _where(update: Update) -> tuple[int, int | None] | None:
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if message is None or message.chat.type not in ("group", "supergroup"):
        return None
    thread = (
        getattr(message, "message_thread_id", None) if getattr(message, "is_topic_message", None) else None
    )
    return message.chat.id, thread


class RoomEffectsMiddleware(BaseMiddleware):
    """Outer update middleware, inside the unit of work (it needs the session)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        session = data.get("session")
        if session is None or not isinstance(event, Update):
            return await handler(event, data)
        where = _where(event)
        if where is None:
            return await handler(event, data)
        room = await rooms_service.room_in_chat(session, *where)
        with room_feed.acting_in_room(room.id if room is not None else None):
            return await handler(event, data)
