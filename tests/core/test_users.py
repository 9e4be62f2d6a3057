from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, InviteInvalid, NotRegistered, UserDeactivated, ValidationFailed
from crm_core.models import Role
from crm_core.services import users as svc

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def profile(tg_id: int, lang: str | None = "en", name: str = "Ann") -> svc.TelegramProfile:
    return svc.TelegramProfile(telegram_id=tg_id, first_name=name, language_code=lang)


async def test_admins_from_settings_are_created_and_strangers_refused(session: AsyncSession) -> None:
    admin = await svc.recognise(session, profile(1), admin_ids={1}, default_timezone="Europe/Moscow")
    assert admin.role == Role.ADMIN and admin.timezone == "Europe/Moscow"
    with pytest.raises(NotRegistered):
        await svc.recognise(session, profile(2), admin_ids={1})


async def test_sandbox_first_user_is_admin_only_when_nobody_exists(session: AsyncSession) -> None:
    first = await svc.recognise(session, profile(5), first_user_is_admin=True)
    assert first.role == Role.ADMIN
    with pytest.raises(NotRegistered):
        await svc.recognise(session, profile(6), first_user_is_admin=True)


async def test_language_follows_telegram_until_chosen(session: AsyncSession) -> None:
    user = await svc.recognise(session, profile(1, "ru-RU"), admin_ids={1})
    assert user.language == "ru"
    await svc.recognise(session, profile(1, "de"), admin_ids={1})
    assert user.language == "en"
    svc.set_language(user, "ru")
    await svc.recognise(session, profile(1, "en"), admin_ids={1})
    assert user.language == "ru"
    with pytest.raises(ValidationFailed):
        svc.set_language(user, "fr")


async def test_invite_is_single_use_and_expires(session: AsyncSession) -> None:
    admin = await svc.recognise(session, profile(1), admin_ids={1})
    invite = await svc.create_invite(session, admin, role=Role.HEAD, now=NOW)
    assert len(invite.code) <= 60
    joined = await svc.accept_invite(session, invite.code, profile(2, name="Bob"), now=NOW)
    assert joined.role == Role.HEAD and joined.invited_by_id == admin.id
    # The same person again is fine; anyone else is refused.
    assert (await svc.accept_invite(session, invite.code, profile(2), now=NOW)).id == joined.id
    with pytest.raises(InviteInvalid) as used:
        await svc.accept_invite(session, invite.code, profile(3), now=NOW)
    assert used.value.params["reason"] == "used"

    old = await svc.create_invite(session, admin, ttl=timedelta(hours=1), now=NOW)
    with pytest.raises(InviteInvalid) as expired:
        await svc.accept_invite(session, old.code, profile(4), now=NOW + timedelta(hours=2))
    assert expired.value.params["reason"] == "expired"
    with pytest.raises(InviteInvalid):
        await svc.accept_invite(session, "nope", profile(4), now=NOW)


async def test_only_admins_invite_and_deactivated_users_are_stopped(session: AsyncSession) -> None:
    admin = await svc.recognise(session, profile(1), admin_ids={1})
    invite = await svc.create_invite(session, admin, now=NOW)
    sales = await svc.accept_invite(session, invite.code, profile(2), now=NOW)
    with pytest.raises(AccessDenied):
        await svc.create_invite(session, sales)
    sales.is_active = False
    with pytest.raises(UserDeactivated):
        await svc.recognise(session, profile(2))


async def test_timezone_and_reminder_defaults_are_validated(session: AsyncSession) -> None:
    admin = await svc.recognise(session, profile(1), admin_ids={1})
    svc.set_timezone(admin, "Asia/Vladivostok")
    assert admin.timezone == "Asia/Vladivostok"
    with pytest.raises(ValidationFailed):
        svc.set_timezone(admin, "Mars/Base")
    assert await svc.set_reminder_offsets(session, admin, [15, 0, 60]) == [60, 15, 0]
    with pytest.raises(ValidationFailed):
        await svc.set_reminder_offsets(session, admin, [-5])
