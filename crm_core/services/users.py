"""Who may use the CRM: recognising Telegram users, admins from settings, invites, preferences."""

from __future__ import annotations

import secrets
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import cache
from crm_core.clock import utcnow
from crm_core.errors import (
    AccessDenied,
    InviteInvalid,
    NotFound,
    NotRegistered,
    UserDeactivated,
    ValidationFailed,
)
from crm_core.fields.kinds import fit_offset
from crm_core.languages import LANGUAGES
from crm_core.models import Department, Invite, Role, User

# The bot passes its own list (handlers.texts.LANGUAGES, from its catalogs); this default, the
# fallback first, serves callers of crm_core alone.
DEFAULT_INVITE_TTL = timedelta(days=7)


def language_from_telegram(language_code: str | None, languages: Sequence[str] = LANGUAGES) -> str:
    """Telegram's language_code as one of `languages` (ru, ru-RU -> ru); the first one otherwise."""
    code = (language_code or "").lower().split("-")[0]
    return code if code in languages else languages[0]


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
    user = cache.cached_user(session, telegram_id)
    if user is None:
        user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
        if user is not None:
            cache.remember_user(session, user)
    return user


async def recognise(
    session: AsyncSession,
    profile: TelegramProfile,
    *,
    admin_ids: frozenset[int] | set[int] = frozenset(),
    default_timezone: str = "UTC",
    first_user_is_admin: bool = False,
    languages: Sequence[str] = LANGUAGES,
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
        user = _new_user(profile, Role.ADMIN, default_timezone, languages)
        session.add(user)
        await session.flush()
        return user
    if profile.telegram_id in admin_ids and user.role != Role.ADMIN:
        user.role = Role.ADMIN  # settings are authoritative for admins
    _refresh_profile(user, profile, languages)
    if not user.is_active:
        raise UserDeactivated(user_id=user.id)
    return user


def _new_user(
    profile: TelegramProfile, role: Role, timezone: str, languages: Sequence[str] = LANGUAGES
) -> User:
    return User(
        telegram_id=profile.telegram_id,
        full_name=profile.full_name or str(profile.telegram_id),
        username=profile.username,
        language=language_from_telegram(profile.language_code, languages),
        timezone=timezone,
        role=role,
    )


def _refresh_profile(user: User, profile: TelegramProfile, languages: Sequence[str]) -> None:
    name = profile.full_name or user.full_name
    if user.full_name != name:
        user.full_name = name
    if user.username != profile.username:
        user.username = profile.username
    if not user.language_chosen:
        lang = language_from_telegram(profile.language_code, languages)
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
    languages: Sequence[str] = LANGUAGES,
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
        user = _new_user(profile, invite.role, default_timezone, languages)
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


def set_language(user: User, language: str, languages: Sequence[str] = LANGUAGES) -> None:
    if language not in languages:
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


# --- administration of users (admins only) ------------------------------------------------------


class LastAdmin(ValidationFailed):
    """The change would leave the CRM without an active administrator."""

    code = "last_admin"


def set_digest_workdays_only(user: User, value: bool) -> None:
    user.digest_workdays_only = bool(value)


def may_get_weekly_digest(user: User) -> bool:
    """The weekly digest (the team's won/lost and funnel) is for heads and admins."""
    return user.is_active and user.role in (Role.HEAD, Role.ADMIN)


def set_weekly_digest(user: User, *, on: bool | None = None, funnel: bool | None = None) -> None:
    if not may_get_weekly_digest(user):
        raise AccessDenied(action="weekly_digest")
    if on is not None:
        user.weekly_digest = bool(on)
    if funnel is not None:
        user.weekly_funnel = bool(funnel)


def _ensure_admin(actor: User, action: str) -> None:
    if not actor.is_active or not actor.is_admin:
        raise AccessDenied(action=action)


async def get_user_for_admin(session: AsyncSession, actor: User, user_id: int) -> User:
    """Any user, active or not, for an admin to manage."""
    _ensure_admin(actor, "manage_users")
    target = await session.get(User, user_id)
    if target is None:
        raise NotFound(user_id=user_id)
    return target


async def list_users_page(
    session: AsyncSession, actor: User, *, offset: int = 0, limit: int = 10
) -> tuple[list[User], int]:
    """Every user (deactivated ones last), by name, one page at a time, and the total count."""
    _ensure_admin(actor, "manage_users")
    total = await session.scalar(select(func.count(User.id))) or 0
    rows = await session.scalars(
        select(User)
        .order_by(User.is_active.desc(), User.full_name, User.id)
        .offset(fit_offset(offset))
        .limit(max(1, limit))
    )
    return list(rows), total


async def _other_active_admins(session: AsyncSession, target: User) -> int:
    return (
        await session.scalar(
            select(func.count(User.id)).where(
                User.role == Role.ADMIN, User.is_active.is_(True), User.id != target.id
            )
        )
        or 0
    )


async def set_role(session: AsyncSession, actor: User, user_id: int, role: Role | str) -> User:
    """Change a user's role. The last active admin cannot be demoted."""
    target = await get_user_for_admin(session, actor, user_id)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed("unknown role", field="role", value=str(role)) from None
    if target.role == Role.ADMIN and role != Role.ADMIN and target.is_active:
        if not await _other_active_admins(session, target):
            raise LastAdmin("the last administrator cannot be demoted", user_id=target.id)
    target.role = role
    await session.flush()
    return target


async def list_departments(session: AsyncSession) -> list[Department]:
    return list(await session.scalars(select(Department).order_by(Department.name, Department.id)))


async def create_department(session: AsyncSession, actor: User, name: str) -> Department:
    """A department by name; an existing one with the same name (any case) is reused."""
    _ensure_admin(actor, "manage_departments")
    name = " ".join((name or "").split())[:200]
    if not name:
        raise ValidationFailed("empty name", field="name")
    for dept in await list_departments(session):
        if dept.name.casefold() == name.casefold():
            return dept
    dept = Department(name=name)
    session.add(dept)
    await session.flush()
    return dept


async def set_department(session: AsyncSession, actor: User, user_id: int, department_id: int | None) -> User:
    target = await get_user_for_admin(session, actor, user_id)
    if department_id is not None and await session.get(Department, department_id) is None:
        raise NotFound(department_id=department_id)
    target.department_id = department_id
    await session.flush()
    return target


async def deactivate_user(session: AsyncSession, actor: User, user_id: int) -> User:
    """Switch a user's access off (their items stay). The last active admin cannot be."""
    target = await get_user_for_admin(session, actor, user_id)
    if not target.is_active:
        return target
    if target.role == Role.ADMIN and not await _other_active_admins(session, target):
        raise LastAdmin("the last administrator cannot be deactivated", user_id=target.id)
    target.is_active = False
    await session.flush()
    return target


async def reactivate_user(session: AsyncSession, actor: User, user_id: int) -> User:
    target = await get_user_for_admin(session, actor, user_id)
    target.is_active = True
    await session.flush()
    return target
