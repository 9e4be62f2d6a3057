"""Lists of leads, deals, contacts and companies: paged with keyset cursors (kept in FSM data, so
button data stays short), sorted, filtered (the builder in handlers.filters_ui, the view in
handlers.list_view), and a selection of items; what is done to the selection is
handlers.list_bulk."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.fields import sortable_fields
from crm_core.formatting import format_money
from crm_core.models.items import AnyItem, CommKind, ItemType, StageSemantics
from crm_core.models.users import User
from crm_core.services import communications
from crm_core.services import pipelines as pipelines_service
from crm_core.services import views as views_service
from crm_core.services.cards_queries import users_by_id
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, Unpacked
from handlers.card_render import TYPE_ICONS, load_visible
from handlers.exports import export_buttons
from handlers.field_text import field_label
from handlers.list_view import LIST_TITLES, ListView, describe, leave_forms, load_view, save_view, sort_label
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import Translator
from handlers.texts.names import stage_name
from handlers.ui import show

router = Router(name="lists")

PAGE_SIZE = 10
TITLE_LIMIT = 40
MAX_SELECTED = 50
SORT_FIELDS: dict[ItemType, tuple[str, ...]] = {
    t: tuple(f.name for f in sortable_fields(t)) for t in ItemType
}
SEMANTIC_MARK = {StageSemantics.PROCESS: "", StageSemantics.SUCCESS: "✅ ", StageSemantics.FAILURE: "❌ "}

MENU_TYPES = {
    MenuAction.LEADS: ItemType.LEAD,
    MenuAction.DEALS: ItemType.DEAL,
    MenuAction.CONTACTS: ItemType.CONTACT,
    MenuAction.COMPANIES: ItemType.COMPANY,
}
COMMAND_TYPES = {"leads": ItemType.LEAD, "deals": ItemType.DEAL, "contacts": ItemType.CONTACT,
                 "companies": ItemType.COMPANY}  # fmt: skip


class LsAction(StrEnum):
    PAGE = "pg"  # page n
    FILTER = "fl"  # the filter builder (handlers.filters_ui)
    SORT = "so"  # the sort screen
    SET_SORT = "ss"  # sort by v = "<field>.<a|d>"
    SELECT = "sel"  # toggle the selection mode
    SELECT_PAGE = "all"  # select page n
    CLEAR = "none"  # clear the selection


SELECTION_ACTIONS = {LsAction.SELECT, LsAction.SELECT_PAGE, LsAction.CLEAR}


class LsCB(Unpacked, CallbackData, prefix="ls"):
    action: LsAction
    t: ItemType
    n: int = 0  # page
    v: str = ""


class BkAction(StrEnum):
    """Bulk actions on the selection."""

    TOGGLE = "t"  # select or unselect item id
    STAGES = "st"  # choose a stage
    TO_STAGE = "sm"  # move to stage v
    PEOPLE = "rs"  # choose a responsible (page n)
    RESPONSIBLE = "rv"  # make user id responsible
    SCHEMES = "cv"  # choose a conversion scheme
    CONVERT = "cx"  # convert with scheme v
    DELETE = "dl"  # ask to confirm
    DELETE_YES = "dy"  # delete to the trash


class BkCB(Unpacked, CallbackData, prefix="bk"):
    action: BkAction
    t: ItemType
    id: int = 0
    n: int = 0  # the list page to return to, or the people page
    v: str = ""


def ls_button(text: str, **data: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=LsCB(**data).pack())


def bk_button(text: str, **data: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=BkCB(**data).pack())


# --- the list screen ------------------------------------------------------------------------------


async def _stage_names(session: AsyncSession, tr: Translator, item_type: ItemType) -> dict[int, str]:
    names: dict[int, str] = {}
    for pipeline in await pipelines_service.list_pipelines(session, item_type):
        for stage in await pipelines_service.list_stages(session, pipeline.id):
            names[stage.id] = SEMANTIC_MARK[stage.semantics] + stage_name(tr, stage)
    return names


async def _item_lines(
    session: AsyncSession, tr: Translator, item_type: ItemType, items: list[AnyItem]
) -> dict[int, str]:
    """Short details after the title: stage, amount, responsible; phone/email for clients."""
    out: dict[int, list[str]] = {i.id: [] for i in items}
    people = await users_by_id(session, [i.responsible_id for i in items])
    if item_type.has_stages:
        stages = await _stage_names(session, tr, item_type)
        for i in items:
            out[i.id].append(esc(truncate(stages.get(i.stage_id, "?"), 40)))  # type: ignore[union-attr]
            if i.amount is not None:  # type: ignore[union-attr]
                out[i.id].append(format_money(i.amount, i.currency, tr.language))  # type: ignore[union-attr]
    else:
        comms = await communications.get_communications(session, item_type, [i.id for i in items])
        for i in items:
            phone = next((c.value for c in comms[i.id] if c.kind == CommKind.PHONE), None)
            email = next((c.value for c in comms[i.id] if c.kind == CommKind.EMAIL), None)
            out[i.id].extend(esc(truncate(v, 40)) for v in (phone, email) if v)
    for i in items:
        owner = people.get(i.responsible_id)
        if owner is not None:
            out[i.id].append("👤" + esc(truncate(owner.full_name or "", 30)))
    return {k: " · ".join(v) for k, v in out.items()}


async def list_screen(
    session: AsyncSession, user: User, tr: Translator, state: FSMContext, item_type: ItemType, page_no: int,
    notice: str = "", *, fresh: bool = False,
) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    t = item_type
    view = await load_view(state, session, user, t, fresh=fresh)
    if not 0 <= page_no < len(view.cursors):
        page_no = 0  # an old button: start over rather than guess a cursor
    page = await views_service.list_items(
        session, user, t, filters=view.filters(), sort=view.sort, limit=PAGE_SIZE,
        cursor=view.cursors[page_no], with_total=True,
    )  # fmt: skip
    if not page.items and page_no > 0:
        page_no = 0
        page = await views_service.list_items(
            session, user, t, filters=view.filters(), sort=view.sort, limit=PAGE_SIZE, with_total=True
        )
    view.cursors = view.cursors[: page_no + 1] + ([page.next_cursor] if page.next_cursor else [])
    await save_view(state, t, view)

    total = page.total or 0
    pages = max(1, -(-total // PAGE_SIZE))
    head = [notice, ""] if notice else []
    head.append(tr("ls.head", what=tr(LIST_TITLES[t]), count=total))
    if view.saved_id is not None:
        sf = next(
            (s for s in await views_service.list_saved_filters(session, user, t) if s.id == view.saved_id),
            None,
        )
        if sf is not None:
            head.append(
                tr("ls.saved_filter", name=esc(truncate(sf.name, 60))) + (" 📌" if sf.is_default else "")
            )
    conditions = await describe(session, tr, view.conditions)
    if conditions:
        head.append(tr("ls.filter", conditions="; ".join(conditions)))
    head.append(tr("ls.sort", sort=sort_label(tr, view.sort)))
    if view.selecting:
        head.append(tr("bk.selecting", count=len(view.selected)))
    blocks: list[str] = [""]
    if not page.items:
        blocks.append(tr("ls.empty"))
    details = await _item_lines(session, tr, t, page.items)
    rows: list[list[InlineKeyboardButton]] = []
    first = page_no * PAGE_SIZE + 1
    selected = set(view.selected)
    for n, item in enumerate(page.items, first):
        mark = ("✅ " if item.id in selected else "▫️ ") if view.selecting else ""
        title = esc(truncate(item.display_name, TITLE_LIMIT))
        line = f"{n}. {mark}{TYPE_ICONS[t]} {item.ref} {title}"
        if details.get(item.id):
            line += f"\n     {details[item.id]}"
        blocks.append(line)
        label = f"{mark}{n}. {item.ref} {truncate(item.display_name, 28)}"
        if view.selecting:
            rows.append([bk_button(label, action=BkAction.TOGGLE, t=t, id=item.id, n=page_no)])
        else:
            rows.append([
                InlineKeyboardButton(
                    text=label, callback_data=CardCB(type=t, id=item.id, action=CardAction.OPEN).pack()
                )
            ])  # fmt: skip
    if pages > 1 or page_no > 0:
        blocks.append("")
        blocks.append(tr("views.page", page=page_no + 1, pages=pages))
    nav = []
    if page_no > 0:
        nav.append(ls_button(tr("views.prev"), action=LsAction.PAGE, t=t, n=page_no - 1))
    if page.next_cursor:
        nav.append(ls_button(tr("views.next"), action=LsAction.PAGE, t=t, n=page_no + 1))
    if nav:
        rows.append(nav)
    if view.selecting:
        actions = []
        if t.has_stages:
            actions.append(bk_button(tr("bk.stage"), action=BkAction.STAGES, t=t, n=page_no))
        actions.append(bk_button(tr("bk.responsible"), action=BkAction.PEOPLE, t=t, n=0))
        rows.append(actions)
        second = [bk_button(tr("bk.delete"), action=BkAction.DELETE, t=t, n=page_no)]
        if t == ItemType.LEAD:
            second.insert(0, bk_button(tr("bk.convert"), action=BkAction.SCHEMES, t=t, n=page_no))
        rows.append(second)
        rows.append(
            [
                ls_button(tr("bk.select_page"), action=LsAction.SELECT_PAGE, t=t, n=page_no),
                ls_button(tr("bk.clear"), action=LsAction.CLEAR, t=t, n=page_no),
            ]
        )
        rows.append([ls_button(tr("bk.done_selecting"), action=LsAction.SELECT, t=t, n=page_no)])
    else:
        rows.append([
            ls_button(tr("ls.btn.filter"), action=LsAction.FILTER, t=t),
            ls_button(tr("ls.btn.sort"), action=LsAction.SORT, t=t),
            ls_button(tr("ls.btn.select"), action=LsAction.SELECT, t=t, n=page_no),
        ])  # fmt: skip
        rows.append(export_buttons(tr, t))
    rows.append(
        [InlineKeyboardButton(text=tr("views.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack())]
    )
    text = "\n".join(head + blocks)
    while visible_length(text) > MESSAGE_LIMIT and len(blocks) > 1:  # safety net
        blocks.pop()
        text = "\n".join(head + blocks)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def show_list(
    event: CallbackQuery | Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    item_type: ItemType, page_no: int = 0, *, notice: str = "", fresh: bool = False,
) -> None:  # fmt: skip
    await leave_forms(state)
    await show(event, *await list_screen(session, user, tr, state, item_type, page_no, notice, fresh=fresh))


# --- opening ----------------------------------------------------------------------------------------


@router.message(Command(*COMMAND_TYPES), F.chat.type == "private")
async def list_command(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    name = (message.text or "").split()[0].lstrip("/").split("@")[0].lower()
    await show_list(message, session, user, tr, state, COMMAND_TYPES[name], fresh=True)


@router.callback_query(MenuCB.filter(F.action.in_(set(MENU_TYPES))))
async def list_menu(
    callback: CallbackQuery, callback_data: MenuCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await show_list(callback, session, user, tr, state, MENU_TYPES[callback_data.action], fresh=True)


@router.callback_query(LsCB.filter(F.action == LsAction.PAGE))
async def page_button(
    callback: CallbackQuery, callback_data: LsCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await show_list(callback, session, user, tr, state, callback_data.t, callback_data.n)


# --- sorting ------------------------------------------------------------------------------------------


def sort_screen(tr: Translator, item_type: ItemType, view: ListView) -> tuple[str, InlineKeyboardMarkup]:
    current = view.sort[0] if view.sort else ["created_at", "desc"]
    rows = []
    for name in SORT_FIELDS[item_type]:
        row = []
        for direction, arrow in (("asc", "↑"), ("desc", "↓")):
            mark = "• " if current == [name, direction] else ""
            row.append(
                ls_button(
                    f"{mark}{field_label(tr, name)} {arrow}",
                    action=LsAction.SET_SORT,
                    t=item_type,
                    v=f"{name}.{direction[0]}",
                )
            )
        rows.append(row)
    rows.append([ls_button(tr("views.back"), action=LsAction.PAGE, t=item_type, n=0)])
    return tr("ls.sort_title", sort=sort_label(tr, view.sort)), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(LsCB.filter(F.action == LsAction.SORT))
async def sort_button(
    callback: CallbackQuery, callback_data: LsCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    view = await load_view(state, session, user, callback_data.t)
    await show(callback, *sort_screen(tr, callback_data.t, view))


@router.callback_query(LsCB.filter(F.action == LsAction.SET_SORT))
async def set_sort(
    callback: CallbackQuery, callback_data: LsCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t = callback_data.t
    name, _, d = callback_data.v.partition(".")
    if name not in SORT_FIELDS[t] or d not in ("a", "d"):
        raise ValidationFailed("field is not sortable", field=name)
    view = await load_view(state, session, user, t)
    view.sort = [[name, "desc" if d == "d" else "asc"]]
    view.reset_paging()
    await save_view(state, t, view)
    await show_list(callback, session, user, tr, state, t, 0)


# --- selection ----------------------------------------------------------------------------------------


@router.callback_query(LsCB.filter(F.action.in_(SELECTION_ACTIONS)))
async def selection_button(
    callback: CallbackQuery, callback_data: LsCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t, action = callback_data.t, callback_data.action
    view = await load_view(state, session, user, t)
    if action == LsAction.SELECT:
        view.selecting = not view.selecting
        if view.selecting:
            callback_answer.text = tr("bk.hint")
    elif action == LsAction.CLEAR:
        view.selected = []
    else:
        page_no = callback_data.n if 0 <= callback_data.n < len(view.cursors) else 0
        page = await views_service.list_items(
            session,
            user,
            t,
            filters=view.filters(),
            sort=view.sort,
            limit=PAGE_SIZE,
            cursor=view.cursors[page_no],
        )
        for item in page.items:
            if item.id not in view.selected and len(view.selected) < MAX_SELECTED:
                view.selected.append(item.id)
    await save_view(state, t, view)
    await show_list(callback, session, user, tr, state, t, callback_data.n)


@router.callback_query(BkCB.filter(F.action == BkAction.TOGGLE))
async def toggle_item(
    callback: CallbackQuery, callback_data: BkCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    # Only an item the user may see can be selected (forged ids are refused here already).
    item = await load_visible(session, user, t, callback_data.id)
    view = await load_view(state, session, user, t)
    view.selecting = True
    if item.id in view.selected:
        view.selected.remove(item.id)
    elif len(view.selected) >= MAX_SELECTED:
        callback_answer.text = tr("bk.too_many", max=MAX_SELECTED)
        callback_answer.show_alert = True
    else:
        view.selected.append(item.id)
    await save_view(state, t, view)
    await show_list(callback, session, user, tr, state, t, callback_data.n)
