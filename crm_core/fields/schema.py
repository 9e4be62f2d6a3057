"""Every field of every item type, declared once: its kind, its label (a message id the handlers
translate), its limits and what may be done with it. The card form, required fields, the filter
language, the filter builder and the sort screen are all read from here.

Declaration order is the order people see: the card lists its fields in this order, the filter
builder and the sort screen theirs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from crm_core.errors import ValidationFailed
from crm_core.fields.context import FieldContext
from crm_core.fields.kinds import (
    DEFAULT_TEXT_LIMIT,
    Kind,
    Money,
    clean_amount,
    clean_date,
    clean_id,
    format_value,
    in_id_range,
    parse_currency,
    parse_date,
    parse_datetime,
    parse_email,
    parse_flag,
    parse_money,
    parse_number,
    parse_phone,
    parse_text,
    storable,
)
from crm_core.models.items import ItemType


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    label: str  # a message id ("field.title"); crm_core never holds the words themselves
    max_length: int | None = None  # text: characters (the column's length)
    on_card: bool = False  # listed on the card's fields screen and editable there
    requirable: bool = False  # an admin may make it required
    filterable: bool = False  # the filter language (views) accepts it
    quick_filter: bool = False  # offered by the filter builder
    sortable: bool = False  # offered by the sort screen
    clearable: bool = True  # may be emptied (title and currency never are)
    many: bool = False  # several values (phones, emails)
    ref: str | None = None  # what a reference points at: "stage", "pipeline", "contact", ...
    query_kind: str | None = None  # how views filters it, when the kind alone does not say

    @property
    def limit(self) -> int:
        return self.max_length or DEFAULT_TEXT_LIMIT

    @property
    def settable(self) -> bool:
        """Create and update accept it: the card's single-valued fields and the links to a client or
        a lead. Stage, pipeline, responsible, observers, phones and e-mails have services of their
        own (they write their own timeline events)."""
        link = self.kind == Kind.REFERENCE and self.ref in _LINKS and self.query_kind is None
        return (self.on_card and not self.many) or link

    def clean(self, value: Any) -> Any:
        """A value given by a program (a service call, a web form, the REST API, an imported row),
        checked by the same rules and limits as a typed one: refused, never cut."""
        if self.kind == Kind.TEXT:
            if value is None:
                return None if self.clearable else ""
            text = storable(str(value)).strip()
            if len(text) > self.limit:
                raise ValidationFailed("text too long", field=self.name, max=self.limit)
            return text if text or not self.clearable else None
        if value is None or value == "":
            return None
        if self.kind == Kind.MONEY:
            return clean_amount(value, self.name)
        if self.kind == Kind.CURRENCY:
            return parse_currency(str(value))
        if self.kind == Kind.DATE:
            return clean_date(value, self.name)
        if self.kind in (Kind.REFERENCE, Kind.USER, Kind.NUMBER):
            return clean_id(value, self.name)
        return value

    def parse(self, text: str, ctx: FieldContext) -> Any:
        """The value typed for this field; ValidationFailed (a reason) when it does not fit."""
        text = storable(text or "").strip()  # "\x00" is empty too
        if not text:
            raise ValidationFailed("empty value", field=self.name)
        if self.many:
            return [_parse_one(self, part, ctx) for part in split_list(text)]
        return _parse_one(self, text, ctx)

    def format(self, value: Any, ctx: FieldContext, *, currency: str | None = None) -> str:
        return format_value(self.kind, value, ctx, currency=currency)


def split_list(text: str) -> list[str]:
    """Several values typed at once: separated by commas, semicolons or lines."""
    import re

    return [p.strip() for p in re.split(r"[,;\n]", text) if p.strip()]


def _parse_one(f: Field, text: str, ctx: FieldContext) -> Any:
    if f.kind == Kind.MONEY:
        return parse_money(text, ctx)
    if f.kind == Kind.CURRENCY:
        return parse_currency(text, ctx)
    if f.kind == Kind.DATE:
        return parse_date(text, ctx)
    if f.kind == Kind.DATETIME:
        return parse_datetime(text, ctx)
    if f.kind == Kind.PHONE:
        return parse_phone(text, ctx)
    if f.kind == Kind.EMAIL:
        return parse_email(text, ctx)
    if f.kind in (Kind.NUMBER, Kind.REFERENCE, Kind.USER):
        number = parse_number(text)
        if not in_id_range(number):  # no row has it, and the database cannot even bind it
            raise ValidationFailed("invalid value", field=f.name, value=text)
        return number
    if f.kind == Kind.FLAG:
        return parse_flag(text)
    try:
        return parse_text(text, f.limit)
    except ValidationFailed as exc:
        raise ValidationFailed("text too long", field=f.name, max=f.limit) from exc


_LINKS = frozenset({"contact", "company", "lead"})


# --- the declarations ------------------------------------------------------------------------------


def _f(name: str, kind: Kind, label: str, **flags: Any) -> Field:
    # The label is written out at each declaration (not built from the name) so that the catalog
    # check sees every id.
    return Field(name, kind, label=label, **flags)


_EDIT = {"on_card": True, "requirable": True}

_TITLE = _f("title", Kind.TEXT, label="field.title", max_length=255, **_EDIT, filterable=True,
            quick_filter=True, sortable=True, clearable=False)  # fmt: skip
_PHONE = _f(
    "phone",
    Kind.PHONE,
    label="field.phone",
    max_length=255,
    many=True,
    **_EDIT,
    filterable=True,
    quick_filter=True,
)
_EMAIL = _f(
    "email",
    Kind.EMAIL,
    label="field.email",
    max_length=255,
    many=True,
    **_EDIT,
    filterable=True,
    quick_filter=True,
)
_SOURCE = _f(
    "source", Kind.TEXT, label="field.source", max_length=50, **_EDIT, filterable=True, quick_filter=True
)
_COMMENT = _f("comment", Kind.TEXT, label="field.comment", max_length=DEFAULT_TEXT_LIMIT, **_EDIT)
_AMOUNT = _f(
    "amount", Kind.MONEY, label="field.amount", **_EDIT, filterable=True, quick_filter=True, sortable=True
)
_CURRENCY = _f(
    "currency",
    Kind.CURRENCY,
    label="field.currency",
    max_length=3,
    on_card=True,
    filterable=True,
    clearable=False,
)
_CLIENT = (
    _f(
        "contact_id",
        Kind.REFERENCE,
        label="field.contact_id",
        ref="contact",
        requirable=True,
        filterable=True,
    ),
    _f(
        "company_id",
        Kind.REFERENCE,
        label="field.company_id",
        ref="company",
        requirable=True,
        filterable=True,
    ),
)
_SYSTEM_HEAD = (
    _f("responsible_id", Kind.USER, label="field.responsible_id", filterable=True, quick_filter=True),
    _f(
        "created_at",
        Kind.DATETIME,
        label="field.created_at",
        filterable=True,
        quick_filter=True,
        sortable=True,
    ),
    _f(
        "updated_at",
        Kind.DATETIME,
        label="field.updated_at",
        filterable=True,
        quick_filter=True,
        sortable=True,
    ),
)
_SYSTEM_TAIL = (
    _f("id", Kind.NUMBER, label="field.id", filterable=True),
    _f("observer_id", Kind.USER, label="field.observer_id", filterable=True, query_kind="observer"),
)
_STAGED = (
    _f("stage_id", Kind.REFERENCE, label="field.stage_id", ref="stage", filterable=True, quick_filter=True),
    _f("pipeline_id", Kind.REFERENCE, label="field.pipeline_id", ref="pipeline", filterable=True),
    _f("closed", Kind.FLAG, label="field.closed", filterable=True, quick_filter=True),
    _f("won", Kind.FLAG, label="field.won", filterable=True),
    _f("closed_at", Kind.DATETIME, label="field.closed_at", filterable=True),
    _f("last_activity_at", Kind.DATETIME, label="field.last_activity_at", filterable=True, quick_filter=True),
    _f("stage_entered_at", Kind.DATETIME, label="field.stage_entered_at", filterable=True),
    _f("focused_at", Kind.DATETIME, label="field.focused_at", filterable=True),
)


def _with(base: tuple[Field, ...], **changes: dict[str, Any]) -> tuple[Field, ...]:
    """`base` with some fields' flags changed: _with(_STAGED, won={"quick_filter": True})."""
    return tuple(replace(f, **changes[f.name]) if f.name in changes else f for f in base)


