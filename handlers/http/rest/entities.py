"""crm.lead.*, crm.deal.*, crm.contact.*, crm.company.*: add, get, list, update, delete, fields.
Each goes through crm_core (items, pipelines, trash, views), acting as the token's user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_core.bitrix.codes import BY_CODE, FIELDS, MULTIFIELDS, STAR
from crm_core.bitrix.filters import to_conditions, to_sort
from crm_core.bitrix.records import (
    Codebook,
    as_list,
    create_from,
    load_extras,
    parse_fields,
    to_record,
    update_from,
)
from crm_core.models.items import ItemType, RequiredField
from crm_core.services import items as items_service
from crm_core.services import trash
from crm_core.services.views.paging import list_items
from handlers.http.rest.calls import Call, method, page_start, require_id
from handlers.http.rest.protocol import PAGE_SIZE, Result, bad_argument, list_result
from handlers.http.rest.titles import field_title

ENTITIES = {
    "lead": ItemType.LEAD,
    "deal": ItemType.DEAL,
    "contact": ItemType.CONTACT,
    "company": ItemType.COMPANY,
}


def _select(item_type: ItemType, raw: Any) -> list[str]:
    wanted = [str(v).upper() for v in as_list(raw)] if raw not in (None, "", [], {}) else ["*"]
    codes: list[str] = ["ID"]
    for code in wanted:
        if code == "*":
            codes.extend(STAR[item_type])
        elif code in BY_CODE[item_type]:
            codes.append(code)
    return list(dict.fromkeys(codes))


async def _add(call: Call, item_type: ItemType) -> Result:
    change = parse_fields(item_type, call.param("fields") or {})
    book = await Codebook.load(call.session)
    item = await create_from(call.session, call.actor, item_type, change, book, call.region)
    return Result(item.id)


async def _get(call: Call, item_type: ItemType) -> Result:
    item = await items_service.get_item(call.session, call.actor, item_type, require_id(call))
    book = await Codebook.load(call.session)
    extras = await load_extras(call.session, item_type, [item.id], with_comms=True)
    return Result(to_record(item, book, extras, call.tz))


async def _list(call: Call, item_type: ItemType) -> Result:
    book = await Codebook.load(call.session)
    conditions = to_conditions(item_type, call.param("filter"), book)
    sort = to_sort(item_type, call.param("order"))
    start = page_start(call)
    codes = _select(item_type, call.param("select"))
    page = await list_items(
        call.session,
        call.actor,
        item_type,
        filters=conditions,
        sort=sort,
        limit=PAGE_SIZE,
        offset=start if start > 0 else None,
        with_total=start >= 0,
    )
    extras = await load_extras(
        call.session, item_type, [i.id for i in page.items], with_comms=any(c in MULTIFIELDS for c in codes)
    )
    records = [to_record(item, book, extras, call.tz, codes) for item in page.items]
    return list_result(records, max(start, 0), page.total)


async def _update(call: Call, item_type: ItemType) -> Result:
    item = await items_service.get_item(call.session, call.actor, item_type, require_id(call), for_edit=True)
    fields = call.param("fields")
    if fields in (None, "", [], {}):
        raise bad_argument("No fields to update.")
    change = parse_fields(item_type, fields)
    book = await Codebook.load(call.session)
    await update_from(call.session, call.actor, item, change, book, call.region)
    return Result(True)


async def _delete(call: Call, item_type: ItemType) -> Result:
    item = await items_service.get_item(call.session, call.actor, item_type, require_id(call), for_edit=True)
    await trash.delete_item(call.session, call.actor, item)
    return Result(True)


async def _fields(call: Call, item_type: ItemType) -> Result:
    required = set(
        await call.session.scalars(
            select(RequiredField.field).where(
                RequiredField.item_type == item_type, RequiredField.pipeline_id.is_(None)
            )
        )
    )
    out: dict[str, Any] = {}
    for f in FIELDS[item_type]:
        is_required = (
            (f.attr in required)
            or (f.code == "PHONE" and "phone" in required)
            or (f.code == "EMAIL" and "email" in required)
        )
        out[f.code] = {
            "type": f.type,
            "isRequired": bool(is_required),
            "isReadOnly": f.read_only,
            "isImmutable": False,
            "isMultiple": f.multiple,
            "isDynamic": False,
            "title": field_title(call.tr, item_type, f),
        }
        if f.type == "crm_status":
            out[f.code]["statusType"] = (
                "SOURCE"
                if f.code == "SOURCE_ID"
                else ("STATUS" if item_type == ItemType.LEAD else "DEAL_STAGE")
            )
    return Result(out)


def _bind(verb: str, fn: Any, item_type: ItemType) -> None:
    async def handler(call: Call) -> Result:
        return await fn(call, item_type)

    method(f"crm.{item_type.value}.{verb}")(handler)


for _name, _type in ENTITIES.items():
    for _verb, _fn in (
        ("add", _add),
        ("get", _get),
        ("list", _list),
        ("update", _update),
        ("delete", _delete),
        ("fields", _fields),
    ):
        _bind(_verb, _fn, _type)
