"""Bot API schema (methods, parameter types, required flags) and request parameter decoding.

The schema is a compact copy of ``telegram-bot-api/api.json`` shipped as ``api_schema.json`` next to
this module, so the fake works outside of the development box.  ``FAKE_TELEGRAM_API_JSON`` can point
at a full ``api.json`` (same format as /work/shared/telegram-bot-api/api.json) to override it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool

    @property
    def is_json(self) -> bool:
        """True when the value travels as a JSON-serialized string inside form fields."""
        return any(t not in ("Integer", "String", "Boolean", "Float", "InputFile") for t in self.types)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: dict[str, FieldSpec]
    returns: tuple[str, ...]


class ApiSchema:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.version: str = raw.get("version", "")
        self.methods: dict[str, MethodSpec] = {}
        self.types: dict[str, dict[str, FieldSpec]] = {}
        for name, method in raw["methods"].items():
            fields = method.get("fields", [])
            specs = {}
            for f in fields:
                spec = _field(f)
                specs[spec.name] = spec
            self.methods[name.lower()] = MethodSpec(name, specs, tuple(method.get("returns", [])))
        for name, t in raw["types"].items():
            fields = t if isinstance(t, list) else t.get("fields", [])
            self.types[name] = {(s := _field(f)).name: s for f in fields}

    def method(self, name: str) -> MethodSpec | None:
        return self.methods.get(name.lower())

    def required_fields(self, type_name: str) -> list[str]:
        return [f.name for f in self.types.get(type_name, {}).values() if f.required]


def _field(f: Any) -> FieldSpec:
    if isinstance(f, list):  # compact format: [name, types, required]
        return FieldSpec(f[0], tuple(f[1]), bool(f[2]))
    return FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]))


@lru_cache(maxsize=4)
def load_schema(path: str | None = None) -> ApiSchema:
    candidates = [path, os.environ.get("FAKE_TELEGRAM_API_JSON"), str(_HERE / "api_schema.json")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return ApiSchema(json.loads(Path(candidate).read_text("utf-8")))
    raise FileNotFoundError("Bot API schema not found (api_schema.json or FAKE_TELEGRAM_API_JSON)")


def coerce_param(spec: FieldSpec | None, value: Any) -> Any:
    """Turn a form/query string into the typed value the Bot API would see.

    JSON bodies arrive already typed; form bodies carry strings where nested objects are JSON texts.
    """
    if not isinstance(value, str) or spec is None:
        return value
    types = spec.types
    if "Integer" in types:
        try:
            return int(value)
        except ValueError:
            pass
    if "Float" in types:
        try:
            return float(value)
        except ValueError:
            pass
    if "Boolean" in types:
        low = value.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0", ""):
            return False
    if spec.is_json and "String" not in types:
        try:
            return json.loads(value)
        except ValueError:
            return value  # the method handler reports a precise error
    if spec.is_json and "String" in types and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
