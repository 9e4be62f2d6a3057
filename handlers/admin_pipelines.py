"""Admin: pipelines and their stages. Create and rename pipelines; rename, recolour, move, add
and delete stages (crm_core keeps a pipeline's success and failure stages and refuses to delete
a stage with items)."""

from __future__ import annotations

from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import PipelineInvariantViolated, StageNotEmpty, ValidationFailed
from crm_core.models import User
from crm_core.models.items import ItemType, Stage, StageSemantics
from crm_core.services import admin_queries
from crm_core.services import pipelines as pipelines_service
from handlers.admin_common import (
    NAME_LIMIT,
    TYPED,
    AdmCB,
    AdminDoor,
    AdminForm,
    Ctx,
    Screen,
    ask,
    back,
    button,
    kb,
    name,
    typed_name,
)
from handlers.callbacks import Unpacked
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name, stage_name
from handlers.ui import reply_screen, show

router = Router(name="admin_pipelines")
router.callback_query.middleware(AdminDoor())

# (key, colour): the stage palette; each has an emoji of its own in the texts.
PALETTE: tuple[tuple[str, str], ...] = (
    ("blue", "#39A8EF"),
    ("green", "#7BD500"),
    ("yellow", "#FFD200"),
    ("orange", "#FFA900"),
    ("red", "#FF5752"),
    ("purple", "#9D6BE0"),
    ("brown", "#A0714F"),
    ("grey", "#525C69"),
)
PALETTE_EMOJI = {"blue": "🔵", "green": "🟢", "yellow": "🟡", "orange": "🟠", "red": "🔴",
                 "purple": "🟣", "brown": "🟤", "grey": "⚫"}  # fmt: skip
COLOUR_NAMES = {
    "blue": N_("adm.colour.blue"),
    "green": N_("adm.colour.green"),
    "yellow": N_("adm.colour.yellow"),
    "orange": N_("adm.colour.orange"),
    "red": N_("adm.colour.red"),
    "purple": N_("adm.colour.purple"),
    "brown": N_("adm.colour.brown"),
    "grey": N_("adm.colour.grey"),
}
# Approximate colours of the circle emoji, to show any stage colour (seeded ones are not in the palette).
EMOJI_RGB = {"🔴": (221, 46, 68), "🟠": (244, 144, 12), "🟡": (253, 203, 88), "🟢": (120, 177, 89),
             "🔵": (85, 172, 238), "🟣": (170, 142, 214), "🟤": (193, 105, 79), "⚫": (49, 55, 61),
             "⚪": (230, 231, 232)}  # fmt: skip
PIPELINE_KINDS = {ItemType.LEAD: N_("adm.pl.kind.lead"), ItemType.DEAL: N_("adm.pl.kind.deal")}
GROUP_TITLES = {
    StageSemantics.PROCESS: N_("adm.pl.group.process"),
    StageSemantics.SUCCESS: N_("adm.pl.group.success"),
    StageSemantics.FAILURE: N_("adm.pl.group.failure"),
}
SEMANTICS_NAMES = {
    StageSemantics.PROCESS: N_("adm.sem.process"),
    StageSemantics.SUCCESS: N_("adm.sem.success"),
    StageSemantics.FAILURE: N_("adm.sem.failure"),
}
KEEP_ONE = {  # why the last stage of its kind stays
    StageSemantics.PROCESS: N_("adm.st.keep_process"),
    StageSemantics.SUCCESS: N_("adm.st.keep_success"),
    StageSemantics.FAILURE: N_("adm.st.keep_failure"),
}


class PipelineAction(StrEnum):
    LIST = "list"
    OPEN = "open"  # id: the pipeline
    NEW = "new"
    RENAME = "rename"
    STAGE = "stage"  # id: the stage (so are the actions below, up to ADD)
    STAGE_RENAME = "st_rename"
    COLOURS = "colours"
    COLOUR = "colour"  # value: the palette index
    UP = "up"
    DOWN = "down"
    DELETE = "delete"  # asks first
    DELETE_YES = "delete_yes"
    ADD = "add"  # id: the pipeline; asks the name, then the kind
    ADD_KIND = "add_kind"  # value: the stage semantics


class PipelinesCB(Unpacked, CallbackData, prefix="adp"):
    action: PipelineAction = PipelineAction.LIST
    id: int = 0
    value: str = ""


