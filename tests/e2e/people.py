"""Putting people into the CRM for end-to-end tests, the way an admin would: through an invite."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Department, Role, User
from crm_core.services import users as users_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness


async def add_member(
    bot: Harness,
    telegram_id: int,
    name: str,
    *,
    role: Role = Role.SALESPERSON,
    lang: str = "en",
    department: str | None = None,
) -> User:
    """Register a Telegram user through an admin's invite and their /start; returns the CRM user."""
    bot.tg.add_user(telegram_id, name, language_code=lang)
    async with bot.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
    if admin is None or ADMIN_ID not in bot.tg.users:
        # The inviting admin is a real chat partner of the bot (it tells them who joined).
        admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        dept_id = None
        if department is not None:
            dept = await s.scalar(select(Department).where(Department.name == department))
            if dept is None:
                dept = Department(name=department)
                s.add(dept)
                await s.flush()
            dept_id = dept.id
        invite = await users_service.create_invite(s, admin, role=role, department_id=dept_id)
        code = invite.code
    await bot.say(telegram_id, f"/start inv_{code}")
    async with bot.app.db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.telegram_id == telegram_id))
    assert user is not None, f"{name} could not join"
    return user


async def admin_user(bot: Harness, lang: str = "en") -> User:
    """The admin of ADMIN_ID, registered by their first /start."""
    if ADMIN_ID not in bot.tg.users:
        bot.tg.add_user(ADMIN_ID, "Anna", language_code=lang)
    await bot.say(ADMIN_ID, "/start")
    async with bot.app.db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
    assert user is not None
    return user
