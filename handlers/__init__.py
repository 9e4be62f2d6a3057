"""The Telegram presentation: one Router per feature, thin, calling crm_core services."""

from __future__ import annotations

from aiogram import Router


def get_routers() -> list[Router]:
    """Routers in the order they must see updates: strangers are stopped first.

    Routers are module singletons with no state of their own (middlewares live on the
    dispatcher), so a new dispatcher (the tests build many) may adopt them: aiogram refuses a
    second parent, hence the reset of the back-reference.
    """
    from handlers import fallback, gate, invites, settings, start

    routers = [gate.router, start.router, invites.router, settings.router, fallback.router]
    for router in routers:
        router._parent_router = None
    return routers
