"""crm.status.list (ENTITY_ID STATUS, SOURCE, DEAL_STAGE, DEAL_STAGE_<category>), crm.category.list
(deal pipelines), profile."""

from __future__ import annotations

from typing import Any

from crm_core.bitrix.codes import ENTITY_TYPE_IDS, SEMANTIC_CODES, SOURCE_CODES
from crm_core.bitrix.filters import split_key
from crm_core.bitrix.records import Codebook, as_list
from crm_core.clock import utcnow
from crm_core.models.items import ItemType, Stage, StageSemantics
from handlers.http.rest.calls import Call, method
from handlers.http.rest.protocol import Result, bad_argument
from handlers.http.rest.titles import SOURCE_NAMES
from handlers.texts.names import pipeline_name, stage_name


def _stage_row(call: Call, book: Codebook, stage: Stage, entity_id: str) -> dict[str, Any]:
    name = stage_name(call.tr, stage)
    semantics = None if stage.semantics == StageSemantics.PROCESS else SEMANTIC_CODES[stage.semantics]
    category = str(book.category_id(stage.pipeline_id)) if stage.entity_type == ItemType.DEAL else None
    extra = {"P": "process", "S": "success", "F": "apology"}[SEMANTIC_CODES[stage.semantics]]
    return {
        "ID": str(stage.id),
        "ENTITY_ID": entity_id,
        "STATUS_ID": book.stage_code(stage),
        "NAME": name,
        "NAME_INIT": name if stage.name is None else "",
        "SORT": str(stage.sort),
        "SYSTEM": "Y" if stage.name is None else "N",
        "CATEGORY_ID": category,
        "COLOR": stage.color,
        "SEMANTICS": semantics,
        "EXTRA": {"SEMANTICS": extra, "COLOR": stage.color},
    }


def _all_rows(call: Call, book: Codebook) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for pipeline in book.pipelines.values():
        if pipeline.entity_type == ItemType.LEAD:
            entity_id = "STATUS"
        elif pipeline.entity_type == ItemType.DEAL:
            category = book.category_id(pipeline.id)
            entity_id = f"DEAL_STAGE_{category}" if category else "DEAL_STAGE"
        else:
            continue
        rows.extend(_stage_row(call, book, s, entity_id) for s in book.stages_of(pipeline.id))
    for n, code in enumerate(SOURCE_CODES, 1):
        name = call.tr(SOURCE_NAMES[code])
        rows.append({"ID": f"s{n}", "ENTITY_ID": "SOURCE", "STATUS_ID": code, "NAME": name, "NAME_INIT": name,
                     "SORT": str(n * 10), "SYSTEM": "Y", "CATEGORY_ID": None, "COLOR": None,
                     "SEMANTICS": None})  # fmt: skip
    return rows


@method("crm.status.list")
async def status_list(call: Call) -> Result:
    book = await Codebook.load(call.session)
    rows = _all_rows(call, book)
    raw_filter = call.param("filter") or {}
    if not isinstance(raw_filter, dict):
        raise bad_argument("filter must be an object")
    for key, value in raw_filter.items():
        op, code = split_key(str(key))
        allowed = {str(v) for v in as_list(value)}
        if code not in ("ENTITY_ID", "STATUS_ID", "CATEGORY_ID", "ID") or op not in ("eq", "in"):
            raise bad_argument(f"Unsupported filter: {key}")
        rows = [r for r in rows if str(r.get(code)) in allowed]
    return Result(rows, total=len(rows))


@method("crm.category.list")
async def category_list(call: Call) -> Result:
    entity_type_id = call.param("entitytypeid")
    if str(entity_type_id) != str(ENTITY_TYPE_IDS[ItemType.DEAL]):
        raise bad_argument("Only deal pipelines (entityTypeId=2) have categories here")
    book = await Codebook.load(call.session)
    categories = [
        {
            "id": book.category_id(p.id),
            "name": pipeline_name(call.tr, p),
            "sort": p.sort,
            "entityTypeId": ENTITY_TYPE_IDS[ItemType.DEAL],
            "isDefault": "Y" if p.is_default else "N",
        }
        for p in book.pipelines.values()
        if p.entity_type == ItemType.DEAL
    ]
    return Result({"categories": categories}, total=len(categories))


@method("profile")
async def profile(call: Call) -> Result:
    user = call.actor
    first, _, last = (user.full_name or "").partition(" ")
    offset = call.tz.utcoffset(utcnow().replace(tzinfo=None))
    return Result(
        {
            "ID": str(user.id),
            "ADMIN": user.is_admin,
            "NAME": first,
            "LAST_NAME": last,
            "PERSONAL_GENDER": "",
            "TIME_ZONE": user.timezone,
            "TIME_ZONE_OFFSET": int(offset.total_seconds()) if offset else 0,
        }
    )
