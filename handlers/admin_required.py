"""Admin: required fields of each item type, and of each deal pipeline. The choice is a draft in
the FSM data until Save."""

from __future__ import annotations

from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery

from crm_core.errors import ValidationFailed
from crm_core.fields import requirable_fields
from crm_core.models.items import ItemType, Pipeline
from crm_core.services import admin_queries
from crm_core.services import pipelines as pipelines_service
from crm_core.services.required_fields import REQUIRABLE_FIELDS, set_required_fields
from handlers.admin_common import AdmCB, AdminDoor, Ctx, Screen, back, button, kb, name
from handlers.callbacks import Unpacked
from handlers.render import truncate
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name
from handlers.ui import show

router = Router(name="admin_required")
router.callback_query.middleware(AdminDoor())

RF_DRAFT = "adm_rf"
TYPE_NAMES = {
    ItemType.LEAD: N_("adm.rf.type.lead"),
    ItemType.DEAL: N_("adm.rf.type.deal"),
    ItemType.CONTACT: N_("adm.rf.type.contact"),
    ItemType.COMPANY: N_("adm.rf.type.company"),
}
# Every requirable field once, in the schema's order (the lead's fields first): name -> label id.
FIELD_NAMES = {f.name: f.label for t in ItemType for f in requirable_fields(t)}


class RequiredAction(StrEnum):
    HOME = "home"
    SCOPE = "scope"  # open an item type (id: a deal pipeline, or 0)
    TOGGLE = "toggle"  # field: the field
    SAVE = "save"


class RequiredCB(Unpacked, CallbackData, prefix="adr"):
    action: RequiredAction = RequiredAction.HOME
    id: int = 0  # a deal pipeline, 0 for the whole type
    kind: str = ""  # the item type, re-checked
    field: str = ""


def _fields_label(tr: Translator, fields: list[str]) -> str:
    return ", ".join(tr(key) for f, key in FIELD_NAMES.items() if f in fields) or tr("settings.none")


async def required_home_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    rows = [
        [button(tr(key), RequiredCB(action=RequiredAction.SCOPE, kind=t.value))]
        for t, key in TYPE_NAMES.items()
    ]
    for pipeline in await pipelines_service.list_pipelines(ctx.session, ItemType.DEAL):
        label = tr("adm.rf.pipeline", name=truncate(pipeline_name(tr, pipeline), 40))
        rows.append(
            [button(label, RequiredCB(action=RequiredAction.SCOPE, id=pipeline.id, kind=ItemType.DEAL))]
        )
    rows.append(back(tr, AdmCB()))
    return tr("adm.rf.title"), kb(rows)


async def _scope(ctx: Ctx, type_value: str, pipeline_id: int) -> tuple[ItemType, Pipeline | None]:
    try:
        item_type = ItemType(type_value)
    except ValueError:
        raise ValidationFailed("unknown item type", field="item_type") from None
    pipeline = None
    if pipeline_id:
        pipeline = await pipelines_service.get_pipeline(ctx.session, pipeline_id)
        if pipeline.entity_type != item_type or item_type != ItemType.DEAL:
            raise ValidationFailed("pipeline of another item type", pipeline_id=pipeline_id)
    return item_type, pipeline


async def required_screen(
    ctx: Ctx, item_type: ItemType, pipeline: Pipeline | None, chosen: list[str]
) -> Screen:
    tr = ctx.tr
    pid = pipeline.id if pipeline else 0
    scope = (
        tr("adm.rf.pipeline", name=name(pipeline_name(tr, pipeline)))
        if pipeline
        else tr(TYPE_NAMES[item_type])
    )
    text = tr("adm.rf.edit", scope=scope, fields=_fields_label(tr, chosen))
    if pipeline is not None:
        common = await admin_queries.required_fields_of(ctx.session, item_type)
        if common:
            text += "\n" + tr("adm.rf.also", fields=_fields_label(tr, common))
    buttons = [
        button(
            ("✅ " if f in chosen else "▫️ ") + tr(key),
            RequiredCB(action=RequiredAction.TOGGLE, id=pid, kind=item_type, field=f),
        )
        for f, key in FIELD_NAMES.items()
        if f in REQUIRABLE_FIELDS[item_type]
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(
        [
            button(tr("adm.btn.save"), RequiredCB(action=RequiredAction.SAVE, id=pid, kind=item_type)),
            button(tr("adm.btn.back"), RequiredCB()),
        ]
    )
    return text, kb(rows)


async def _draft(
    ctx: Ctx, item_type: ItemType, pipeline: Pipeline | None, *, reload: bool = False
) -> list[str]:
    key = f"{item_type.value}:{pipeline.id if pipeline else 0}"
    draft = (await ctx.state.get_data()).get(RF_DRAFT)
    if reload or not draft or draft.get("scope") != key:
        fields = await admin_queries.required_fields_of(
            ctx.session, item_type, pipeline_id=pipeline.id if pipeline else None
        )
        draft = {"scope": key, "fields": fields}
        await ctx.state.update_data({RF_DRAFT: draft})
    return list(draft["fields"])


@router.callback_query(RequiredCB.filter(F.action == RequiredAction.HOME))
async def required_home(cb: CallbackQuery, ctx: Ctx) -> None:
    await ctx.state.update_data({RF_DRAFT: None})
    await show(cb, *await required_home_screen(ctx))


@router.callback_query(RequiredCB.filter(F.action == RequiredAction.SCOPE))
async def required_scope(cb: CallbackQuery, callback_data: RequiredCB, ctx: Ctx) -> None:
    item_type, pipeline = await _scope(ctx, callback_data.kind, callback_data.id)
    chosen = await _draft(ctx, item_type, pipeline, reload=True)
    await show(cb, *await required_screen(ctx, item_type, pipeline, chosen))


@router.callback_query(RequiredCB.filter(F.action == RequiredAction.TOGGLE))
async def required_toggle(cb: CallbackQuery, callback_data: RequiredCB, ctx: Ctx) -> None:
    item_type, pipeline = await _scope(ctx, callback_data.kind, callback_data.id)
    field = callback_data.field
    if field not in REQUIRABLE_FIELDS[item_type]:
        raise ValidationFailed("unknown fields", fields=[field])
    chosen = set(await _draft(ctx, item_type, pipeline))
    chosen ^= {field}
    key = f"{item_type.value}:{pipeline.id if pipeline else 0}"
    await ctx.state.update_data({RF_DRAFT: {"scope": key, "fields": sorted(chosen)}})
    await show(cb, *await required_screen(ctx, item_type, pipeline, sorted(chosen)))


@router.callback_query(RequiredCB.filter(F.action == RequiredAction.SAVE))
async def required_save(cb: CallbackQuery, callback_data: RequiredCB, ctx: Ctx) -> None:
    item_type, pipeline = await _scope(ctx, callback_data.kind, callback_data.id)
    chosen = await _draft(ctx, item_type, pipeline)
    saved = await set_required_fields(
        ctx.session, ctx.user, item_type, chosen, pipeline_id=pipeline.id if pipeline else None
    )
    ctx.note(ctx.tr("adm.rf.saved"))
    await show(cb, *await required_screen(ctx, item_type, pipeline, saved))