def on(action: PipelineAction, id: int = 0, value: str = "") -> PipelinesCB:
    return PipelinesCB(action=action, id=id, value=value)


def colour_emoji(color: str) -> str:
    for key, hex_ in PALETTE:
        if hex_.upper() == (color or "").upper():
            return PALETTE_EMOJI[key]
    try:
        rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    except (ValueError, TypeError):
        return "⚪"
    return min(EMOJI_RGB, key=lambda e: sum((a - b) ** 2 for a, b in zip(EMOJI_RGB[e], rgb, strict=True)))


async def pipelines_screen(ctx: Ctx) -> Screen:
    tr = ctx.tr
    rows = []
    for kind, key in ((ItemType.LEAD, N_("adm.pl.leads")), (ItemType.DEAL, N_("adm.pl.deals"))):
        for pipeline in await pipelines_service.list_pipelines(ctx.session, kind):
            label = tr(key, name=truncate(pipeline_name(tr, pipeline), 40))
            rows.append([button(label, on(PipelineAction.OPEN, pipeline.id))])
    rows.append([button(tr("adm.pl.new"), on(PipelineAction.NEW))])
    rows.append(back(tr, AdmCB()))
    return tr("adm.pl.title"), kb(rows)


async def pipeline_screen(ctx: Ctx, pipeline_id: int) -> Screen:
    tr = ctx.tr
    pipeline = await pipelines_service.get_pipeline(ctx.session, pipeline_id)
    stages = await pipelines_service.list_stages(ctx.session, pipeline.id)
    counts = await admin_queries.stage_item_counts(ctx.session, pipeline.id)
    lines = [
        tr(
            "adm.pl.header",
            kind=tr(PIPELINE_KINDS[pipeline.entity_type]),
            name=name(pipeline_name(tr, pipeline)),
        )
    ]
    group = None
    for stage in stages:
        if stage.semantics != group:
            group = stage.semantics
            lines.append("\n" + tr(GROUP_TITLES[group]))
        lines.append(
            tr("adm.pl.stage_line", emoji=colour_emoji(stage.color), name=name(stage_name(tr, stage)),
               count=counts.get(stage.id, 0))
        )  # fmt: skip
    rows = [
        [button(f"{colour_emoji(s.color)} {truncate(stage_name(tr, s), 40)}", on(PipelineAction.STAGE, s.id))]
        for s in stages
    ]
    rows.append(
        [
            button(tr("adm.pl.add_stage"), on(PipelineAction.ADD, pipeline.id)),
            button(tr("adm.btn.rename"), on(PipelineAction.RENAME, pipeline.id)),
        ]
    )
    rows.append(back(tr, on(PipelineAction.LIST)))
    return "\n".join(lines), kb(rows)


async def stage_screen(ctx: Ctx, stage_id: int) -> Screen:
    tr = ctx.tr
    stage = await pipelines_service.get_stage(ctx.session, stage_id)
    pipeline = await pipelines_service.get_pipeline(ctx.session, stage.pipeline_id)
    count = await pipelines_service.count_items_on_stage(ctx.session, stage.id)
    text = tr(
        "adm.st.card",
        emoji=colour_emoji(stage.color),
        name=name(stage_name(tr, stage)),
        pipeline=name(pipeline_name(tr, pipeline)),
        semantics=tr(SEMANTICS_NAMES[stage.semantics]),
        color=esc(stage.color),
        count=count,
    )
    before, after = await _neighbours(ctx.session, stage)
    rows = [
        [
            button(tr("adm.btn.rename"), on(PipelineAction.STAGE_RENAME, stage.id)),
            button(tr("adm.st.colour"), on(PipelineAction.COLOURS, stage.id)),
        ]
    ]
    move = []
    if before is not None:
        move.append(button(tr("adm.st.up"), on(PipelineAction.UP, stage.id)))
    if after is not None:
        move.append(button(tr("adm.st.down"), on(PipelineAction.DOWN, stage.id)))
    if move:
        rows.append(move)
    rows.append([button(tr("adm.st.delete"), on(PipelineAction.DELETE, stage.id))])
    rows.append(back(tr, on(PipelineAction.OPEN, pipeline.id)))
    return text, kb(rows)


