"""Who gets a new client: the open line's routing rule (Bitrix24's queue).

- fixed: every new client goes to one person (while that person is active);
- round robin: in turn among the salespeople marked on duty, skipping deactivated users.
When the rule finds nobody (no one on duty, the fixed person deactivated), the first active admin
gets the client: a conversation is never left without a responsible.

Shared by every channel that brings in new clients (the bot as an open line, web forms).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, NotFound, ValidationFailed
from crm_core.models.clients import ClientChannel, ClientDuty, RoutingRule
from crm_core.models.users import Role, User
from crm_core.permissions import ensure_active

CHANNEL_ID = 1
QUEUE_MINUTES_MAX = 24 * 60


async def channel_settings(session: AsyncSession) -> ClientChannel:
    """The open line's settings to read: the stored row, or the defaults (switched off) unsaved, so
    that reading them (a staff message, the hourly queue check) writes nothing."""
    channel = await session.get(ClientChannel, CHANNEL_ID)
    return channel if channel is not None else _default_channel()


async def get_channel(session: AsyncSession) -> ClientChannel:
    """The open line's settings row to change (created, switched off, on first use)."""
    channel = await session.get(ClientChannel, CHANNEL_ID)
    if channel is None:
        channel = _default_channel()
        session.add(channel)
        await session.flush()
    return channel


def _default_channel() -> ClientChannel:
    return ClientChannel(
        id=CHANNEL_ID,
        enabled=False,
        greeting_en="",
        greeting_ru="",
        rule=RoutingRule.ROUND_ROBIN,
        queue_minutes=10,
        updated_at=utcnow(),
    )


async def on_duty_ids(session: AsyncSession) -> list[int]:
    """Active users on duty, in a stable order (by user id)."""
    rows = await session.scalars(
        select(User.id)
        .join(ClientDuty, ClientDuty.user_id == User.id)
        .where(User.is_active)
        .order_by(User.id)
    )
    return list(rows)


async def is_on_duty(session: AsyncSession, user_id: int) -> bool:
    return await session.get(ClientDuty, user_id) is not None


async def set_on_duty(session: AsyncSession, actor: User, on: bool) -> None:
    """A user marks themselves on duty (or not)."""
    ensure_active(actor)
    row = await session.get(ClientDuty, actor.id)
    if on and row is None:
        session.add(ClientDuty(user_id=actor.id, since=utcnow()))
    elif not on and row is not None:
        await session.delete(row)
    await session.flush()


async def _first_admin(session: AsyncSession, exclude: set[int]) -> int | None:
    rows = await session.scalars(
        select(User.id).where(User.is_active, User.role == Role.ADMIN).order_by(User.id)
    )
    ids = list(rows)
    for uid in ids:
        if uid not in exclude:
            return uid
    return ids[0] if ids else None


async def _next_in_turn(session: AsyncSession, channel: ClientChannel, exclude: set[int]) -> int | None:
    duty = [uid for uid in await on_duty_ids(session) if uid not in exclude]
    if not duty:
        return None
    last = channel.last_routed_user_id
    after = [uid for uid in duty if last is not None and uid > last]
    chosen = after[0] if after else duty[0]
    channel.last_routed_user_id = chosen
    return chosen


async def route_new_client(session: AsyncSession, *, exclude: Iterable[int] = ()) -> int:
    """The user id a new client goes to, by the admin's rule. `exclude`: people who already had
    the client and let the queue time pass (they are skipped while anyone else can take it).
    Advances the round-robin cursor. Raises NotFound when the CRM has no active user at all."""
    channel = await get_channel(session)
    skip = set(exclude)
    chosen: int | None = None
    if channel.rule == RoutingRule.FIXED and channel.fixed_user_id is not None:
        fixed = await session.get(User, channel.fixed_user_id)
        if fixed is not None and fixed.is_active and fixed.id not in skip:
            chosen = fixed.id
    if chosen is None and (channel.rule == RoutingRule.ROUND_ROBIN or skip):
        chosen = await _next_in_turn(session, channel, skip)
    if chosen is None:
        chosen = await _first_admin(session, skip)
    if chosen is None:
        raise NotFound("no active user to route a client to")
    await session.flush()
    return chosen


async def set_rule(
    session: AsyncSession, actor: User, rule: RoutingRule | str, *, fixed_user_id: int | None = None
) -> ClientChannel:
    """Admins only. A fixed rule needs an active person."""
    _ensure_admin(actor)
    try:
        rule = RoutingRule(rule)
    except ValueError as exc:
        raise ValidationFailed("unknown routing rule", field="rule") from exc
    channel = await get_channel(session)
    if rule == RoutingRule.FIXED:
        person = await session.get(User, fixed_user_id) if fixed_user_id is not None else None
        if person is None or not person.is_active:
            raise ValidationFailed("the fixed person must be an active user", field="fixed_user_id")
        channel.fixed_user_id = person.id
    channel.rule = rule
    await session.flush()
    return channel


async def set_queue_minutes(session: AsyncSession, actor: User, minutes: int) -> ClientChannel:
    _ensure_admin(actor)
    if not 1 <= minutes <= QUEUE_MINUTES_MAX:
        raise ValidationFailed("queue time out of range", field="queue_minutes", max=QUEUE_MINUTES_MAX)
    channel = await get_channel(session)
    channel.queue_minutes = minutes
    await session.flush()
    return channel


def _ensure_admin(actor: User) -> None:
    ensure_active(actor)
    if not actor.is_admin:
        raise AccessDenied("only admins change the client channel")


GREETING_LIMIT = 1000


async def set_enabled(session: AsyncSession, actor: User, enabled: bool) -> ClientChannel:
    _ensure_admin(actor)
    channel = await get_channel(session)
    channel.enabled = enabled
    await session.flush()
    return channel


async def set_greeting(session: AsyncSession, actor: User, language: str, text: str) -> ClientChannel:
    """The greeting a new client gets in their language (blank: the bot's own)."""
    from crm_core.languages import LANGUAGES

    _ensure_admin(actor)
    if language not in LANGUAGES:
        raise ValidationFailed("unknown language", field="language")
    text = (text or "").strip()
    if len(text) > GREETING_LIMIT:
        raise ValidationFailed("greeting too long", field="greeting", max=GREETING_LIMIT)
    channel = await get_channel(session)
    if language == "ru":
        channel.greeting_ru = text
    else:
        channel.greeting_en = text
    await session.flush()
    return channel
