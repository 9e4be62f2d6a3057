"""Shared steps of the client-conversation tests: switch the open line on as an admin would, read
what was logged."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_core.models import Activity, ClientChat, ClientMessage, Lead, TimelineEvent, User
from crm_core.models.items import ItemType
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import admin_user


async def switch_on(bot: Harness, lang: str = "en") -> User:
    """The admin opens /admin -> Clients and turns the channel on (round robin)."""
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, lang)
    [home] = await bot.say(ADMIN_ID, "/admin")
    [screen] = await bot.press(ADMIN_ID, home, "Clients" if lang == "en" else "Клиенты")
    [screen] = await bot.press(ADMIN_ID, screen, "Turn on" if lang == "en" else "Включить")
    assert ("On:" if lang == "en" else "Включено") in (screen.text or "")
    return admin


async def client_chat(bot: Harness, telegram_id: int, channel: str = "bot") -> ClientChat | None:
    async with bot.app.db.unit_of_work() as s:
        return await s.scalar(
            select(ClientChat).where(
                ClientChat.telegram_user_id == telegram_id, ClientChat.channel.startswith(channel)
            )
        )


async def leads_of(bot: Harness, telegram_id: int) -> list[Lead]:
    async with bot.app.db.unit_of_work() as s:
        from crm_core.models import Communication

        rows = await s.scalars(
            select(Lead)
            .join(
                Communication,
                (Communication.owner_type == ItemType.LEAD) & (Communication.owner_id == Lead.id),
            )
            .where(Communication.kind == "telegram", Communication.normalized == str(telegram_id))
            .order_by(Lead.id)
        )
        return list(rows)


async def messages(bot: Harness, chat_id: int) -> list[ClientMessage]:
    async with bot.app.db.unit_of_work() as s:
        return list(
            await s.scalars(
                select(ClientMessage)
                .where(ClientMessage.client_chat_id == chat_id)
                .order_by(ClientMessage.id)
            )
        )


async def events(bot: Harness, owner_type: ItemType, owner_id: int, *types: str) -> list[TimelineEvent]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.owner_type == owner_type, TimelineEvent.owner_id == owner_id)
            .order_by(TimelineEvent.id)
        )
        return [e for e in rows if not types or e.event_type in types]


async def activities(bot: Harness, owner_type: ItemType, owner_id: int) -> list[Activity]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(Activity)
            .where(Activity.owner_type == owner_type, Activity.owner_id == owner_id)
            .order_by(Activity.id)
        )
        return list(rows)


def labels(message: Any) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]