async def _neighbours(session: AsyncSession, stage: Stage) -> tuple[Stage | None, Stage | None]:
    """The stages just before and after this one within its group (stages move inside a group:
    the board always shows in-progress, then won, then lost)."""
    same = [
        s
        for s in await pipelines_service.list_stages(session, stage.pipeline_id)
        if s.semantics == stage.semantics
    ]
    i = next(i for i, s in enumerate(same) if s.id == stage.id)
    return (same[i - 1] if i > 0 else None), (same[i + 1] if i + 1 < len(same) else None)


def _is(action: PipelineAction):  # noqa: ANN202 - an aiogram filter
    return PipelinesCB.filter(F.action == action)


@router.callback_query(_is(PipelineAction.LIST))
async def pipelines_list(cb: CallbackQuery, ctx: Ctx) -> None:
    await show(cb, *await pipelines_screen(ctx))


@router.callback_query(_is(PipelineAction.OPEN))
async def pipeline_open(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    await show(cb, *await pipeline_screen(ctx, callback_data.id))


@router.callback_query(_is(PipelineAction.NEW))
async def pipeline_new(cb: CallbackQuery, ctx: Ctx) -> None:
    await ask(cb, ctx, ctx.tr("adm.pl.ask_new"), AdminForm.pipeline_new, on(PipelineAction.LIST))


@router.callback_query(_is(PipelineAction.RENAME))
async def pipeline_rename(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    pipeline = await pipelines_service.get_pipeline(ctx.session, callback_data.id)
    prompt = ctx.tr("adm.pl.ask_rename", name=name(pipeline_name(ctx.tr, pipeline)))
    cancel = on(PipelineAction.OPEN, pipeline.id)
    await ask(cb, ctx, prompt, AdminForm.pipeline_rename, cancel, adm_pipeline=pipeline.id)


@router.callback_query(_is(PipelineAction.STAGE))
async def stage_open(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    await show(cb, *await stage_screen(ctx, callback_data.id))


@router.callback_query(_is(PipelineAction.STAGE_RENAME))
async def stage_rename(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, callback_data.id)
    prompt = ctx.tr("adm.st.ask_rename", name=name(stage_name(ctx.tr, stage)))
    await ask(cb, ctx, prompt, AdminForm.stage_rename, on(PipelineAction.STAGE, stage.id), adm_stage=stage.id)


@router.callback_query(_is(PipelineAction.COLOURS))
async def stage_colours(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, callback_data.id)
    buttons = [
        button(ctx.tr(COLOUR_NAMES[key]), on(PipelineAction.COLOUR, stage.id, str(i)))
        for i, (key, _) in enumerate(PALETTE)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(back(ctx.tr, on(PipelineAction.STAGE, stage.id)))
    await show(cb, ctx.tr("adm.st.colour_title", name=name(stage_name(ctx.tr, stage))), kb(rows))


@router.callback_query(_is(PipelineAction.COLOUR))
async def stage_colour_set(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    value = callback_data.value
    if not value.isdigit() or int(value) >= len(PALETTE):
        raise ValidationFailed("invalid colour", field="color")
    await pipelines_service.update_stage(
        ctx.session, ctx.user, callback_data.id, color=PALETTE[int(value)][1]
    )
    await show(cb, *await stage_screen(ctx, callback_data.id))


@router.callback_query(PipelinesCB.filter(F.action.in_({PipelineAction.UP, PipelineAction.DOWN})))
async def stage_move(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, callback_data.id)
    before, after = await _neighbours(ctx.session, stage)
    other = before if callback_data.action is PipelineAction.UP else after
    if other is not None:  # already first/last of its group: nothing to do
        order = [s.id for s in await pipelines_service.list_stages(ctx.session, stage.pipeline_id)]
        i, j = order.index(stage.id), order.index(other.id)
        order[i], order[j] = order[j], order[i]
        await pipelines_service.reorder_stages(ctx.session, ctx.user, stage.pipeline_id, order)
    await show(cb, *await stage_screen(ctx, stage.id))


@router.callback_query(_is(PipelineAction.DELETE))
async def stage_delete_confirm(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, callback_data.id)
    rows = [
        [button(ctx.tr("adm.btn.yes_delete"), on(PipelineAction.DELETE_YES, stage.id))],
        [button(ctx.tr("adm.btn.cancel"), on(PipelineAction.STAGE, stage.id))],
    ]
    await show(cb, ctx.tr("adm.st.confirm_delete", name=name(stage_name(ctx.tr, stage))), kb(rows))


@router.callback_query(_is(PipelineAction.DELETE_YES))
async def stage_delete(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    stage = await pipelines_service.get_stage(ctx.session, callback_data.id)
    pipeline_id, semantics = stage.pipeline_id, stage.semantics
    label = truncate(stage_name(ctx.tr, stage), NAME_LIMIT)
    try:
        await pipelines_service.delete_stage(ctx.session, ctx.user, stage.id)
    except StageNotEmpty as exc:
        ctx.alert(ctx.tr("adm.st.not_empty", name=label, count=exc.params.get("count", "?")))
        return
    except PipelineInvariantViolated:
        ctx.alert(ctx.tr(KEEP_ONE[semantics]))
        return
    ctx.note(ctx.tr("adm.st.deleted"))
    await show(cb, *await pipeline_screen(ctx, pipeline_id))


@router.callback_query(_is(PipelineAction.ADD))
async def stage_add(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    pipeline = await pipelines_service.get_pipeline(ctx.session, callback_data.id)
    cancel = on(PipelineAction.OPEN, pipeline.id)
    await ask(cb, ctx, ctx.tr("adm.st.ask_name"), AdminForm.stage_name, cancel, adm_pipeline=pipeline.id)


@router.callback_query(_is(PipelineAction.ADD_KIND))
async def stage_add_kind(cb: CallbackQuery, callback_data: PipelinesCB, ctx: Ctx) -> None:
    typed = (await ctx.state.get_data()).get("adm_stage_name")
    kind = callback_data.value
    if not typed or kind not in (StageSemantics.PROCESS.value, StageSemantics.FAILURE.value):
        ctx.note(ctx.tr("error.stale_button"))
        return
    await pipelines_service.create_stage(
        ctx.session, ctx.user, callback_data.id, name=typed, semantics=kind,
        color="#FF5752" if kind == StageSemantics.FAILURE.value else "#39A8EF",
    )  # fmt: skip
    await ctx.state.update_data(adm_stage_name=None)
    ctx.note(ctx.tr("adm.st.added"))
    await show(cb, *await pipeline_screen(ctx, callback_data.id))


# --- typed names -------------------------------------------------------------------------------


@router.message(AdminForm.pipeline_new, *TYPED)
async def pipeline_new_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    await state.set_state(None)  # keep other features' data
    pipeline = await pipelines_service.create_pipeline(session, user, name=typed)
    await reply_screen(
        message, await pipeline_screen(Ctx(session, user, tr, state, bot), pipeline.id), tr("adm.pl.created")
    )


@router.message(AdminForm.pipeline_rename, *TYPED)
async def pipeline_rename_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    pipeline_id = int((await state.get_data()).get("adm_pipeline") or 0)
    await state.set_state(None)  # keep other features' data
    # A typed name is the name for everyone, whatever their language.
    await pipelines_service.rename_pipeline(session, user, pipeline_id, name=typed)
    await reply_screen(
        message, await pipeline_screen(Ctx(session, user, tr, state, bot), pipeline_id), tr("adm.pl.renamed")
    )


@router.message(AdminForm.stage_rename, *TYPED)
async def stage_rename_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext, bot: Bot
) -> None:
    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    stage_id = int((await state.get_data()).get("adm_stage") or 0)
    await state.set_state(None)  # keep other features' data
    await pipelines_service.update_stage(session, user, stage_id, name=typed)
    await reply_screen(
        message, await stage_screen(Ctx(session, user, tr, state, bot), stage_id), tr("adm.st.renamed")
    )


@router.message(AdminForm.stage_name, *TYPED)
async def stage_name_typed(message: Message, user: User, tr: Translator, state: FSMContext) -> None:
    typed = await typed_name(message, user, tr, state)
    if typed is None:
        return
    pipeline_id = int((await state.get_data()).get("adm_pipeline") or 0)
    await state.set_state(None)  # the kind is chosen by buttons; the name waits in the data
    await state.update_data(adm_stage_name=typed)
    rows = [
        [
            button(
                tr("adm.st.sem_process"),
                on(PipelineAction.ADD_KIND, pipeline_id, StageSemantics.PROCESS.value),
            )
        ],
        [
            button(
                tr("adm.st.sem_failure"),
                on(PipelineAction.ADD_KIND, pipeline_id, StageSemantics.FAILURE.value),
            )
        ],
        [button(tr("adm.btn.cancel"), on(PipelineAction.OPEN, pipeline_id))],
    ]
    await message.answer(tr("adm.st.ask_semantics", name=name(typed)), reply_markup=kb(rows))
