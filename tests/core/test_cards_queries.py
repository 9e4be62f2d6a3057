"""The card's keyboard facts, read in one statement: converted or not, and the client chats."""

from __future__ import annotations

from crm_core.models.clients import ClientChat
from crm_core.services.cards_queries import converted_and_chats, lead_is_converted
from tests.core.factories import make_contact, make_deal, make_lead, make_user


async def chat(session, item, chat_id):
    row = ClientChat(
        channel="bot", chat_id=chat_id, telegram_user_id=chat_id, owner_type=item.ITEM_TYPE, owner_id=item.id
    )
    session.add(row)
    await session.flush()
    return row


async def test_converted_and_chats(session):
    user = await make_user(session)
    plain, converted = await make_lead(session, user), await make_lead(session, user)
    deal = await make_deal(session, user)
    assert deal.id == plain.id  # same id, another table: the deal's chats are not the lead's
    older, newer = await chat(session, converted, 2), await chat(session, converted, 1)
    deal_chat = await chat(session, deal, 3)
    contact = await make_contact(session, user)
    contact.lead_id = converted.id
    await session.flush()

    assert await converted_and_chats(session, plain) == (False, [])
    assert await converted_and_chats(session, converted) == (True, [older, newer])
    assert await converted_and_chats(session, deal) == (False, [deal_chat])
    assert await lead_is_converted(session, converted) and not await lead_is_converted(session, plain)
