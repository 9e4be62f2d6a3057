"""What a program sent, read the same way by every HTTP entrance (web forms, the REST API).

JSON is read strictly (orjson): a text with a lone surrogate, which no UTF-8 can carry and the
standard library's decoder lets through, makes the body invalid JSON, refused with the entrance's
clear message instead of failing in the database. A NUL in any text is dropped, as the field
parsers drop a typed one (crm_core.fields.kinds.storable), so no service meets it.
"""

from __future__ import annotations

from typing import Any

import orjson

from crm_core.errors import ValidationFailed
from crm_core.fields.kinds import storable

MAX_NESTING = 32  # far beyond any Bitrix24 call's parameters; recursion stays bounded


def read_json(body: bytes) -> Any:
    """The JSON value of `body`; ValueError when it is not valid JSON (UTF-8, paired surrogates)."""
    return orjson.loads(body)


def scrubbed(value: Any, depth: int = 0) -> Any:
    """`value` (decoded parameters) with every text, keys too, as a stored text can hold it."""
    if depth > MAX_NESTING:
        raise ValidationFailed("parameters nested too deep")  # as php_parse says it
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {(storable(k) if isinstance(k, str) else k): scrubbed(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, depth + 1) for v in value]
    return value