_LEAD_NAME = {"max_length": 100, **_EDIT}
SCHEMA: dict[ItemType, tuple[Field, ...]] = {
    ItemType.LEAD: (
        _TITLE,
        _f("name", Kind.TEXT, label="field.name", **_LEAD_NAME, filterable=True),
        _f("last_name", Kind.TEXT, label="field.last_name", **_LEAD_NAME, filterable=True),
        _f("second_name", Kind.TEXT, label="field.second_name", **_LEAD_NAME),
        _f("company_title", Kind.TEXT, label="field.company_title", max_length=255, **_EDIT, filterable=True),
        _f("position", Kind.TEXT, label="field.position", max_length=255, **_EDIT),
        _PHONE,
        _EMAIL,
        _AMOUNT,
        _CURRENCY,
        _SOURCE,
        _COMMENT,
        *_CLIENT,
        *_SYSTEM_HEAD,
        *_with(_STAGED, last_activity_at={"sortable": True}),
        _f(
            "is_return_customer",
            Kind.FLAG,
            label="field.is_return_customer",
            filterable=True,
            quick_filter=True,
        ),
        *_SYSTEM_TAIL,
    ),
    ItemType.DEAL: (
        _TITLE,
        _AMOUNT,
        _CURRENCY,
        _f("begin_date", Kind.DATE, label="field.begin_date", **_EDIT, filterable=True),
        _f(
            "close_date",
            Kind.DATE,
            label="field.close_date",
            **_EDIT,
            filterable=True,
            quick_filter=True,
            sortable=True,
        ),
        _SOURCE,
        _COMMENT,
        *_CLIENT,
        *_SYSTEM_HEAD,
        *_with(_STAGED, won={"quick_filter": True}),
        _f("lead_id", Kind.REFERENCE, label="field.lead_id", ref="lead", filterable=True),
        # Deals keep no phones of their own, but the filter language asks about them the same way.
        replace(_PHONE, on_card=False, requirable=False, quick_filter=False),
        replace(_EMAIL, on_card=False, requirable=False, quick_filter=False),
        *_SYSTEM_TAIL,
    ),
    ItemType.CONTACT: (
        _f(
            "name",
            Kind.TEXT,
            label="field.name",
            max_length=100,
            **_EDIT,
            filterable=True,
            quick_filter=True,
            sortable=True,
        ),
        _f("second_name", Kind.TEXT, label="field.second_name", max_length=100, **_EDIT, filterable=True),
        _f(
            "last_name",
            Kind.TEXT,
            label="field.last_name",
            max_length=100,
            **_EDIT,
            filterable=True,
            quick_filter=True,
            sortable=True,
        ),
        _f(
            "position",
            Kind.TEXT,
            label="field.position",
            max_length=255,
            **_EDIT,
            filterable=True,
            quick_filter=True,
        ),
        _PHONE,
        _EMAIL,
        _SOURCE,
        _COMMENT,
        *_SYSTEM_HEAD,
        _f(
            "company_id",
            Kind.REFERENCE,
            label="field.company_id",
            ref="company",
            filterable=True,
            query_kind="contact_company",
        ),
        _f("lead_id", Kind.REFERENCE, label="field.lead_id", ref="lead", filterable=True),
        *_SYSTEM_TAIL,
    ),
    ItemType.COMPANY: (
        _TITLE,
        _f(
            "industry",
            Kind.TEXT,
            label="field.industry",
            max_length=100,
            **_EDIT,
            filterable=True,
            quick_filter=True,
        ),
        _PHONE,
        _EMAIL,
        _SOURCE,
        _COMMENT,
        *_SYSTEM_HEAD,
        _f("lead_id", Kind.REFERENCE, label="field.lead_id", ref="lead", filterable=True),
        *_SYSTEM_TAIL,
    ),
}


