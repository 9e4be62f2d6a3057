"""Validation of ``reply_markup`` objects with Telegram's error texts."""

from __future__ import annotations

import re
from typing import Any

from .errors import BadRequest

MAX_BUTTONS = 100
MAX_CALLBACK_DATA_BYTES = 64

_INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

_URL_RE = re.compile(
    r"^(?:https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?|https?://localhost(?::\d+)?(?:[/?#]\S*)?|tg://\S+)$",
    re.I,
)


def is_valid_button_url(url: Any) -> bool:
    return isinstance(url, str) and bool(_URL_RE.match(url.strip()))


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate any of the four reply markup kinds; returns the normalized markup."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise BadRequest("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return validate_inline_keyboard(markup)
    if "keyboard" in markup:
        return _validate_reply_keyboard(markup)
    if markup.get("remove_keyboard") is True or markup.get("force_reply") is True:
        return markup
    raise BadRequest('can\'t find field "inline_keyboard"')


def validate_inline_keyboard(markup: dict[str, Any]) -> dict[str, Any]:
    rows = markup.get("inline_keyboard")
    if not isinstance(rows, list):
        raise BadRequest('Field "inline_keyboard" of the InlineKeyboardMarkup should be an Array')
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise BadRequest(
                'Field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for button in row:
            total += 1
            if not isinstance(button, dict):
                raise BadRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
            if not isinstance(button.get("text"), str):
                raise BadRequest('can\'t parse inline keyboard button: Field "text" must be of type String')
            actions = [a for a in _INLINE_ACTIONS if a in button and button[a] is not None]
            if not actions:
                raise BadRequest(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in actions:
                data = button["callback_data"]
                if (
                    not isinstance(data, str)
                    or not data
                    or len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES
                ):
                    raise BadRequest("BUTTON_DATA_INVALID")
            if "url" in actions and not is_valid_button_url(button["url"]):
                raise BadRequest("BUTTON_URL_INVALID")
            if not button["text"].strip():
                raise BadRequest("BUTTON_TEXT_INVALID")
    if total > MAX_BUTTONS:
        raise BadRequest("BUTTONS_TOO_MUCH")
    return markup


def _validate_reply_keyboard(markup: dict[str, Any]) -> dict[str, Any]:
    rows = markup.get("keyboard")
    if not isinstance(rows, list):
        raise BadRequest('Field "keyboard" of the ReplyKeyboardMarkup should be an Array')
    total = 0
    for row in rows:
        if not isinstance(row, list):
            raise BadRequest('Field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        for button in row:
            total += 1
            text = (
                button
                if isinstance(button, str)
                else button.get("text")
                if isinstance(button, dict)
                else None
            )
            if not isinstance(text, str):
                raise BadRequest('can\'t parse keyboard button: Field "text" must be of type String')
    if total > 300:
        raise BadRequest("BUTTONS_TOO_MUCH")
    return markup


def inline_buttons(markup: dict[str, Any] | None) -> list[list[tuple[str, str | None, str | None]]]:
    """Rows of (text, callback_data, url) for an inline keyboard (empty for other markups)."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [
        [(b.get("text", ""), b.get("callback_data"), b.get("url")) for b in row]
        for row in markup["inline_keyboard"]
    ]
