"""Who may use the CRM: recognising Telegram users, admins from settings, invites, preferences."""

from __future__ import annotations

import secrets
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow
from crm_core.errors import AccessDenied, InviteInvalid, NotRegistered, UserDeactivated, ValidationFailed
from crm_core.models import Invite, Role, User

SUPPORTED_LANGUAGES = ("ru", "en")
DEFAULT_INVITE_TTL = timedelta(days=7)


def language_from_telegram(language_code: str | None) -> str:
    """Telegram's language_code: Russian for ru (ru, ru-RU...), English otherwise."""
    if language_code and language_code.lower().split("-")[0] == "ru":
        return "ru"
    return "en"


@dataclass(frozen=True, slots=True)
class TelegramProfile:
    """What Telegram tells us about a person; crm_core does not know aiogram's types."""

    telegram_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p).strip()


async def get_by_telegram_id(session: AsyncSession, telegram_id: int) -> User | None:
    return await session.scalar(select(User).where(User.telegram_id == telegram_id))


async def recognise(
    session: AsyncSession,
    profile: TelegramProfile,
    *,
    admin_ids: frozenset[int] | set[int] = frozenset(),
    default_timezone: str = "UTC",
    first_user_is_admin: bool = False,
) -> User:
    """The CRM user behind a Telegram account, creating admins listed in settings on first contact.

    Raises NotRegistered for anyone else who was never let in, UserDeactivated for a disabled user.
    `first_user_is_admin` is for the offline sandbox: the first person to arrive runs the place.
    """
    user = await get_by_telegram_id(session, profile.telegram_id)
    if user is None:
        make_admin = profile.telegram_id in admin_ids
        if not make_admin and first_user_is_admin:
            make_admin = (await session.scalar(select(func.count(User.id)))) == 0
        if not make_admin:
            raise NotRegistered(telegram_id=profile.telegram_id)
        user = _new_user(profile, Role.ADMIN, default_timezone)
        session.add(user)
        await session.flush()
        return user
    if profile.telegram_id in admin_ids and user.role != Role.ADMIN:
        user.role = Role.ADMIN  # settings are authoritative for admins
    _refresh_profile(user, profile)
    if not user.is_active:
        raise UserDeactivated(user_id=user.id)
    return user


def _new_user(profile: TelegramProfile, role: Role, timezone: str) -> User:
    return User(
        telegram_id=profile.telegram_id,
        full_name=profile.full_name or str(profile.telegram_id),
        username=profile.username,
        language=language_from_telegram(profile.language_code),
        timezone=timezone,
        role=role,
    )


def _refresh_profile(user: User, profile: TelegramProfile) -> None:
    name = profile.full_name or user.full_name
    if user.full_name != name:
        user.full_name = name
    if user.username != profile.username:
        user.username = profile.username
    if not user.language_chosen:
        lang = language_from_telegram(profile.language_code)
        if user.language != lang:
            user.language = lang


async def create_invite(
    session: AsyncSession,
    actor: User,
    *,
    role: Role = Role.SALESPERSON,
    department_id: int | None = None,
    ttl: timedelta = DEFAULT_INVITE_TTL,
    now: datetime | None = None,
) -> Invite:
    if not actor.is_admin or not actor.is_active:
        raise AccessDenied(action="create_invite")
    if ttl <= timedelta(0):
        raise ValidationFailed("invite lifetime must be positive", field="ttl")
    now = now or utcnow()
    invite = Invite(
        code=secrets.token_urlsafe(12),  # 16 chars, fits Telegram's 64-char start parameter
        role=role,
        department_id=department_id,
        created_by_id=actor.id,
        expires_at=now + ttl,
    )
    session.add(invite)
    await session.flush()
    return invite


async def accept_invite(
    session: AsyncSession,
    code: str,
    profile: TelegramProfile,
    *,
    default_timezone: str = "UTC",
    now: datetime | None = None,
) -> User:
    """Register the person with the invite's role. Single use: a used, revoked or expired code fails."""
    now = now or utcnow()
    # FOR UPDATE: two people racing for one code on PostgreSQL; SQLite serialises writers anyway.
    invite = await session.scalar(select(Invite).where(Invite.code == code).with_for_update())
    if invite is None or invite.revoked:
        raise InviteInvalid(reason="unknown")
    existing = await get_by_telegram_id(session, profile.telegram_id)
    if invite.used_by_id is not None:
        if existing is not None and invite.used_by_id == existing.id:
            return existing  # the same person tapping the link again
        raise InviteInvalid(reason="used")
    if invite.expires_at <= now:
        raise InviteInvalid(reason="expired")
    if existing is not None:
        if not existing.is_active:
            existing.is_active = True
            existing.role = invite.role
            existing.department_id = invite.department_id
        user = existing
    else:
        user = _new_user(profile, invite.role, default_timezone)
        user.department_id = invite.department_id
        user.invited_by_id = invite.created_by_id
        session.add(user)
    await session.flush()
    invite.used_by_id = user.id
    invite.used_at = now
    return user


async def list_invites(session: AsyncSession, actor: User, *, now: datetime | None = None) -> list[Invite]:
    """Invites still usable (not used, not revoked, not expired), newest first."""
    if not actor.is_admin:
        raise AccessDenied(action="list_invites")
    now = now or utcnow()
    rows = await session.scalars(
        select(Invite)
        .where(Invite.used_by_id.is_(None), Invite.revoked.is_(False), Invite.expires_at > now)
        .order_by(Invite.id.desc())
    )
    return list(rows)


async def revoke_invite(session: AsyncSession, actor: User, invite_id: int) -> None:
    if not actor.is_admin:
        raise AccessDenied(action="revoke_invite")
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise InviteInvalid(reason="unknown")
    invite.revoked = True


def set_language(user: User, language: str) -> None:
    if language not in SUPPORTED_LANGUAGES:
        raise ValidationFailed("unsupported language", field="language", value=language)
    user.language = language
    user.language_chosen = True


def set_timezone(user: User, name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("unknown timezone", field="timezone", value=name) from None
    user.timezone = name


def set_digest_time(user: User, value: time) -> None:
    user.digest_time = value


async def list_users(session: AsyncSession, actor: User) -> list[User]:
    if actor.role not in (Role.ADMIN, Role.HEAD):
        raise AccessDenied(action="list_users")
    query = select(User).where(User.is_active.is_(True)).order_by(User.full_name)
    if actor.role == Role.HEAD:
        query = query.where(User.department_id == actor.department_id)
    return list(await session.scalars(query))


async def set_reminder_offsets(
    session: AsyncSession, user: User, offsets: list[int], *, now: datetime | None = None
) -> list[int]:
    """The user's default reminder offsets; open activities that use the defaults are re-planned."""
    from crm_core.services.reminders import resync_user_defaults, validate_offsets

    user.reminder_offsets = validate_offsets(offsets)
    await session.flush()
    await resync_user_defaults(session, user.id, now=now)
    return user.reminder_offsets
