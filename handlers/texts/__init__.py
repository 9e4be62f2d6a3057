"""User-facing texts, picked by the user's language.

The texts live in gettext catalogs, `handlers/locales/<lang>/LC_MESSAGES/<feature>.po`, one file per
feature and language. Message ids are stable keys prefixed by the feature ("card.", "act."), not
English sentences, so a wording change touches only the catalogs. Placeholders are `str.format`
fields; values that came from users must already be escaped by the caller (handlers.render.esc)
because every text is sent as HTML. A message with a plural (`msgid_plural`) picks its form by
the `count` parameter with the language's own rule (1 лид, 2 лида, 5 лидов).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from crm_core.languages import LANGUAGES

# The languages the bot speaks (crm_core.languages), each with its catalogs under handlers/locales/.
DEFAULT_LANGUAGE = LANGUAGES[0]
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"

Message = str | tuple[str, ...]


class Catalog:
    """The messages of one language, merged from its feature catalogs."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.messages: dict[str, Message] = {}
        self.plural: Callable[[int], int] = lambda n: int(n != 1)
        for path in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
            with path.open("rb") as fp:
                po = read_po(fp, locale=language)
            self.plural = gettext.c2py(po.plural_expr)
            for message in po:
                if not message.id:
                    continue
                key = message.id[0] if isinstance(message.id, tuple) else message.id
                if key in self.messages:
                    raise RuntimeError(f"message {key!r} is defined twice (second time in {path.name})")
                value = tuple(message.string) if isinstance(message.string, tuple) else message.string
                if value and all(value):
                    self.messages[key] = value

    def get(self, key: str, count: Any = None) -> str | None:
        value = self.messages.get(key)
        if isinstance(value, tuple):
            index = self.plural(int(count)) if isinstance(count, int | float) else len(value) - 1
            return value[min(index, len(value) - 1)]
        return value


CATALOGS = {language: Catalog(language) for language in LANGUAGES}
# Kept for the checks that compare languages: {language: {key: text or plural forms}}.
TEXTS = {language: catalog.messages for language, catalog in CATALOGS.items()}


def normalize_language(language: str | None) -> str:
    """The supported language closest to a Telegram language code ("ru-RU" -> "ru")."""
    code = (language or "").split("-")[0].lower()
    return code if code in CATALOGS else DEFAULT_LANGUAGE


class Translator:
    """Texts of one language; falls back to the default language, then to the key, so a gap
    never crashes."""

    def __init__(self, language: str) -> None:
        self.language = language if language in CATALOGS else DEFAULT_LANGUAGE

    def has(self, key: str) -> bool:
        return key in CATALOGS[self.language].messages or key in CATALOGS[DEFAULT_LANGUAGE].messages

    def __call__(self, key: str, **params: Any) -> str:
        count = params.get("count")
        text = CATALOGS[self.language].get(key, count) or CATALOGS[DEFAULT_LANGUAGE].get(key, count) or key
        return text.format(**params) if params else text


def t(language: str, key: str, **params: Any) -> str:
    return Translator(language)(key, **params)


def N_(key: str) -> str:  # noqa: N802 - the gettext name for "a message id, translated later"
    """Marks a message id held in data (a dict of enum -> id) so tests/test_catalogs.py sees it;
    the id is translated where it is shown, `tr(IDS[value])`."""
    return key
