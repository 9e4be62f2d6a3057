"""Filters of the item lists: the builder (field -> operator -> value typed or chosen, date presets
in the user's timezone, a typed custom range), saved filters (save under a name, choose one, pin it
as the default used when the list opens, delete).

The list's view lives in FSM data (handlers.list_view); crm_core validates every condition
(count_items) before it is kept. The builder returns to the list (handlers.lists) it filters.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound, ValidationFailed
from crm_core.fields import Field, FieldContext, Kind, quick_filter_fields
from crm_core.fields.kinds import parse_date, parse_money
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services import views as views_service
from crm_core.services.cards_queries import assignable_users
from crm_core.services.views import Condition
from handlers.callbacks import Unpacked
from handlers.context import HandlerOptions
from handlers.field_text import field_context, field_label
from handlers.list_view import (
    LIST_TITLES,
    OP_TEXTS,
    PRESET_TEXTS,
    ListView,
    describe,
    leave_forms,
    load_view,
    save_view,
)
from handlers.lists import LsAction, LsCB, show_list
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import pipeline_name, stage_name
from handlers.ui import show

router = Router(name="filters_ui")

USERS_PAGE = 8
MAX_CONDITIONS = 8
VALUE_LIMIT = 200

# --- what can be filtered ------------------------------------------------------------------------

# What the builder offers is the schema's (crm_core.fields): fields flagged quick_filter, in the
# schema's order, each shown by its UI kind: text, money, date, bool, stage, user, phone, email.
_UI_KINDS = {Kind.TEXT: "text", Kind.CURRENCY: "text", Kind.MONEY: "money", Kind.DATE: "date",
             Kind.DATETIME: "date", Kind.FLAG: "bool", Kind.USER: "user", Kind.PHONE: "phone",
             Kind.EMAIL: "email"}  # fmt: skip


def _ui_kind(field: Field) -> str:
    return "stage" if field.ref == "stage" else _UI_KINDS[field.kind]


FILTER_FIELDS: dict[ItemType, list[tuple[str, str]]] = {
    t: [(f.name, _ui_kind(f)) for f in quick_filter_fields(t)] for t in ItemType
}
OPS: dict[str, tuple[str, ...]] = {
    "text": ("contains", "eq", "not_null", "is_null"),
    "money": ("gte", "lte", "eq", "is_null"),
    "phone": ("contains", "eq", "not_null", "is_null"),
    "email": ("contains", "eq", "not_null", "is_null"),
}
# The prompt for a typed value, by the field's UI kind.
TYPE_TEXTS = {
    "text": N_("fl.type.text"),
    "money": N_("fl.type.money"),
    "phone": N_("fl.type.phone"),
    "email": N_("fl.type.email"),
}
TYPED_OPS = frozenset({"contains", "eq", "gte", "lte"})
DATE_PRESETS = ("today", "yesterday", "this_week", "last_7_days", "last_30_days", "this_month")
# Two days with a dash or ".." between them (a dash inside an ISO date is not a separator).
_RANGE = re.compile(
    r"^\s*(\S+(?:\s\S+)?)\s*(?:\s[-–—]\s|[–—]|\.\.|(?<=\d)-(?=\d{1,2}[./]))\s*(\S+(?:\s\S+)?)\s*$"
)


class FlAction(StrEnum):
    MENU = "m"  # the filter screen
    ADD = "af"  # choose a field to add
    FIELD = "f"  # field f chosen: its operators or values
    USERS_PAGE = "up"  # page v of the users for field f
    OPERATOR = "o"  # operator o chosen
    VALUE = "v"  # value v chosen
    REMOVE = "rm"  # remove condition f
    CLEAR = "clr"
    SAVE = "sv"  # ask a name to save under
    USE = "use"  # apply saved filter v
    PIN = "pin"  # saved filter v becomes the default
    UNPIN = "unpin"
    DELETE = "del"  # delete saved filter v
    STOP = "x"  # stop typing a value or a name


# Buttons that show a field's choices: the first page, or another page of users.
FIELD_ACTIONS = {FlAction.FIELD, FlAction.USERS_PAGE}
PIN_ACTIONS = {FlAction.PIN, FlAction.UNPIN}


class FlCB(Unpacked, CallbackData, prefix="fl"):
    action: FlAction
    t: ItemType
    f: int = -1  # field index in the list's filter fields, or condition index
    o: str = ""  # operator
    v: str = ""  # value, page or saved filter id


class FilterForm(StatesGroup):
    value = State()
    name = State()


def _fl(text: str, **data: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=FlCB(**data).pack())


# --- parsing typed values ----------------------------------------------------------------------------


def parse_range(text: str, ctx: FieldContext) -> tuple[date, date] | None:
    """ "01.11.2026-15.11.2026", "1.11 - 15.11" (or one day, "вчера") -> (from, to), to
    inclusive; None if not a range. Each end is read by the schema's date parser."""
    m = _RANGE.match(text)
    parts = [m.group(1), m.group(2)] if m else [text]
    try:
        days = [parse_date(p, ctx) for p in parts]
    except ValidationFailed:
        return None
    lo, hi = days[0], days[-1]
    return (lo, hi) if lo <= hi else (hi, lo)


