"""A shown keyboard as JSON data, dumped once however often it is read.

One screen's keyboard is read three times: for its digest (handlers.ui), for the update's record
of held replies (handlers.held_replies) and for the body of the call that sends it (bot.api_body).
Dumping a card's thirteen buttons costs ~11 µs each time. Keyboards are built per screen and not
changed once shown, so the dump of the same object is reused: the last few are kept by identity,
each with a reference to its keyboard, so that its id cannot be reused while it is kept.
The data returned is shared: read it, never change it.
"""

from __future__ import annotations

from typing import Any

from aiogram.types import InlineKeyboardMarkup

# Screens being built or sent at once in one process; a miss only costs a dump.
KEPT = 64

_recent: dict[int, tuple[InlineKeyboardMarkup, dict[str, Any]]] = {}


def keyboard_data(markup: InlineKeyboardMarkup) -> dict[str, Any]:
    """The keyboard as the Bot API takes it: its fields without the unset (None) ones."""
    key = id(markup)
    kept = _recent.get(key)
    if kept is not None and kept[0] is markup:
        return kept[1]
    data = markup.model_dump(exclude_none=True, warnings=False)
    if len(_recent) >= KEPT:
        del _recent[next(iter(_recent))]
    _recent[key] = (markup, data)
    return data
