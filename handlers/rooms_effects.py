"""Around every update: events caused from inside a room are not echoed back to it, and what
crm_core noted for Telegram (close or reopen a forum topic when an item is won, lost, reopened or
trashed) is carried out once the handler is done."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import TelegramObject, Update

from crm_core.services import room_feed
from crm_core.services import rooms as rooms_service

log = logging.getLogger(__name__)


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
        room_id = None
        where = _where(event)
        if where is not None:
            room = await rooms_service.room_in_chat(session, *where)
            room_id = room.id if room is not None else None
        with room_feed.collecting_effects() as effects, room_feed.acting_in_room(room_id):
            result = await handler(event, data)
        if effects:
            await apply(data["bot"], effects)
        return result


async def apply(bot: Bot, effects: list[room_feed.TopicEffect]) -> None:
    for effect in effects:
        try:
            if effect.close:
                await bot.close_forum_topic(effect.chat_id, effect.thread_id)
            else:
                await bot.reopen_forum_topic(effect.chat_id, effect.thread_id)
        except TelegramAPIError as exc:
            log.warning("topic %s/%s: %s", effect.chat_id, effect.thread_id, exc)
