"""What happens to a room's chat itself, whoever caused it (registered before the gate: the person
who upgraded or left a group need not be a CRM user): the bot removed, the group upgraded."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import ChatMemberUpdated, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.services import rooms as rooms_service

log = logging.getLogger(__name__)
router = Router(name="rooms_chat")
GROUPS = F.chat.type.in_({"group", "supergroup"})


@router.my_chat_member(GROUPS)
async def bot_membership(event: ChatMemberUpdated, session: AsyncSession) -> None:
    """Removed or left: the rooms there are unbound and the items' timelines say so. Being
    removed is not an error, and nothing is sent to a chat the bot is no longer in."""
    if event.new_chat_member.status in ("left", "kicked"):
        gone = await rooms_service.chat_gone(session, event.chat.id)
        if gone:
            log.info("bot removed from chat %s: %d room(s) unbound", event.chat.id, len(gone))


@router.message(GROUPS, F.migrate_to_chat_id)
async def migrated_to(message: Message, session: AsyncSession) -> None:
    """A group upgraded to a supergroup keeps its room under the new id."""
    await rooms_service.migrate_chat(session, message.chat.id, int(message.migrate_to_chat_id or 0))


@router.message(GROUPS, F.migrate_from_chat_id)
async def migrated_from(message: Message, session: AsyncSession) -> None:
    await rooms_service.migrate_chat(session, int(message.migrate_from_chat_id or 0), message.chat.id)
