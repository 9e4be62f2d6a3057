"""Client conversations in crm_core: the dedup key, flood control, who may act on a conversation,
business edits/deletions and the reply rules."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied
from crm_core.models import ClientMessage, Lead
from crm_core.services import business, routing
from crm_core.services import client_channel as conv
from tests.core.factories import make_admin, make_user

KATE = conv.ClientProfile(telegram_user_id=555, first_name="Kate", username="kate")


async def test_one_message_is_logged_once(session: AsyncSession) -> None:
    await make_admin(session)
    first = await conv.receive(session, "bot", 555, KATE, conv.Incoming(1, text="hi"))
    again = await conv.receive(session, "bot", 555, KATE, conv.Incoming(1, text="hi"))
    assert first.logged and first.new_lead and not again.logged
    assert await session.scalar(select(func.count()).select_from(ClientMessage)) == 1
    assert await session.scalar(select(func.count()).select_from(Lead)) == 1


async def test_flooding_is_noted_once_per_window_and_everything_is_logged(session: AsyncSession) -> None:
    await make_admin(session)
    now = utcnow()
    got = [
        await conv.receive(session, "bot", 555, KATE, conv.Incoming(i, text=f"m{i}"), now=now)
        for i in range(1, 9)
    ]
    assert [g.slow_down for g in got] == [False] * 5 + [True, False, False]
    later = await conv.receive(
        session, "bot", 555, KATE, conv.Incoming(9, text="later"), now=now + conv.FLOOD_WINDOW * 2
    )
    assert later.logged and not later.slow_down
    assert await session.scalar(select(func.count()).select_from(ClientMessage)) == 9


async def test_only_who_may_edit_the_item_acts_on_the_conversation(session: AsyncSession) -> None:
    await make_admin(session)
    seller = await make_user(session)
    other = await make_user(session)
    await routing.set_on_duty(session, seller, True)
    got = await conv.receive(session, "bot", 555, KATE, conv.Incoming(1, text="hi"))
    assert got.chat.responsible_id == seller.id and not got.chat.accepted
    with pytest.raises(AccessDenied):
        await conv.take(session, other, got.chat.id)
    await conv.take(session, seller, got.chat.id)
    assert got.chat.accepted


async def test_business_rules(session: AsyncSession) -> None:
    seller = await make_user(session)
    other = await make_user(session)
    info = business.ConnectionInfo("c1", seller.telegram_id, seller.telegram_id, True, {"can_reply": True})
    assert (await business.connect(session, info)).id == seller.id  # type: ignore[union-attr]
    stranger = business.ConnectionInfo("c2", 999_999, 999_999, True, {})
    assert await business.connect(session, stranger) is None
    assert await business.receive(session, "c2", 555, 555, KATE, conv.Incoming(1, text="x")) is None
    logged = await business.receive(session, "c1", 555, 555, KATE, conv.Incoming(1, text="hi"))
    assert logged is not None and logged.logged and logged.first
    chat = logged.chat
    assert await business.reply_block(session, chat) is None
    assert (
        await business.reply_block(session, chat, now=utcnow() + timedelta(hours=25))
        == business.ReplyBlock.WINDOW
    )
    assert not await business.edited(session, "c1", 555, 42, "no such message")
    assert await business.deleted(session, "c1", 555, [42]) == 0
    assert await business.edited(session, "c1", 555, 1, "hi!")
    assert not await business.edited(session, "c1", 555, 1, "hi!")  # the same text again: no event
    with pytest.raises(AccessDenied):
        await business.set_do_not_log(session, other, chat.id)
    await business.set_do_not_log(session, seller, chat.id)
    again = await business.receive(session, "c1", 555, 555, KATE, conv.Incoming(2, text="more"))
    assert again is not None and not again.logged
    await business.connect(
        session, business.ConnectionInfo("c1", seller.telegram_id, seller.telegram_id, True, {})
    )
    assert await business.reply_block(session, chat) == business.ReplyBlock.NO_RIGHTS
