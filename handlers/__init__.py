"""The Telegram presentation: one Router per feature, thin, calling crm_core services."""

from __future__ import annotations

import importlib

from aiogram import Router

# The order in which routers see updates. Strangers are stopped first; the fallback answers what
# nobody understood, so feature routers go before it (add one line per feature module).
ROUTER_MODULES: tuple[str, ...] = (
    "rooms_chat",  # a room's chat upgraded or left, whoever did it: before the gate
    "clients",  # strangers who write to the bot are clients when the open line is on
    "gate",
    "rooms_group",  # in a bound group: /start <token>, /card, /c, replies, /status, /unbind
    "rooms",  # "Discuss in a group" from a card, the chat picker
    "business",  # Telegram Business updates (no message/callback handlers: the gate passes them)
    "clients_staff",  # replies to clients: a pending reply or a reply to a notice, before any form
    "cards",  # before start: `/start L-12` deep links open a card
    "card_fields",  # the card's screens right after it, as when they were one router
    "card_people",
    "card_stages",
    "card_trash",
    "start",
    "invites",
    "settings",
    "admin",
    "admin_users",
    "admin_invites",
    "admin_pipelines",
    "admin_required",
    "mail_boxes",
    "mail_compose",  # its form's steps before capture reads typed text as a new lead
    "mail_letters",
    "admin_rest",
    "admin_forms",
    "admin_clients",
    "capture",
    "client_field",
    "conversion",
    "activities",
    "activity_actions",  # its last handler answers any stale activity button
    "datetime_input",
    "today",
    "reminders",
    "timeline",
    "comments",
    "imports",  # a file sent with no form open; after comments, whose forms take files
    "tasks",
    "task_form",
    "kanban",
    "lists",
    "list_bulk",
    "exports",
    "filters_ui",
    "agenda",
    "search",
    "reports",
    "quick",  # a typed activity on the open card: after every form, before the fallback
    "fallback",
)


def get_routers() -> list[Router]:
    """The routers, in order.

    Routers are module singletons with no state of their own (middlewares live on the
    dispatcher), so a new dispatcher (the tests build many) may adopt them: aiogram refuses a
    second parent, hence the reset of the back-reference.
    """
    routers = [importlib.import_module(f"handlers.{name}").router for name in ROUTER_MODULES]
    for router in routers:
        router._parent_router = None
    return routers
