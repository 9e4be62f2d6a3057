"""Request parameters as PHP reads them: `fields[PHONE][0][VALUE]=...` in a query string or a form
body becomes {"fields": {"PHONE": {"0": {"VALUE": ...}}}}; a JSON body is taken as it is. Bitrix24
clients send either (fast_bitrix24 posts JSON; a site snippet GETs or posts a form). Texts come out
as handlers.http.bodies reads them: NUL dropped, a lone surrogate refused."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from crm_core.errors import ValidationFailed
from crm_core.fields.kinds import storable
from handlers.http.bodies import read_json, scrubbed

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_DEPTH = 8
MAX_PAIRS = 5000


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """PHP's parse_str over decoded (key, value) pairs; `a[]=1&a[]=2` appends."""
    out: dict[str, Any] = {}
    for n, (raw_key, value) in enumerate(pairs):
        if n >= MAX_PAIRS:
            raise ValidationFailed("too many parameters")
        raw_key, value = storable(raw_key), storable(value)  # "%00" decodes to a NUL
        m = _KEY.match(raw_key)
        if not m:
            out[raw_key] = value
            continue
        path = [m.group(1)] + _PART.findall(m.group(2))
        if len(path) > MAX_DEPTH:
            raise ValidationFailed("parameters nested too deep", key=raw_key)
        node: dict[str, Any] = out
        for i, part in enumerate(path):
            last = i == len(path) - 1
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return out


def parse_query(query: str) -> dict[str, Any]:
    return php_parse(parse_qsl(query, keep_blank_values=True))


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = read_json(body or b"{}")
    except ValueError as exc:
        raise ValidationFailed("the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be a JSON object")
    return scrubbed(data)
