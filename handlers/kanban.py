"""Kanban: a pipeline's stages with counts and sums, a stage's items paged (focused first), moving an
item to another stage from there. Leads have one pipeline; deals may have several (switchable)."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import ItemType, Lead, Pipeline, Stage, StageSemantics
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services import views as views_service
from crm_core.services.cards_queries import users_by_id
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, Unpacked
from handlers.card_render import TYPE_ICONS, format_money, load_visible
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name, stage_name
from handlers.ui import show

router = Router(name="kanban")

PAGE_SIZE = 8
TITLE_LIMIT = 40
GROUP_NAMES = {
    StageSemantics.PROCESS: N_("kb.group.process"),
    StageSemantics.SUCCESS: N_("kb.group.success"),
    StageSemantics.FAILURE: N_("kb.group.failure"),
}
# "5 leads in progress": the noun follows the board, its form the count.
IN_PROGRESS = {ItemType.LEAD: N_("kb.leads_in_progress"), ItemType.DEAL: N_("kb.deals_in_progress")}
SEMANTIC_MARK = {StageSemantics.PROCESS: "▫️", StageSemantics.SUCCESS: "✅", StageSemantics.FAILURE: "❌"}


class KbAction(StrEnum):
    HOME = "h"  # choose a board
    BOARD = "b"
    STAGE = "s"  # a stage's page of items
    MOVE_ITEM = "mi"  # choose where to move an item
    MOVE = "mv"  # move it there
    NOOP = "n"  # a label-only button


class KbCB(Unpacked, CallbackData, prefix="kb"):
    action: KbAction
    p: int = 0  # pipeline
    s: int = 0  # stage
    i: int = 0  # item
    o: int = 0  # page offset
    c: int = 0  # won/lost shown
    f: int = 0  # the stage the move started from


def _kb(text: str, **data: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=KbCB(**data).pack())  # type: ignore[arg-type]


def money_sums(amounts: dict[str, Decimal], language: str) -> str:
    """ "150 000 ₽ + 2 000 $" — one figure per currency (amounts are never converted)."""
    parts = [format_money(v, cur, language) for cur, v in sorted(amounts.items()) if v]
    return " + ".join(parts)


def _menu_btn(tr: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=tr("views.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
    )


# --- home: which board ---------------------------------------------------------------------------


async def home_screen(session: AsyncSession, tr: Translator) -> tuple[str, InlineKeyboardMarkup]:
    lead_pipeline = await pipelines_service.default_pipeline(session, ItemType.LEAD)
    rows = [[_kb(tr("kb.leads"), action=KbAction.BOARD, p=lead_pipeline.id)]]
    deal_pipelines = await pipelines_service.list_pipelines(session, ItemType.DEAL)
    for pipeline in deal_pipelines:
        label = (
            tr("kb.deals")
            if len(deal_pipelines) == 1
            else tr("kb.deals_in", pipeline=truncate(pipeline_name(tr, pipeline), 40))
        )
        rows.append([_kb(label, action=KbAction.BOARD, p=pipeline.id)])
    rows.append([_menu_btn(tr)])
    return tr("kb.choose"), InlineKeyboardMarkup(inline_keyboard=rows)


# --- the board -----------------------------------------------------------------------------------


def _board_title(tr: Translator, pipeline: Pipeline, n_pipelines: int) -> str:
    if pipeline.entity_type == ItemType.LEAD:
        return tr("kb.title_leads")
    if n_pipelines > 1:
        return tr("kb.title_deals_in", pipeline=esc(truncate(pipeline_name(tr, pipeline), 60)))
    return tr("kb.title_deals")


async def board_screen(
    session: AsyncSession,
    user: User,
    tr: Translator,
    pipeline_id: int,
    closed: bool = False,
    notice: str = "",
) -> tuple[str, InlineKeyboardMarkup]:
    pipeline = await pipelines_service.get_pipeline(session, pipeline_id)
    columns = await views_service.kanban(session, user, pipeline.id, include_closed=closed)
    n_pipelines = len(await pipelines_service.list_pipelines(session, pipeline.entity_type))
    lines = [notice, ""] if notice else []
    lines.append(_board_title(tr, pipeline, n_pipelines))
    process = [c for c in columns if c.semantics == StageSemantics.PROCESS]
    total = sum(c.count for c in process)
    sums: dict[str, Decimal] = {}
    for col in process:
        for cur, v in col.amounts.items():
            sums[cur] = sums.get(cur, Decimal("0")) + v
    summary = tr(IN_PROGRESS[pipeline.entity_type], count=total)
    if money_sums(sums, tr.language):
        summary += f" · {money_sums(sums, tr.language)}"
    lines.append(summary)
    rows: list[list[InlineKeyboardButton]] = []
    group = None
    for col in columns:
        if col.semantics != group:
            group = col.semantics
            lines.append("")
            lines.append(tr(GROUP_NAMES[group]))
        name = esc(truncate(stage_name(tr, col.stage), 60))
        line = f"{SEMANTIC_MARK[col.semantics]} {name} — <b>{col.count}</b>"
        money = money_sums(col.amounts, tr.language)
        if money:
            line += f" · {money}"
        lines.append(line)
        rows.append([
            _kb(
                f"{SEMANTIC_MARK[col.semantics]} {truncate(stage_name(tr, col.stage), 40)} · {col.count}",
                action=KbAction.STAGE, p=pipeline.id, s=col.stage.id, c=int(closed),
            )
        ])  # fmt: skip
    toggle = tr("kb.hide_closed") if closed else tr("kb.show_closed")
    rows.append([
        _kb(toggle, action=KbAction.BOARD, p=pipeline.id, c=int(not closed)),
        _kb(tr("kb.refresh"), action=KbAction.BOARD, p=pipeline.id, c=int(closed)),
    ])  # fmt: skip
    rows.append([_kb(tr("kb.switch"), action=KbAction.HOME), _menu_btn(tr)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


# --- a stage's items ------------------------------------------------------------------------------


async def stage_screen(
    session: AsyncSession, user: User, tr: Translator, stage_id: int, offset: int = 0, closed: bool = False,
    notice: str = "",
) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    stage = await pipelines_service.get_stage(session, stage_id)
    offset = max(0, offset)
    page = await views_service.stage_items(
        session, user, stage.id, limit=PAGE_SIZE, offset=offset, with_total=True
    )
    total = page.total or 0
    if not page.items and offset > 0:  # the stage shrank (items moved away): show its last page
        offset = max(0, (total - 1) // PAGE_SIZE * PAGE_SIZE)
        page = await views_service.stage_items(
            session, user, stage.id, limit=PAGE_SIZE, offset=offset, with_total=True
        )
        total = page.total or 0
    people = await users_by_id(session, [it.responsible_id for it in page.items])
    lines = [notice, ""] if notice else []
    lines.append(tr("kb.stage_title", stage=esc(truncate(stage_name(tr, stage), 60)), count=total))
    if not page.items:
        lines.append(tr("kb.stage_empty"))
    rows: list[list[InlineKeyboardButton]] = []
    for n, item in enumerate(page.items, offset + 1):
        focus = "🔔 " if item.focused_at is not None else ""
        title = esc(truncate(item.display_name, TITLE_LIMIT))
        extra = []
        if item.amount is not None:
            extra.append(format_money(item.amount, item.currency, tr.language))
        owner = people.get(item.responsible_id)
        if owner is not None:
            extra.append(esc(truncate(owner.full_name or "", 30)))
        line = f"{n}. {focus}{TYPE_ICONS[item.ITEM_TYPE]} {item.ref} {title}"
        if extra:
            line += " · " + " · ".join(extra)
        lines.append(line)
        rows.append([
            InlineKeyboardButton(
                text=f"{n}. {focus}{item.ref} {truncate(item.display_name, 24)}",
                callback_data=CardCB(type=item.ITEM_TYPE, id=item.id, action=CardAction.OPEN).pack(),
            ),
            _kb(tr("kb.move"), action=KbAction.MOVE_ITEM, i=item.id, s=stage.id, o=offset, c=int(closed)),
        ])  # fmt: skip
    if total > PAGE_SIZE:
        pages = -(-total // PAGE_SIZE)
        lines.append("")
        lines.append(tr("views.page", page=offset // PAGE_SIZE + 1, pages=pages))
        nav = []
        if offset > 0:
            nav.append(
                _kb(
                    tr("views.prev"),
                    action=KbAction.STAGE,
                    s=stage.id,
                    o=max(0, offset - PAGE_SIZE),
                    c=int(closed),
                )
            )
        if page.next_cursor is not None:
            nav.append(
                _kb(tr("views.next"), action=KbAction.STAGE, s=stage.id, o=offset + PAGE_SIZE, c=int(closed))
            )
        rows.append(nav)
    rows.append([_kb(tr("kb.back_board"), action=KbAction.BOARD, p=stage.pipeline_id, c=int(closed))])
    text = "\n".join(lines)
    while visible_length(text) > MESSAGE_LIMIT and len(lines) > 2:  # safety net; lines are short
        lines.pop(-2)
        text = "\n".join(lines)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _item_type(stage_pipeline: Pipeline) -> ItemType:
    return ItemType(stage_pipeline.entity_type)


async def move_screen(
    session: AsyncSession,
    user: User,
    tr: Translator,
    item_id: int,
    from_stage: int,
    offset: int,
    closed: bool,
) -> tuple[str, InlineKeyboardMarkup]:
    stage = await pipelines_service.get_stage(session, from_stage)
    pipeline = await pipelines_service.get_pipeline(session, stage.pipeline_id)
    item = await load_visible(session, user, _item_type(pipeline), item_id, for_edit=True)
    assert isinstance(item, Lead) or item.ITEM_TYPE == ItemType.DEAL
    stages: list[Stage] = list(await pipelines_service.list_stages(session, item.pipeline_id))  # type: ignore[union-attr]
    rows: list[list[InlineKeyboardButton]] = []
    for s in stages:
        current = s.id == item.stage_id  # type: ignore[union-attr]
        label = f"{'• ' if current else ''}{SEMANTIC_MARK[s.semantics]} {truncate(stage_name(tr, s), 40)}"
        rows.append(
            [_kb(label, action=KbAction.MOVE, i=item.id, s=s.id, f=from_stage, o=offset, c=int(closed))]
        )
    rows.append([_kb(tr("views.back"), action=KbAction.STAGE, s=from_stage, o=offset, c=int(closed))])
    text = tr("kb.move_title", ref=item.ref, title=esc(truncate(item.display_name, 100)))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


# --- handlers -------------------------------------------------------------------------------------


@router.message(Command("kanban"), F.chat.type == "private")
async def kanban_command(message: Message, session: AsyncSession, tr: Translator) -> None:
    await show(message, *await home_screen(session, tr))


@router.callback_query(MenuCB.filter(F.action == MenuAction.KANBAN))
async def kanban_menu(callback: CallbackQuery, session: AsyncSession, tr: Translator) -> None:
    await show(callback, *await home_screen(session, tr))


@router.callback_query(KbCB.filter(F.action == KbAction.HOME))
async def home_button(callback: CallbackQuery, session: AsyncSession, tr: Translator) -> None:
    await show(callback, *await home_screen(session, tr))


@router.callback_query(KbCB.filter(F.action == KbAction.BOARD))
async def board_button(
    callback: CallbackQuery, callback_data: KbCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await board_screen(session, user, tr, callback_data.p, bool(callback_data.c)))


@router.callback_query(KbCB.filter(F.action == KbAction.STAGE))
async def stage_button(
    callback: CallbackQuery, callback_data: KbCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(
        callback,
        *await stage_screen(session, user, tr, callback_data.s, callback_data.o, bool(callback_data.c)),
    )


@router.callback_query(KbCB.filter(F.action == KbAction.MOVE_ITEM))
async def move_item_button(
    callback: CallbackQuery, callback_data: KbCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    cd = callback_data
    await show(callback, *await move_screen(session, user, tr, cd.i, cd.s, cd.o, bool(cd.c)))


@router.callback_query(KbCB.filter(F.action == KbAction.MOVE))
async def move_button(
    callback: CallbackQuery,
    callback_data: KbCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    cd = callback_data
    target = await pipelines_service.get_stage(session, cd.s)
    pipeline = await pipelines_service.get_pipeline(session, target.pipeline_id)
    # The item is re-loaded with the user's rights: forged ids end as "not found".
    item = await load_visible(session, user, _item_type(pipeline), cd.i, for_edit=True)
    moved = await pipelines_service.move_stage(session, user, item, target.id)  # type: ignore[arg-type]
    shown = esc(truncate(stage_name(tr, target), 60))
    notice = tr("kb.moved", ref=item.ref, stage=shown) if moved else tr("kb.already_there", stage=shown)
    callback_answer.text = tr("kb.moved_toast", ref=item.ref) if moved else None
    from_stage = cd.f or target.id
    await show(callback, *await stage_screen(session, user, tr, from_stage, cd.o, bool(cd.c), notice))


@router.callback_query(KbCB.filter(F.action == KbAction.NOOP))
async def noop(callback: CallbackQuery) -> None:
    """A label-only button."""


__all__ = ["KbAction", "KbCB", "board_screen", "home_screen", "money_sums", "router", "stage_screen"]
