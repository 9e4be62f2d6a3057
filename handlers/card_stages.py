"""The card's stage moves: a lead's or deal's stages grouped in progress / won / lost, and a
deal's move to another pipeline. Buttons carry the version the user saw, so a stale keyboard is
a conflict, not a silent move."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ConcurrencyConflict, NotFound
from crm_core.models.items import Deal, ItemType, Lead, StageSemantics
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import back_to_card, load_visible, open_card
from handlers.card_ui import button, in_pairs, titled
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name, stage_name
from handlers.ui import show

router = Router(name="card_stages")


class StageAction(StrEnum):
    MOVE = "mv"  # to stage v
    PIPELINES = "pl"  # list the deal pipelines
    TO_PIPELINE = "pp"  # move the deal to pipeline v
    GROUP = "g"  # a group heading: no action


class StageCB(Unpacked, CallbackData, prefix="cs"):
    t: ItemType
    id: int
    a: StageAction
    v: int = 0
    ver: int = 0  # the item version the user saw


# The stage screen's groups, in order.
GROUPS = (
    (StageSemantics.PROCESS, N_("card.stage.in_progress")),
    (StageSemantics.SUCCESS, N_("card.stage.won")),
    (StageSemantics.FAILURE, N_("card.stage.lost")),
)


async def stage_screen(
    session: AsyncSession, tr: Translator, item: Lead | Deal
) -> tuple[str, InlineKeyboardMarkup]:
    stages = await pipelines_service.list_stages(session, item.pipeline_id)
    pipeline = await pipelines_service.get_pipeline(session, item.pipeline_id)
    t, i, ver = item.ITEM_TYPE, item.id, item.version
    rows: list[list[InlineKeyboardButton]] = []
    for semantics, label in GROUPS:
        group = [s for s in stages if s.semantics == semantics]
        if not group:
            continue
        rows.append([button(f"— {tr(label)} —", StageCB(t=t, id=i, a=StageAction.GROUP))])
        rows += in_pairs(
            [
                button(
                    ("● " if s.id == item.stage_id else "") + truncate(stage_name(tr, s), 40),
                    StageCB(t=t, id=i, a=StageAction.MOVE, v=s.id, ver=ver),
                )
                for s in group
            ]
        )
    rows.append([back_to_card(tr, t, i)])
    text = tr("card.stage.choose", ref=item.ref, name=titled(item), pipeline=esc(pipeline_name(tr, pipeline)))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.STAGE))
async def show_stages(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    if not isinstance(item, Lead | Deal):
        callback_answer.text = tr("card.no_stages")
        return
    await show(callback, *await stage_screen(session, tr, item))


@router.callback_query(StageCB.filter(F.a == StageAction.GROUP))
async def stage_group_label(callback: CallbackQuery) -> None:
    """A group heading, not an action."""


async def _move(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
    item: Lead | Deal,
    move: Callable[[], Awaitable[bool]],
) -> None:
    # No savepoint (two statements, a thread hop on SQLite): a stale button is refused before
    # anything is written, and the card shows it; a row changed between load and flush breaks the
    # transaction, which only a rollback mends, so that one goes to the error handler.
    try:
        moved = await move()
    except ConcurrencyConflict:
        if not session.is_active:
            raise
        callback_answer.text = tr("card.conflict")
        callback_answer.show_alert = True
    else:
        stage = await pipelines_service.get_stage(session, item.stage_id)
        callback_answer.text = tr(
            "card.stage.moved" if moved else "card.stage.already", stage=stage_name(tr, stage)
        )
    await open_card(callback, session, user, tr, item.ITEM_TYPE, item.id)


@router.callback_query(StageCB.filter(F.a == StageAction.MOVE))
async def move_stage(
    callback: CallbackQuery,
    callback_data: StageCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    if not isinstance(item, Lead | Deal):
        callback_answer.text = tr("card.no_stages")
        return
    stage = await pipelines_service.get_stage(session, callback_data.v)
    if stage.pipeline_id != item.pipeline_id:
        # Only a forged or very old button names another pipeline's stage (pipelines change apart).
        raise NotFound(stage_id=stage.id)

    async def move() -> bool:
        return await pipelines_service.move_stage(
            session, user, item, stage.id, expected_version=callback_data.ver or None
        )

    await _move(callback, session, user, tr, callback_answer, item, move)


async def pipelines_screen(
    session: AsyncSession, tr: Translator, deal: Deal
) -> tuple[str, InlineKeyboardMarkup]:
    rows = []
    for pipeline in await pipelines_service.list_pipelines(session, ItemType.DEAL):
        mark = "● " if pipeline.id == deal.pipeline_id else ""
        data = StageCB(
            t=ItemType.DEAL, id=deal.id, a=StageAction.TO_PIPELINE, v=pipeline.id, ver=deal.version
        )
        rows.append([button(mark + truncate(pipeline_name(tr, pipeline), 50), data)])
    # Back to the "more" screen the pipelines were reached from.
    rows.append([button(tr("menu.back"), CardCB(type=ItemType.DEAL, id=deal.id, action=CardAction.MORE))])
    text = tr("card.pipeline.choose", ref=deal.ref, name=titled(deal))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(StageCB.filter(F.a == StageAction.PIPELINES))
async def show_pipelines(
    callback: CallbackQuery,
    callback_data: StageCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id)
    if not isinstance(item, Deal):
        callback_answer.text = tr("card.pipeline.deals_only")
        return
    await show(callback, *await pipelines_screen(session, tr, item))


@router.callback_query(StageCB.filter(F.a == StageAction.TO_PIPELINE))
async def change_pipeline(
    callback: CallbackQuery,
    callback_data: StageCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    if not isinstance(item, Deal):
        callback_answer.text = tr("card.pipeline.deals_only")
        return
    if item.pipeline_id == callback_data.v:
        callback_answer.text = tr("card.pipeline.already")
        await open_card(callback, session, user, tr, item.ITEM_TYPE, item.id)
        return

    async def move() -> bool:
        return await pipelines_service.move_to_pipeline(
            session, user, item, callback_data.v, expected_version=callback_data.ver or None
        )

    await _move(callback, session, user, tr, callback_answer, item, move)


__all__ = ["StageAction", "StageCB", "pipelines_screen", "stage_screen", "router"]
