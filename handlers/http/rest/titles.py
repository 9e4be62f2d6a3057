"""Names the API gives in the token user's language: field titles (crm.*.fields), stage and source
names (crm.status.list), pipeline names (crm.category.list)."""

from __future__ import annotations

from crm_core.bitrix.codes import BxField
from crm_core.fields import find_field
from crm_core.models.items import ItemType
from handlers.texts import N_, Translator

_TITLES = {
    "ID": "field.id",
    "STATUS_ID": "field.stage_id",
    "STAGE_ID": "field.stage_id",
    "CATEGORY_ID": "field.pipeline_id",
    "COMPANY_ID": "field.company_id",
    "PHONE": "field.phone",
    "EMAIL": "field.email",
    "STATUS_SEMANTIC_ID": N_("rest.field.semantic"),
    "STAGE_SEMANTIC_ID": N_("rest.field.semantic"),
    "CREATED_BY_ID": N_("rest.field.created_by"),
    "MODIFY_BY_ID": N_("rest.field.modified_by"),
}

SOURCE_NAMES = {
    "CALL": N_("rest.source.call"),
    "EMAIL": N_("rest.source.email"),
    "WEB": N_("rest.source.web"),
    "ADVERTISING": N_("rest.source.advertising"),
    "PARTNER": N_("rest.source.partner"),
    "RECOMMENDATION": N_("rest.source.recommendation"),
    "TRADE_SHOW": N_("rest.source.trade_show"),
    "WEBFORM": N_("rest.source.webform"),
    "CALLBACK": N_("rest.source.callback"),
    "RC_GENERATOR": N_("rest.source.rc_generator"),
    "STORE": N_("rest.source.store"),
    "OTHER": N_("rest.source.other"),
}


def field_title(tr: Translator, item_type: ItemType, f: BxField) -> str:
    key = _TITLES.get(f.code)
    if key is None and f.attr:
        found = find_field(item_type, f.attr)
        key = found.label if found else None
    return tr(key) if key else f.code