# --- screens ---------------------------------------------------------------------------------------


def _field(item_type: ItemType, index: int) -> tuple[str, str]:
    fields = FILTER_FIELDS[item_type]
    if not 0 <= index < len(fields):
        raise ValidationFailed("unknown field", field=str(index))
    return fields[index]


async def filter_screen(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, view: ListView, notice: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    t = item_type
    lines = [notice, ""] if notice else []
    lines.append(tr("fl.title", what=tr(LIST_TITLES[t])))
    saved = await views_service.list_saved_filters(session, user, t)
    active = next((s for s in saved if s.id == view.saved_id), None)
    if active is not None:
        pin = " 📌" if active.is_default else ""
        lines.append(tr("fl.saved_active", name=esc(truncate(active.name, 60))) + pin)
    described = await describe(session, tr, view.conditions)
    if described:
        lines.extend(f"{n}. {d}" for n, d in enumerate(described, 1))
    else:
        lines.append(tr("fl.none"))
    rows: list[list[InlineKeyboardButton]] = []
    if len(view.conditions) < MAX_CONDITIONS:
        rows.append([_fl(tr("fl.add"), action=FlAction.ADD, t=t)])
    if view.conditions:
        removes = [
            _fl(tr("fl.remove", n=n + 1), action=FlAction.REMOVE, t=t, f=n)
            for n in range(len(view.conditions))
        ]
        for i in range(0, len(removes), 4):
            rows.append(removes[i : i + 4])
        rows.append(
            [_fl(tr("fl.save"), action=FlAction.SAVE, t=t), _fl(tr("fl.clear"), action=FlAction.CLEAR, t=t)]
        )
    if active is not None:
        pin = FlAction.UNPIN if active.is_default else FlAction.PIN
        rows.append([
            _fl(tr("fl.unpin") if active.is_default else tr("fl.pin"), action=pin, t=t, v=str(active.id)),
            _fl(tr("fl.delete_saved"), action=FlAction.DELETE, t=t, v=str(active.id)),
        ])  # fmt: skip
    if saved:
        lines.append("")
        lines.append(tr("fl.saved_title"))
        for sf in saved:
            mark = "📌 " if sf.is_default else "📁 "
            current = "• " if sf.id == view.saved_id else ""
            rows.append(
                [_fl(f"{current}{mark}{truncate(sf.name, 40)}", action=FlAction.USE, t=t, v=str(sf.id))]
            )
    rows.append([InlineKeyboardButton(text=tr("fl.back_list"), callback_data=_list_cb(t))])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def _list_cb(item_type: ItemType) -> str:
    return LsCB(action=LsAction.PAGE, t=item_type, n=0).pack()


def fields_screen(tr: Translator, item_type: ItemType) -> tuple[str, InlineKeyboardMarkup]:
    buttons = [
        _fl(field_label(tr, name), action=FlAction.FIELD, t=item_type, f=i)
        for i, (name, _kind) in enumerate(FILTER_FIELDS[item_type])
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_fl(tr("views.back"), action=FlAction.MENU, t=item_type)])
    return tr("fl.choose_field"), InlineKeyboardMarkup(inline_keyboard=rows)


