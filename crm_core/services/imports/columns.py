"""What a column of an imported table holds: a target (a field of the schema, a phone or e-mail of
some kind, the stage, the responsible) and the column names that mean it, Bitrix24's own among them
(its English codes, TITLE, PHONE_MOBILE..., and the Russian names of its export), so that a table
exported from Bitrix24 maps itself."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from crm_core.fields import fields as schema_fields
from crm_core.models.items import CommValueType, ItemType

SKIP = ""  # the column is not imported
STAGE = "stage"
RESPONSIBLE = "responsible"
ID = "id"  # the item's number: an export carries it; matched for "update" and otherwise ignored

# Phones and e-mails by kind: "phone" is a work phone, "phone.mobile" a mobile one.
COMM_TARGETS = {
    "phone": ("phone", CommValueType.WORK),
    "phone.mobile": ("phone", CommValueType.MOBILE),
    "phone.home": ("phone", CommValueType.HOME),
    "phone.other": ("phone", CommValueType.OTHER),
    "email": ("email", CommValueType.WORK),
    "email.home": ("email", CommValueType.HOME),
    "email.other": ("email", CommValueType.OTHER),
}


def targets(item_type: ItemType | str) -> list[str]:
    """What a column of this item type may be mapped to, in the order the mapping screen offers."""
    item_type = ItemType(item_type)
    out: list[str] = []
    for f in schema_fields(item_type):
        if f.name in ("phone", "email"):
            if f.on_card:
                out.extend(k for k in COMM_TARGETS if k.split(".")[0] == f.name)
        elif f.settable and f.name not in ("contact_id", "company_id", "lead_id"):
            out.append(f.name)
    if item_type.has_stages:
        out.append(STAGE)
    out.extend([RESPONSIBLE, ID])
    return out


def normalize_header(text: str) -> str:
    """Column names compare without case, spaces, punctuation or "ё"."""
    s = str(text or "").lower().replace("ё", "е").replace("e-mail", "email")
    return re.sub(r"[\s_\-.:()*\"'«»]+", "", s)


# Bitrix24: the REST/CSV codes and the Russian names of its export and import template.
BITRIX_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("TITLE", "Название лида", "Название сделки", "Название компании|company", "Название",
              "Lead name", "Deal name", "Company name|company"),
    "name": ("NAME", "Имя", "First name"),
    "last_name": ("LAST_NAME", "Фамилия", "Last name"),
    "second_name": ("SECOND_NAME", "Отчество", "Second name", "Middle name"),
    "company_title": ("COMPANY_TITLE", "Название компании", "Компания", "Company name", "Company"),
    "position": ("POST", "POSITION", "Должность", "Position"),
    "phone": ("PHONE", "PHONE_WORK", "Рабочий телефон", "Телефон", "Work phone", "Phone"),
    "phone.mobile": ("PHONE_MOBILE", "Мобильный телефон", "Mobile phone"),
    "phone.home": ("PHONE_HOME", "Домашний телефон", "Home phone"),
    "phone.other": ("PHONE_OTHER", "PHONE_FAX", "Другой телефон", "Факс", "Other phone"),
    "email": ("EMAIL", "EMAIL_WORK", "Рабочий e-mail", "E-mail", "Email", "Work e-mail"),
    "email.home": ("EMAIL_HOME", "Частный e-mail", "Личный e-mail", "Home e-mail"),
    "email.other": ("EMAIL_OTHER", "Другой e-mail", "Other e-mail"),
    "amount": ("OPPORTUNITY", "Сумма", "Возможная сумма сделки", "Amount", "Opportunity"),
    "currency": ("CURRENCY_ID", "Валюта", "Currency"),
    "source": ("SOURCE_ID", "Источник", "Source"),
    "comment": ("COMMENTS", "Комментарий", "Комментарии", "Comment", "Comments"),
    "industry": ("INDUSTRY", "Сфера деятельности", "Industry"),
    "begin_date": ("BEGINDATE", "BEGIN_DATE", "Дата начала", "Start date"),
    "close_date": ("CLOSEDATE", "CLOSE_DATE", "Предполагаемая дата закрытия", "Дата закрытия", "Close date"),
    STAGE: ("STATUS_ID", "STAGE_ID", "Статус", "Стадия", "Стадия сделки", "Status", "Stage"),
    RESPONSIBLE: ("ASSIGNED_BY_ID", "ASSIGNED_BY", "Ответственный", "Responsible", "Assigned to"),
    ID: ("ID", "№", "Number"),
}  # fmt: skip


def alias_index(
    item_type: ItemType | str, extra: Mapping[str, Iterable[str]] | None = None
) -> dict[str, str]:
    """Normalised column name -> target, for this item type. `extra` adds names per target (the
    bot's field labels in every language, which the export writes). "Name|company" applies to
    companies only."""
    item_type = ItemType(item_type)
    allowed = set(targets(item_type))
    index: dict[str, str] = {}
    sources: list[tuple[str, Iterable[str]]] = list((extra or {}).items()) + list(BITRIX_ALIASES.items())
    for target, names in sources:
        if target not in allowed:
            continue
        for raw in names:
            name, _, only = raw.partition("|")
            if only and only != item_type.value:
                continue
            index.setdefault(normalize_header(name), target)
            index.setdefault(normalize_header(target), target)
    # A company's name is its title; a lead's "company name" its company_title.
    if item_type == ItemType.COMPANY:
        for name in ("Название компании", "COMPANY_TITLE", "Company name", "Company"):
            index[normalize_header(name)] = "title"
    return index


def propose_mapping(columns: list[str], index: Mapping[str, str]) -> list[str]:
    """A target per column, each target used once (later duplicates are skipped)."""
    used: set[str] = set()
    out = []
    for col in columns:
        target = index.get(normalize_header(col), SKIP)
        if target and target in used:
            target = SKIP
        used.add(target)
        out.append(target)
    return out


def known_header(index: Mapping[str, str]) -> Callable[[str], bool]:
    """Whether a cell names a known column (the header finder's test)."""
    return lambda text: normalize_header(text) in index
