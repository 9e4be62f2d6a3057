"""A Bitrix24 list `filter` and `order` in our filter language (crm_core.services.views).

Keys carry Bitrix24's prefixes: `>=`, `>`, `<=`, `<`, `=` (or none: equal; a list: any of),
`!` (not equal; a list: none of), `%` (contains), `@` (any of), `!@` (none of)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_core.bitrix.codes import BY_CODE, MULTIFIELDS
from crm_core.bitrix.records import Codebook, as_list
from crm_core.errors import ValidationFailed
from crm_core.models.items import ItemType
from crm_core.services.views.filters import Condition

PREFIXES = (("!@", "not_in"), (">=", "gte"), ("<=", "lte"), ("!=", "ne"), (">", "gt"), ("<", "lt"),
            ("=", "eq"), ("!", "ne"), ("%", "contains"), ("@", "in"))  # fmt: skip


def split_key(key: str) -> tuple[str, str]:
    for prefix, op in PREFIXES:
        if key.startswith(prefix):
            return op, key[len(prefix) :].strip().upper()
    return "eq", key.strip().upper()


def _values(value: Any) -> list[Any]:
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return as_list(value)


def to_conditions(item_type: ItemType, raw: Any, book: Codebook) -> list[Condition]:
    if raw in (None, "", [], {}):
        return []
    if not isinstance(raw, Mapping):
        raise ValidationFailed("filter must be an object", field="filter")
    out: list[Condition] = []
    for key, value in raw.items():
        op, code = split_key(str(key))
        out.extend(_condition(item_type, op, code, value, book))
    return out


def _condition(item_type: ItemType, op: str, code: str, value: Any, book: Codebook) -> list[Condition]:
    spec = BY_CODE[item_type].get(code)
    if spec is None:
        raise ValidationFailed("unknown field", field=code)
    many = isinstance(value, (list, tuple, Mapping)) or op in ("in", "not_in")
    if many and op == "eq":
        op = "in"
    if many and op == "ne":
        op = "not_in"
    if code in ("STATUS_ID", "STAGE_ID"):
        name, convert = "stage_id", lambda v: book.stage_by_code(item_type, v).id
    elif code == "CATEGORY_ID":
        name, convert = "pipeline_id", lambda v: book.pipeline_of_category(item_type, v).id
    elif code in ("STATUS_SEMANTIC_ID", "STAGE_SEMANTIC_ID"):
        return _semantics(op, value)
    elif code in MULTIFIELDS:
        name, convert = code.lower(), str
        if op not in ("eq", "contains"):
            raise ValidationFailed("operator not allowed", field=code)
    elif code == "COMPANY_ID" and item_type == ItemType.CONTACT:
        name, convert = "company_id", _id
    else:
        name = spec.attr or code.lower()
        convert = _flag if spec.type == "char" else (lambda v: v)
    if op in ("in", "not_in"):
        values = [convert(v) for v in _values(value)]
        if not values:
            raise ValidationFailed("empty list", field=code)
        if op == "in":
            return [Condition(name, "in", values)]
        return [Condition(name, "ne", v) for v in values]
    if (value is None or value is False or value == "") and op in ("eq", "ne"):
        return [Condition(name, "is_null" if op == "eq" else "not_null")]
    return [Condition(name, op, convert(value))]


def _id(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed("invalid value", value=str(value)) from exc


def _flag(value: Any) -> bool:
    return str(value).upper() in ("Y", "1", "TRUE")


def _semantics(op: str, value: Any) -> list[Condition]:
    codes = {str(v).upper() for v in _values(value)}
    if op in ("ne", "not_in"):
        codes = {"P", "S", "F"} - codes
    elif op not in ("eq", "in"):
        raise ValidationFailed("operator not allowed", field="SEMANTIC_ID")
    if codes == {"P"}:
        return [Condition("closed", "eq", False)]
    if codes == {"S"}:
        return [Condition("won", "eq", True)]
    if codes == {"F"}:
        return [Condition("closed", "eq", True), Condition("won", "eq", False)]
    if codes == {"S", "F"}:
        return [Condition("closed", "eq", True)]
    if codes == {"P", "S"}:  # closed=false OR won=true: our filter language has no OR
        raise ValidationFailed("filter by P and S together is not supported", field="SEMANTIC_ID")
    if codes == {"P", "F"}:
        return [Condition("won", "eq", False)]
    if codes >= {"P", "S", "F"}:
        return []
    raise ValidationFailed("invalid value", field="SEMANTIC_ID", value=str(value))


def to_sort(item_type: ItemType, raw: Any) -> list[tuple[str, str]]:
    if raw in (None, "", [], {}):
        return [("id", "asc")]
    if not isinstance(raw, Mapping):
        raise ValidationFailed("order must be an object", field="order")
    out = []
    for key, direction in raw.items():
        code = str(key).upper()
        spec = BY_CODE[item_type].get(code)
        if spec is None or spec.attr is None:
            raise ValidationFailed("field is not sortable", field=code)
        out.append((spec.attr, str(direction).lower()))
    return out
