"""Filters over what the middlewares put in workflow data."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from crm_core.models import User

INVITE_START = "/start inv_"


class Unregistered(Filter):
    """The sender is not a CRM user (never invited, or deactivated).

    A /start with an invite code is let through: that is how a newcomer gets in.
    """

    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        if user is not None:
            return False
        text = getattr(event, "text", None)
        return not (isinstance(text, str) and text.startswith(INVITE_START))


class IsAdmin(Filter):
    async def __call__(self, event: TelegramObject, user: User | None = None, **_: Any) -> bool:
        return user is not None and user.is_admin
