"""The card's reads in one statement: converted or not, its client chats, observers, nearest open
activity, phones and emails and pinned records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied
from crm_core.models.clients import ClientChat
from crm_core.models.items import CommKind, ItemType
from crm_core.services import activities, comments, items
from crm_core.services.cards_queries import card_extras, client_chats, lead_is_converted
from crm_core.services.communications import get_communications
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

    async def read(item):
        extras = await card_extras(session, user, item, pinned=1)
        return extras.converted, await client_chats(session, extras.chat_ids)

    assert await read(plain) == (False, [])
    assert await read(converted) == (True, [older, newer])
    assert await read(deal) == (False, [deal_chat])
    assert await lead_is_converted(session, converted) and not await lead_is_converted(session, plain)


async def test_card_extras_reads_what_the_card_shows(session):
    user = await make_user(session)
    lead = await make_lead(session, user, phones=["+7 916 123 45 67", "+7 916 765 43 21"], emails=["a@b.ru"])
    other = await make_lead(session, user, phones=["+7 999 000 00 00"])
    now = utcnow()
    later = await activities.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=now + timedelta(days=2), subject="later"
    )
    sooner = await activities.create_activity(
        session, user, owner_type="lead", owner_id=lead.id, deadline=now + timedelta(days=1), subject="sooner"
    )
    await activities.create_activity(
        session, user, owner_type="lead", owner_id=other.id, deadline=now, subject="another item's"
    )
    notes = [await comments.add_comment(session, user, "lead", lead.id, f"note {i}") for i in range(3)]
    for i, note in enumerate(notes):
        await comments.pin_comment(session, user, note.id, now=now + timedelta(minutes=i))

    first, second = await make_user(session), await make_user(session)
    for minutes, observer in enumerate((second, first)):  # in the order added, not by id
        await items.add_observer(session, user, lead, observer.id, now=now + timedelta(minutes=minutes))
    await items.add_observer(session, user, other, first.id)

    extras = await card_extras(session, user, lead, pinned=2)
    assert extras.observer_ids == await items.get_observer_ids(session, lead) == [second.id, first.id]
    assert (extras.nearest_open.subject, extras.nearest_open.type) == ("sooner", sooner.type)
    assert extras.nearest_open.deadline == sooner.deadline and later.deadline > sooner.deadline
    assert [(c.kind, c.value) for c in extras.comms] == [
        (CommKind.EMAIL, "a@b.ru"),
        (CommKind.PHONE, "+7 916 123 45 67"),
        (CommKind.PHONE, "+7 916 765 43 21"),
    ]
    loaded = (await get_communications(session, ItemType.LEAD, [lead.id]))[lead.id]
    assert [(c.kind, c.value) for c in extras.comms] == [(c.kind, c.value) for c in loaded]  # same order
    assert [e.payload["text"] for e in extras.pinned] == ["note 2", "note 1"]  # last pinned first

    # What this unit of work changed and has not written yet is seen, as by an ORM query.
    sooner.completed = True
    extras = await card_extras(session, user, lead, pinned=7)
    assert extras.nearest_open.subject == "later"
    assert len(extras.pinned) == 3

    # An item with none of them: empty parts, and the other parts are read all the same.
    bare = await make_lead(session, user, phones=["+7 916 000 00 01"])
    extras = await card_extras(session, user, bare, pinned=7)
    assert (extras.observer_ids, extras.nearest_open, extras.pinned) == ([], None, [])
    assert [c.value for c in extras.comms] == ["+7 916 000 00 01"]

    stranger = await make_user(session)
    with pytest.raises(AccessDenied):
        await card_extras(session, stranger, lead, pinned=7)
