"""The open line's routing rule: fixed person, round robin among those on duty, the fallbacks."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, ValidationFailed
from crm_core.models import RoutingRule
from crm_core.models.clients import ClientChannel
from crm_core.services import client_channel, routing
from tests.core.factories import make_admin, make_user


async def test_round_robin_takes_turns_on_duty_skipping_deactivated(session: AsyncSession) -> None:
    admin = await make_admin(session)
    a, b, c = [await make_user(session) for _ in range(3)]
    for person in (a, b, c):
        await routing.set_on_duty(session, person, True)
    got = [await routing.route_new_client(session) for _ in range(4)]
    assert got == [a.id, b.id, c.id, a.id]
    b.is_active = False
    got = [await routing.route_new_client(session) for _ in range(3)]
    assert got == [c.id, a.id, c.id]
    # Off duty: no longer given clients; nobody on duty: the first active admin.
    await routing.set_on_duty(session, a, False)
    await routing.set_on_duty(session, c, False)
    assert await routing.route_new_client(session) == admin.id


async def test_exclude_passes_a_queued_client_to_the_next(session: AsyncSession) -> None:
    await make_admin(session)
    a, b = await make_user(session), await make_user(session)
    await routing.set_on_duty(session, a, True)
    await routing.set_on_duty(session, b, True)
    first = await routing.route_new_client(session)
    assert first == a.id
    assert await routing.route_new_client(session, exclude=[a.id]) == b.id


async def test_fixed_person_and_admin_only_settings(session: AsyncSession) -> None:
    admin = await make_admin(session)
    seller = await make_user(session)
    other = await make_user(session)
    await routing.set_on_duty(session, other, True)
    with pytest.raises(AccessDenied):
        await routing.set_rule(session, seller, RoutingRule.FIXED, fixed_user_id=seller.id)
    with pytest.raises(ValidationFailed):
        await routing.set_rule(session, admin, RoutingRule.FIXED, fixed_user_id=None)
    await routing.set_rule(session, admin, RoutingRule.FIXED, fixed_user_id=seller.id)
    assert [await routing.route_new_client(session) for _ in range(2)] == [seller.id, seller.id]
    # The fixed person deactivated: the queue falls back to the admin (never to nobody).
    seller.is_active = False
    assert await routing.route_new_client(session) == admin.id
    with pytest.raises(ValidationFailed):
        await routing.set_queue_minutes(session, admin, 0)
    assert (await routing.set_queue_minutes(session, admin, 5)).queue_minutes == 5


async def test_reading_the_open_line_settings_stores_nothing(session: AsyncSession) -> None:
    """A staff message and the queue check read the settings on a CRM that never set them up."""
    channel = await routing.channel_settings(session)
    assert not channel.enabled and channel.rule == RoutingRule.ROUND_ROBIN
    assert await client_channel.pass_on_expired(session) == []
    await session.flush()
    assert await session.scalar(select(func.count()).select_from(ClientChannel)) == 0
    admin = await make_admin(session)
    await routing.set_enabled(session, admin, True)  # changing them stores the row
    assert await session.scalar(select(func.count()).select_from(ClientChannel)) == 1
    assert (await routing.channel_settings(session)).enabled
