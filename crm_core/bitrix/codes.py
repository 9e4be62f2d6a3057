"""Which Bitrix24 field is which of ours, per item type. A field we do not have is not listed (it
is documented in the README, never faked); a listed read-only field is computed by us."""

from __future__ import annotations

from dataclasses import dataclass

from crm_core.models.items import CommValueType, ItemType, StageSemantics

# Bitrix24's entity type ids (crm.activity OWNER_TYPE_ID, crm.timeline ENTITY_TYPE).
ENTITY_TYPE_IDS: dict[ItemType, int] = {
    ItemType.LEAD: 1,
    ItemType.DEAL: 2,
    ItemType.CONTACT: 3,
    ItemType.COMPANY: 4,
}
ITEM_TYPE_BY_ENTITY_ID = {v: k for k, v in ENTITY_TYPE_IDS.items()}

SEMANTIC_CODES = {StageSemantics.PROCESS: "P", StageSemantics.SUCCESS: "S", StageSemantics.FAILURE: "F"}

# Bitrix24's standard sources (crm.status.list ENTITY_ID=SOURCE); our source field keeps the code.
SOURCE_CODES = (
    "CALL",
    "EMAIL",
    "WEB",
    "ADVERTISING",
    "PARTNER",
    "RECOMMENDATION",
    "TRADE_SHOW",
    "WEBFORM",
    "CALLBACK",
    "RC_GENERATOR",
    "STORE",
    "OTHER",
)

# Multifield VALUE_TYPE: Bitrix24's work/mobile/home/other map to ours; its rarer types (FAX,
# PAGER, MAILING...) are kept as OTHER.
VALUE_TYPES_IN = {"WORK": CommValueType.WORK, "MOBILE": CommValueType.MOBILE, "HOME": CommValueType.HOME}
VALUE_TYPES_OUT = {
    CommValueType.WORK: "WORK",
    CommValueType.MOBILE: "MOBILE",
    CommValueType.HOME: "HOME",
    CommValueType.OTHER: "OTHER",
}


@dataclass(frozen=True)
class BxField:
    """A Bitrix24 field: its code, its type as crm.*.fields names it, our attribute (None when it is
    computed by a reader of its own: stage codes, semantics, multifields), read-only or not."""

    code: str
    type: str
    attr: str | None = None
    read_only: bool = False
    required: bool = False
    multiple: bool = False


def _common_head() -> tuple[BxField, ...]:
    return (BxField("ID", "integer", "id", read_only=True),)


def _common_tail() -> tuple[BxField, ...]:
    return (
        BxField("COMMENTS", "string", "comment"),
        BxField("ASSIGNED_BY_ID", "user", "responsible_id"),
        BxField("CREATED_BY_ID", "user", "created_by_id", read_only=True),
        BxField("MODIFY_BY_ID", "user", "updated_by_id", read_only=True),
        BxField("DATE_CREATE", "datetime", "created_at", read_only=True),
        BxField("DATE_MODIFY", "datetime", "updated_at", read_only=True),
    )


_PHONE = BxField("PHONE", "crm_multifield", multiple=True)
_EMAIL = BxField("EMAIL", "crm_multifield", multiple=True)
_MONEY = (
    BxField("OPPORTUNITY", "double", "amount"),
    BxField("CURRENCY_ID", "crm_currency", "currency"),
)

FIELDS: dict[ItemType, tuple[BxField, ...]] = {
    ItemType.LEAD: (
        *_common_head(),
        BxField("TITLE", "string", "title"),
        BxField("NAME", "string", "name"),
        BxField("SECOND_NAME", "string", "second_name"),
        BxField("LAST_NAME", "string", "last_name"),
        BxField("COMPANY_TITLE", "string", "company_title"),
        BxField("POST", "string", "position"),
        BxField("STATUS_ID", "crm_status"),
        BxField("STATUS_SEMANTIC_ID", "string", read_only=True),
        *_MONEY,
        BxField("SOURCE_ID", "crm_status", "source"),
        BxField("IS_RETURN_CUSTOMER", "char", "is_return_customer", read_only=True),
        BxField("CONTACT_ID", "crm_contact", "contact_id"),
        BxField("COMPANY_ID", "crm_company", "company_id"),
        BxField("DATE_CLOSED", "datetime", "closed_at", read_only=True),
        *_common_tail(),
        _PHONE,
        _EMAIL,
    ),
    ItemType.DEAL: (
        *_common_head(),
        BxField("TITLE", "string", "title"),
        BxField("CATEGORY_ID", "crm_category"),
        BxField("STAGE_ID", "crm_status"),
        BxField("STAGE_SEMANTIC_ID", "string", read_only=True),
        BxField("CLOSED", "char", "closed", read_only=True),
        *_MONEY,
        BxField("SOURCE_ID", "crm_status", "source"),
        BxField("BEGINDATE", "date", "begin_date"),
        BxField("CLOSEDATE", "date", "close_date"),
        BxField("CONTACT_ID", "crm_contact", "contact_id"),
        BxField("COMPANY_ID", "crm_company", "company_id"),
        BxField("LEAD_ID", "crm_lead", "lead_id"),
        *_common_tail(),
    ),
    ItemType.CONTACT: (
        *_common_head(),
        BxField("NAME", "string", "name"),
        BxField("SECOND_NAME", "string", "second_name"),
        BxField("LAST_NAME", "string", "last_name"),
        BxField("POST", "string", "position"),
        BxField("SOURCE_ID", "crm_status", "source"),
        BxField("COMPANY_ID", "crm_company", read_only=True),
        BxField("LEAD_ID", "crm_lead", "lead_id"),
        *_common_tail(),
        _PHONE,
        _EMAIL,
    ),
    ItemType.COMPANY: (
        *_common_head(),
        BxField("TITLE", "string", "title"),
        BxField("INDUSTRY", "string", "industry"),
        BxField("SOURCE_ID", "crm_status", "source"),
        BxField("LEAD_ID", "crm_lead", "lead_id"),
        *_common_tail(),
        _PHONE,
        _EMAIL,
    ),
}

BY_CODE: dict[ItemType, dict[str, BxField]] = {t: {f.code: f for f in fs} for t, fs in FIELDS.items()}
MULTIFIELDS = frozenset({"PHONE", "EMAIL"})
# What `select: ["*"]` (or no select) gives on lists: everything but the multifields, as Bitrix24.
STAR: dict[ItemType, tuple[str, ...]] = {
    t: tuple(f.code for f in fs if f.code not in MULTIFIELDS) for t, fs in FIELDS.items()
}
