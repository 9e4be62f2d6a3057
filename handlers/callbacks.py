"""Typed callback data shared across features. Telegram allows 64 bytes of callback data, so
prefixes are short. A feature's own callback classes live in its module; prefixes in use:
  m menu, inv invite, lang language choice, c card, rm reminders (shared, below),
  set settings,
  cf/cs/cp/tr cards (fields, stage, people, trash), nw/cv/cl capture, conversion, client picker,
  a/dt/td activities, date picker, /today, tk/tl/cm tasks, timeline, comments,
  kb/ls/fl/bk/av/cal/fd kanban, lists, filters, bulk, activities view, calendar, find,
  adm/adu/adi/adp/adr/api admin (home, users, invites, pipelines, required fields, REST tokens),
  mbx/eml/emc email (mailboxes, letters, writing one), ip/xp/rp import, export, reports.
tests/test_callbacks.py checks that prefixes are unique and that packed data fit.
Button data can be forged by any client: handlers re-check everything through crm_core.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram.filters.callback_data import CallbackData
from pydantic import ConfigDict

from crm_core.models.items import ItemType
from crm_core.models.users import Role

_UNPACKED: dict[tuple[type, str], Any] = {}
_UNPACKED_MAX = 4096


class Unpacked:
    """Mixin of every callback data class here (first in its bases): a press is checked by each
    handler of the class in turn until one's rule matches, and each unpacked the data afresh, a
    pydantic model every time. Unpacked once, the instance is shared, hence frozen."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def unpack(cls, value: str) -> Any:
        key = (cls, value)
        found = _UNPACKED.get(key)
        if found is None:
            found = super().unpack(value)  # type: ignore[misc]
            if len(_UNPACKED) >= _UNPACKED_MAX:
                _UNPACKED.clear()
            _UNPACKED[key] = found
        return found


class MenuAction(StrEnum):
    MAIN = "main"
    HELP = "help"
    SETTINGS = "settings"
    INVITE = "invite"
    NEW = "new"
    TODAY = "today"
    KANBAN = "kanban"
    LEADS = "leads"
    DEALS = "deals"
    CONTACTS = "contacts"
    COMPANIES = "companies"
    ACTIVITIES = "activities"
    CALENDAR = "calendar"
    FIND = "find"
    ADMIN = "admin"


class MenuCB(Unpacked, CallbackData, prefix="m"):
    action: MenuAction


class InviteCB(Unpacked, CallbackData, prefix="inv"):
    role: Role  # the invitee's; a forged value does not unpack, so no handler runs


class SettingsAction(StrEnum):
    LANGUAGE = "lang"


class SettingsCB(Unpacked, CallbackData, prefix="lang"):  # "set" is handlers/settings.py SetCB
    action: SettingsAction
    value: str = ""


class CardAction(StrEnum):
    """Entry points from an item's card; each is handled by the feature that owns it."""

    OPEN = "open"  # cards
    FIELDS = "fields"  # cards
    PEOPLE = "people"  # cards: responsible and observers
    STAGE = "stage"  # cards
    MORE = "more"  # cards: delete to trash, pipeline change
    CLIENT = "client"  # capture: the client field
    CONVERT = "convert"  # conversion (leads)
    ACTIVITY = "activity"  # activities: plan one
    COMMENT = "comment"  # comments
    TIMELINE = "timeline"  # timeline
    TASK = "task"  # tasks
    EMAIL = "email"  # mail_letters: the card's letters, write one


class CardCB(Unpacked, CallbackData, prefix="c"):
    type: ItemType
    id: int
    action: CardAction = CardAction.OPEN


class RemAction(StrEnum):
    """Buttons on a pushed reminder (handled by handlers/reminders.py)."""

    DONE = "d"
    SNOOZE_15 = "s15"
    SNOOZE_1H = "s1h"
    TOMORROW = "tm"  # tomorrow 10:00, the user's local time


# Shared because handlers/notify_render.py draws these buttons and handlers/reminders.py handles them.
class RemCB(Unpacked, CallbackData, prefix="rm"):
    action: RemAction
    activity: int
