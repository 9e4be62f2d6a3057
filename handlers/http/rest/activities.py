"""crm.activity.add / crm.activity.list and crm.timeline.comment.add, through the activity and
comment services (reminders, counters, the timeline and mentions behave as in the bot)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from crm_core.bitrix.codes import ENTITY_TYPE_IDS, ITEM_TYPE_BY_ENTITY_ID
from crm_core.bitrix.records import bx_datetime
from crm_core.clock import ensure_utc
from crm_core.models.activities import Activity, ActivityDirection, ActivityType
from crm_core.models.items import ItemType
from crm_core.services import activities as activities_service
from crm_core.services import comments as comments_service
from handlers.http.rest.calls import Call, method, page_start
from handlers.http.rest.protocol import PAGE_SIZE, Result, bad_argument, list_result

# Bitrix24's TYPE_ID: 1 meeting, 2 call, 3 task, 4 e-mail, 6 a provider's (here: universal).
TYPES_IN = {1: ActivityType.MEETING, 2: ActivityType.CALL, 3: ActivityType.TASK, 4: ActivityType.EMAIL,
            6: ActivityType.UNIVERSAL}  # fmt: skip
TYPES_OUT = {ActivityType.MEETING: 1, ActivityType.CALL: 2, ActivityType.TASK: 3, ActivityType.EMAIL: 4,
             ActivityType.MESSAGE: 6, ActivityType.UNIVERSAL: 6}  # fmt: skip


def _fields(call: Call) -> dict[str, Any]:
    raw = call.param("fields")
    if not isinstance(raw, dict) or not raw:
        raise bad_argument("fields are not defined")
    return {str(k).upper(): v for k, v in raw.items()}


def _owner(fields: dict[str, Any], type_key: str, id_key: str) -> tuple[ItemType, int]:
    raw_type = fields.get(type_key)
    try:
        if isinstance(raw_type, str) and not raw_type.isdigit():
            item_type = ItemType(raw_type.lower())
        else:
            item_type = ITEM_TYPE_BY_ENTITY_ID[int(raw_type)]
        owner_id = int(fields.get(id_key))
    except (TypeError, ValueError, KeyError):
        raise bad_argument(f"{type_key} or {id_key} is not defined or invalid.") from None
    return item_type, owner_id


def _when(value: Any, call: Call) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise bad_argument(f"Invalid date: {value}") from None
    return ensure_utc(moment if moment.tzinfo else moment.replace(tzinfo=call.tz))


def _record(a: Activity, call: Call) -> dict[str, Any]:
    deadline = bx_datetime(a.deadline, call.tz)
    return {
        "ID": str(a.id),
        "OWNER_TYPE_ID": str(ENTITY_TYPE_IDS[a.owner_type]),
        "OWNER_ID": str(a.owner_id),
        "TYPE_ID": str(TYPES_OUT[a.type]),
        "SUBJECT": a.subject,
        "DESCRIPTION": a.description,
        "START_TIME": deadline,
        "END_TIME": deadline,
        "DEADLINE": deadline,
        "COMPLETED": "Y" if a.completed else "N",
        "RESPONSIBLE_ID": str(a.responsible_id),
        "DIRECTION": "1" if a.direction == ActivityDirection.INCOMING else "2",
        "AUTHOR_ID": str(a.created_by_id) if a.created_by_id else None,
        "CREATED": bx_datetime(a.created_at, call.tz),
        "LAST_UPDATED": bx_datetime(a.updated_at, call.tz),
    }


@method("crm.activity.add")
async def activity_add(call: Call) -> Result:
    fields = _fields(call)
    item_type, owner_id = _owner(fields, "OWNER_TYPE_ID", "OWNER_ID")
    when = fields.get("DEADLINE") or fields.get("END_TIME") or fields.get("START_TIME")
    if not when:
        raise bad_argument("DEADLINE (or END_TIME / START_TIME) is not defined.")
    try:
        kind = TYPES_IN[int(fields.get("TYPE_ID") or 2)]
        responsible = int(fields["RESPONSIBLE_ID"]) if fields.get("RESPONSIBLE_ID") else None
    except (TypeError, ValueError, KeyError):
        raise bad_argument("TYPE_ID or RESPONSIBLE_ID is invalid.") from None
    activity = await activities_service.create_activity(
        call.session,
        call.actor,
        owner_type=item_type,
        owner_id=owner_id,
        deadline=_when(when, call),
        type=kind,
        subject=str(fields.get("SUBJECT") or ""),
        description=str(fields.get("DESCRIPTION") or ""),
        responsible_id=responsible,
    )
    if str(fields.get("COMPLETED") or "N").upper() == "Y":
        await activities_service.complete_activity(call.session, call.actor, activity.id)
    return Result(activity.id)


@method("crm.activity.list")
async def activity_list(call: Call) -> Result:
    raw = call.param("filter") or {}
    if not isinstance(raw, dict):
        raise bad_argument("filter must be an object")
    filters = {str(k).upper().lstrip("="): v for k, v in raw.items()}
    start = page_start(call)
    done = str(filters["COMPLETED"]).upper() == "Y" if "COMPLETED" in filters else None
    if "OWNER_TYPE_ID" in filters or "OWNER_ID" in filters:
        item_type, owner_id = _owner(filters, "OWNER_TYPE_ID", "OWNER_ID")
        # list_activities checks that the actor may see the item
        rows = await activities_service.list_activities(
            call.session, call.actor, item_type, owner_id, limit=500
        )
        rows = sorted((a for a in rows if done is None or a.completed == done), key=lambda a: a.id)
        total = len(rows)
        page = rows[max(start, 0) : max(start, 0) + PAGE_SIZE]
    else:  # without an item: the activities the token's user is responsible for
        base = select(Activity).where(Activity.responsible_id == call.actor.id)
        if done is not None:
            base = base.where(Activity.completed.is_(done))
        page = list(
            await call.session.scalars(base.order_by(Activity.id).offset(max(start, 0)).limit(PAGE_SIZE))
        )
        total = int(await call.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    records = [_record(a, call) for a in page]
    return list_result(records, max(start, 0), None if start < 0 else total)


@method("crm.timeline.comment.add")
async def timeline_comment_add(call: Call) -> Result:
    fields = _fields(call)
    item_type, owner_id = _owner(fields, "ENTITY_TYPE", "ENTITY_ID")
    comment = await comments_service.add_comment(
        call.session, call.actor, item_type, owner_id, str(fields.get("COMMENT") or "")
    )
    return Result(comment.id)
