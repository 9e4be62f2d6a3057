"""The field schema: each field of each item type declared once (crm_core.fields.schema), one
parser and one formatter per kind (crm_core.fields.kinds), read against a FieldContext."""

from crm_core.fields.context import FieldContext
from crm_core.fields.kinds import Kind, Money
from crm_core.fields.schema import (
    SCHEMA,
    Field,
    card_fields,
    fields,
    filterable_fields,
    find_field,
    get_field,
    label_of,
    quick_filter_fields,
    requirable_fields,
    sortable_fields,
    split_list,
)

__all__ = [
    "SCHEMA",
    "Field",
    "FieldContext",
    "Kind",
    "Money",
    "card_fields",
    "fields",
    "filterable_fields",
    "find_field",
    "get_field",
    "label_of",
    "quick_filter_fields",
    "requirable_fields",
    "sortable_fields",
    "split_list",
]