async def values_screen(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, index: int, page: int = 0
) -> tuple[str, InlineKeyboardMarkup]:
    """The second step: operators, or the values to choose for dates, yes/no, stages and people."""
    name, kind = _field(item_type, index)
    t = item_type
    rows: list[list[InlineKeyboardButton]] = []
    text = tr("fl.choose_op", field=field_label(tr, name))
    if kind == "date":
        presets = [
            _fl(tr(PRESET_TEXTS[p]), action=FlAction.VALUE, t=t, f=index, o="preset", v=p)
            for p in DATE_PRESETS
        ]
        rows.extend(presets[i : i + 2] for i in range(0, len(presets), 2))
        rows.append([_fl(tr("fl.preset.range_typed"), action=FlAction.OPERATOR, t=t, f=index, o="range")])
        rows.append([
            _fl(tr("fl.op.not_null"), action=FlAction.OPERATOR, t=t, f=index, o="not_null"),
            _fl(tr("fl.op.is_null"), action=FlAction.OPERATOR, t=t, f=index, o="is_null"),
        ])  # fmt: skip
        text = tr("fl.choose_period", field=field_label(tr, name))
    elif kind == "bool":
        rows.append([
            _fl(tr("fl.yes"), action=FlAction.VALUE, t=t, f=index, o="eq", v="1"),
            _fl(tr("fl.no"), action=FlAction.VALUE, t=t, f=index, o="eq", v="0"),
        ])  # fmt: skip
        text = tr("fl.choose_value", field=field_label(tr, name))
    elif kind == "stage":
        for pipeline in await pipelines_service.list_pipelines(session, item_type):
            for stage in await pipelines_service.list_stages(session, pipeline.id):
                label = stage_name(tr, stage)
                if item_type == ItemType.DEAL and len(await pipelines_service.list_pipelines(session, t)) > 1:
                    label = f"{pipeline_name(tr, pipeline)}: {label}"
                rows.append(
                    [_fl(truncate(label, 60), action=FlAction.VALUE, t=t, f=index, o="eq", v=str(stage.id))]
                )
        text = tr("fl.choose_value", field=field_label(tr, name))
    elif kind == "user":
        users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=page * USERS_PAGE)
        if page == 0:
            rows.append([_fl(tr("fl.me"), action=FlAction.VALUE, t=t, f=index, o="eq", v=str(user.id))])
        for u in users:
            if u.id != user.id:
                rows.append(
                    [
                        _fl(
                            truncate(u.full_name or f"#{u.id}", 40),
                            action=FlAction.VALUE,
                            t=t,
                            f=index,
                            o="eq",
                            v=str(u.id),
                        )
                    ]
                )
        nav = []
        if page > 0:
            nav.append(_fl(tr("views.prev"), action=FlAction.USERS_PAGE, t=t, f=index, v=str(page - 1)))
        if (page + 1) * USERS_PAGE < total:
            nav.append(_fl(tr("views.next"), action=FlAction.USERS_PAGE, t=t, f=index, v=str(page + 1)))
        if nav:
            rows.append(nav)
        text = tr("fl.choose_value", field=field_label(tr, name))
    else:
        ops = [_fl(tr(OP_TEXTS[op]), action=FlAction.OPERATOR, t=t, f=index, o=op) for op in OPS[kind]]
        rows.extend(ops[i : i + 2] for i in range(0, len(ops), 2))
    rows.append([_fl(tr("views.back"), action=FlAction.ADD, t=t)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


# --- changing the view -----------------------------------------------------------------------------


async def _add_condition(
    session: AsyncSession, user: User, state: FSMContext, item_type: ItemType, cond: Condition
) -> ListView:
    view = await load_view(state, session, user, item_type)
    conditions = [*view.conditions, cond.to_json()]
    # crm_core validates the field, the operator and the value (ValidationFailed otherwise).
    await views_service.count_items(
        session, user, item_type, filters=[Condition.from_json(c) for c in conditions]
    )
    view.conditions = conditions
    view.saved_id = None  # the view no longer is the saved filter as it was
    view.reset_paging()
    await save_view(state, item_type, view)
    return view


async def _back_to_list(
    event: CallbackQuery | Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    item_type: ItemType, notice: str = "",
) -> None:  # fmt: skip
    await show_list(event, session, user, tr, state, item_type, 0, notice=notice)


@router.callback_query(LsCB.filter(F.action == LsAction.FILTER))
async def list_filter_button(
    callback: CallbackQuery, callback_data: LsCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    """The list's "Filter" button."""
    view = await load_view(state, session, user, callback_data.t)
    await show(callback, *await filter_screen(session, user, tr, callback_data.t, view))


@router.callback_query(FlCB.filter(F.action == FlAction.MENU))
async def menu_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await leave_forms(state)
    view = await load_view(state, session, user, callback_data.t)
    await show(callback, *await filter_screen(session, user, tr, callback_data.t, view))


@router.callback_query(FlCB.filter(F.action == FlAction.ADD))
async def add_button(callback: CallbackQuery, callback_data: FlCB, tr: Translator, state: FSMContext) -> None:
    await leave_forms(state)
    await show(callback, *fields_screen(tr, callback_data.t))


@router.callback_query(FlCB.filter(F.action.in_(FIELD_ACTIONS)))
async def field_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    page = (
        int(callback_data.v)
        if callback_data.action == FlAction.USERS_PAGE and callback_data.v.isdigit()
        else 0
    )
    await show(callback, *await values_screen(session, user, tr, callback_data.t, callback_data.f, page))


@router.callback_query(FlCB.filter(F.action == FlAction.OPERATOR))
async def operator_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t, op = callback_data.t, callback_data.o
    name, kind = _field(t, callback_data.f)
    if op in ("is_null", "not_null"):
        await _add_condition(session, user, state, t, Condition(name, op))
        await _back_to_list(callback, session, user, tr, state, t, tr("fl.added"))
        return
    if op != "range" and (kind not in OPS or op not in OPS[kind]):
        raise ValidationFailed("operator not allowed", field=name, op=op)
    await state.set_state(FilterForm.value)
    await state.update_data(fb={"t": t.value, "f": callback_data.f, "o": op})
    op_text = tr(OP_TEXTS[op]) if op in OP_TEXTS else ""
    markup = InlineKeyboardMarkup(inline_keyboard=[[_fl(tr("views.cancel"), action=FlAction.STOP, t=t)]])
    if op == "range":
        text = tr("fl.type_range", field=field_label(tr, name), op=op_text)
    else:
        text = tr(TYPE_TEXTS[kind], field=field_label(tr, name), op=op_text)
    await show(callback, text, markup)


@router.callback_query(FlCB.filter(F.action == FlAction.VALUE))
async def value_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t, op, raw = callback_data.t, callback_data.o, callback_data.v
    name, kind = _field(t, callback_data.f)
    value: Any
    if kind == "date" and op == "preset" and raw in DATE_PRESETS:
        value = raw
    elif kind == "bool" and op == "eq" and raw in ("0", "1"):
        value = raw == "1"
    elif kind in ("stage", "user") and op == "eq" and raw.isdigit():
        value = int(raw)
    else:
        raise ValidationFailed("invalid value", field=name, value=raw)
    await _add_condition(session, user, state, t, Condition(name, op, value))
    await _back_to_list(callback, session, user, tr, state, t, tr("fl.added"))


@router.message(FilterForm.value, F.text, ~F.text.startswith("/"))
async def value_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    options: HandlerOptions | None = None,
) -> None:  # fmt: skip
    data = await state.get_data()
    fb = data.get("fb") or {}
    try:
        t = ItemType(fb.get("t"))
        name, kind = _field(t, int(fb.get("f", -1)))
    except (ValueError, TypeError):
        await state.set_state(None)
        await message.answer(tr("error.stale_button"))
        return
    op = str(fb.get("o"))
    text = (message.text or "").strip()
    cancel = InlineKeyboardMarkup(inline_keyboard=[[_fl(tr("views.cancel"), action=FlAction.STOP, t=t)]])
    value: Any
    ctx = field_context(user, options)
    if op == "range":
        parsed = parse_range(text, ctx)
        if parsed is None:
            await message.answer(tr("fl.bad_range"), reply_markup=cancel)
            return
        cond = Condition(name, "preset", ["range", parsed[0].isoformat(), parsed[1].isoformat()])
    else:
        if kind == "money":
            try:
                value = str(parse_money(text, ctx).amount)
            except ValidationFailed:
                await message.answer(tr("fl.bad_amount"), reply_markup=cancel)
                return
        else:
            if not text or len(text) > VALUE_LIMIT:
                await message.answer(tr("fl.bad_text"), reply_markup=cancel)
                return
            value = text
        cond = Condition(name, op, value)
    try:
        await _add_condition(session, user, state, t, cond)
    except ValidationFailed:
        # A value crm_core refuses (a malformed phone for "equals"...): ask again, keep the step.
        await message.answer(tr("fl.bad_value", value=esc(truncate(text, 60))), reply_markup=cancel)
        return
    await state.set_state(None)
    await _back_to_list(message, session, user, tr, state, t, tr("fl.added"))


@router.callback_query(FlCB.filter(F.action == FlAction.STOP))
async def stop_typing(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    await leave_forms(state)
    view = await load_view(state, session, user, callback_data.t)
    await show(callback, *await filter_screen(session, user, tr, callback_data.t, view))


@router.callback_query(FlCB.filter(F.action == FlAction.REMOVE))
async def remove_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await load_view(state, session, user, t)
    if 0 <= callback_data.f < len(view.conditions):
        view.conditions.pop(callback_data.f)
        view.saved_id = None
        view.reset_paging()
        await save_view(state, t, view)
    await show(callback, *await filter_screen(session, user, tr, t, view))


@router.callback_query(FlCB.filter(F.action == FlAction.CLEAR))
async def clear_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t = callback_data.t
    view = await load_view(state, session, user, t)
    view.conditions, view.saved_id = [], None
    view.reset_paging()
    await save_view(state, t, view)
    await _back_to_list(callback, session, user, tr, state, t, tr("fl.cleared"))


@router.callback_query(FlCB.filter(F.action == FlAction.SAVE))
async def save_button(
    callback: CallbackQuery, callback_data: FlCB, tr: Translator, state: FSMContext
) -> None:
    t = callback_data.t
    await state.set_state(FilterForm.name)
    await state.update_data(fb={"t": t.value})
    markup = InlineKeyboardMarkup(inline_keyboard=[[_fl(tr("views.cancel"), action=FlAction.STOP, t=t)]])
    await show(callback, tr("fl.type_name"), markup)


@router.message(FilterForm.name, F.text, ~F.text.startswith("/"))
async def name_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    data = await state.get_data()
    try:
        t = ItemType((data.get("fb") or {}).get("t"))
    except ValueError:
        await state.set_state(None)
        await message.answer(tr("error.stale_button"))
        return
    view = await load_view(state, session, user, t)
    name = (message.text or "").strip()
    cancel = InlineKeyboardMarkup(inline_keyboard=[[_fl(tr("views.cancel"), action=FlAction.STOP, t=t)]])
    try:
        async with session.begin_nested():
            sf = await views_service.create_saved_filter(session, user, t, name, view.filters(), view.sort)
    except ValidationFailed as exc:
        key = N_("fl.name_taken") if "exists" in str(exc) else N_("fl.bad_name")
        await message.answer(tr(key, name=esc(truncate(name, 60))), reply_markup=cancel)
        return
    view.saved_id = sf.id
    await save_view(state, t, view)
    await state.set_state(None)
    text, markup = await filter_screen(
        session, user, tr, t, view, tr("fl.saved", name=esc(truncate(sf.name, 60)))
    )
    await message.answer(text, reply_markup=markup)


def _saved_id(callback_data: FlCB) -> int:
    if not callback_data.v.isdigit():
        raise NotFound(filter_id=callback_data.v)
    return int(callback_data.v)


@router.callback_query(FlCB.filter(F.action == FlAction.USE))
async def use_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext,
) -> None:  # fmt: skip
    t = callback_data.t
    sf_id = _saved_id(callback_data)
    # Only the user's own filters of this type exist for them (another's id is "not found").
    sf = next((s for s in await views_service.list_saved_filters(session, user, t) if s.id == sf_id), None)
    if sf is None:
        raise NotFound(filter_id=sf_id)
    view = await load_view(state, session, user, t)
    view.conditions, view.sort, view.saved_id = list(sf.conditions or []), sf.sort or None, sf.id
    view.reset_paging()
    await save_view(state, t, view)
    await _back_to_list(
        callback, session, user, tr, state, t, tr("fl.applied", name=esc(truncate(sf.name, 60)))
    )


@router.callback_query(FlCB.filter(F.action.in_(PIN_ACTIONS)))
async def pin_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    sf = await views_service.set_default_filter(
        session, user, _saved_id(callback_data), pinned=callback_data.action == FlAction.PIN
    )
    callback_answer.text = tr("fl.pinned" if sf.is_default else "fl.unpinned", name=truncate(sf.name, 60))
    view = await load_view(state, session, user, t)
    await show(callback, *await filter_screen(session, user, tr, t, view))


@router.callback_query(FlCB.filter(F.action == FlAction.DELETE))
async def delete_button(
    callback: CallbackQuery, callback_data: FlCB, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    t = callback_data.t
    sf_id = _saved_id(callback_data)
    await views_service.delete_saved_filter(session, user, sf_id)
    view = await load_view(state, session, user, t)
    if view.saved_id == sf_id:
        view.saved_id = None
        await save_view(state, t, view)
    callback_answer.text = tr("fl.deleted")
    await show(callback, *await filter_screen(session, user, tr, t, view))


__all__ = ["FILTER_FIELDS", "FilterForm", "FlAction", "FlCB", "filter_screen", "parse_range"]
