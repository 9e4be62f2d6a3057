"""A Bot API call without files as the JSON body the Bot API accepts.

The fields are those aiogram's form would send: `prepare_value` applied to the method's dump, with
what the form leaves out (None, an empty text) left out. aiogram's way, a full dump and then
`prepare_value` on every value of it, took 85 µs for a card with thirteen buttons, most of the
CPU of the call outside the network; this reads the method's own fields and dumps only its nested
objects (a keyboard), without the None fields that would be dropped anyway. An inline keyboard's
dump is the one its screen already made (handlers.keyboard_data): it holds only JSON values (the
buttons' enums are kept as their values), so it is sent as it is.
"""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.methods import TelegramMethod
from aiogram.types import InlineKeyboardMarkup, InputFile
from pydantic import BaseModel

from handlers.keyboard_data import keyboard_data


class HasFiles(Exception):
    """The call uploads a file: it goes as a form (aiogram's own)."""


_AS_IS = frozenset({str, int, float, bool})


def json_body(bot: Bot, method: TelegramMethod[Any]) -> dict[str, Any]:
    """The body of `method`; raises HasFiles when it carries an InputFile."""
    body: dict[str, Any] = {}
    values = method.__dict__
    # The fields, then the extras (aiogram's dump sends both); nothing else set on the object.
    items = [(key, values[key]) for key in type(method).model_fields]
    items += (method.__pydantic_extra__ or {}).items()
    for key, value in items:
        value = prepared(value, bot)
        if value is None or value == "":  # what the form leaves out
            continue
        body[key] = value
    return body


def prepared(value: Any, bot: Bot) -> Any:
    """aiogram's `prepare_value` without JSON texts inside: None where the form drops the value."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if value is None:
        return None
    if kind is dict:
        out = {}
        for key, item in value.items():
            item = prepared(item, bot)
            if item is not None:
                out[key] = item
        return out
    if kind is list or kind is tuple:
        return [item for item in (prepared(item, bot) for item in value) if item is not None]
    if kind is InlineKeyboardMarkup:
        return keyboard_data(value)
    if isinstance(value, Default):
        return prepared(bot.default[value.name], bot)
    if isinstance(value, InputFile):
        raise HasFiles
    if isinstance(value, BaseModel):
        return prepared(value.model_dump(warnings=False, exclude_none=True), bot)
    if isinstance(value, Enum):
        return prepared(value.value, bot)
    if isinstance(value, datetime.timedelta):
        return str(round((datetime.datetime.now() + value).timestamp()))  # noqa: DTZ005 (aiogram's)
    if isinstance(value, datetime.datetime):
        return str(round(value.timestamp()))
    return value
