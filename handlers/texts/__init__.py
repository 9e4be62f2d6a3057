"""User-facing texts in Russian and English, picked by the user's language.

Each feature keeps its texts in a module of this package with a `TEXTS = {"en": {...}, "ru": {...}}`
dict and keys prefixed by the feature (e.g. "card.", "act."); they are merged here. Placeholders are
filled with `str.format`; values that came from users must already be escaped by the caller
(handlers.render.esc) because every text is sent as HTML.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

LANGUAGES = ("en", "ru")


def _collect() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        texts: dict[str, dict[str, str]] = getattr(module, "TEXTS", {})
        for lang in LANGUAGES:
            for key, value in texts.get(lang, {}).items():
                if key in merged[lang]:
                    raise RuntimeError(f"text key {key!r} is defined twice (second time in {info.name})")
                merged[lang][key] = value
    return merged


TEXTS = _collect()


class Translator:
    """Texts of one language; falls back to English, then to the key, so a gap never crashes."""

    def __init__(self, language: str) -> None:
        self.language = language if language in TEXTS else "en"

    def has(self, key: str) -> bool:
        return key in TEXTS[self.language] or key in TEXTS["en"]

    def __call__(self, key: str, **params: Any) -> str:
        text = TEXTS[self.language].get(key) or TEXTS["en"].get(key) or key
        return text.format(**params) if params else text


def t(language: str, key: str, **params: Any) -> str:
    return Translator(language)(key, **params)