# --- reading the schema ----------------------------------------------------------------------------


def fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return SCHEMA[ItemType(item_type)]


@cache
def _by_name(item_type: ItemType) -> dict[str, Field]:
    return {f.name: f for f in SCHEMA[item_type]}


def get_field(item_type: ItemType | str, name: str) -> Field:
    """The field, or ValidationFailed("unknown field") for a name the type does not have."""
    found = _by_name(ItemType(item_type)).get(name)
    if found is None:
        raise ValidationFailed("unknown field", field=name, item_type=str(item_type))
    return found


def find_field(item_type: ItemType | str, name: str) -> Field | None:
    return _by_name(ItemType(item_type)).get(name)


def card_fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return tuple(f for f in fields(item_type) if f.on_card)


def requirable_fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return tuple(f for f in fields(item_type) if f.requirable)


def filterable_fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return tuple(f for f in fields(item_type) if f.filterable)


def quick_filter_fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return tuple(f for f in fields(item_type) if f.quick_filter)


def sortable_fields(item_type: ItemType | str) -> tuple[Field, ...]:
    return tuple(f for f in fields(item_type) if f.sortable)


def label_of(name: str) -> str:
    """The label id of a field name, whatever the item type (labels are shared by name)."""
    for item_type in ItemType:
        found = find_field(item_type, name)
        if found is not None:
            return found.label
    raise ValidationFailed("unknown field", field=name)


__all__ = [
    "SCHEMA",
    "Field",
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
