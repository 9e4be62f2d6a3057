"""The card's fields screen and form: which fields, of what kind, how shown and parsed is the
schema's (crm_core.fields); a form asks one value, then any required field still empty, and saves
everything in one update checked against the version first seen."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ConcurrencyConflict, ValidationFailed
from crm_core.fields import Field, FieldContext, Kind, card_fields, find_field, get_field, split_list
from crm_core.models.items import AnyItem, CommKind, ItemType
from crm_core.models.users import User
from crm_core.services import communications
from crm_core.services import items as items_service
from crm_core.services.required_fields import (
    COMM_FIELDS,
    REQUIRABLE_FIELDS,
    get_required_fields,
    missing_required,
)
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import back_to_card, load_visible, open_card
from handlers.card_ui import button, in_pairs, titled
from handlers.context import HandlerOptions
from handlers.field_text import field_context, field_label
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="card_fields")


class FieldAction(StrEnum):
    EDIT = "e"
    CLEAR = "c"
    CANCEL = "x"


class FieldCB(Unpacked, CallbackData, prefix="cf"):
    t: ItemType
    id: int
    f: str = ""  # the field's schema name
    a: FieldAction = FieldAction.EDIT


class FieldForm(StatesGroup):
    value = State()


# Why a typed value is refused, by kind; other kinds are refused as empty.
BAD_VALUE = {
    Kind.MONEY: N_("card.bad.money"),
    Kind.CURRENCY: N_("card.bad.currency"),
    Kind.DATE: N_("card.bad.date"),
    Kind.PHONE: N_("card.bad.phone"),
    Kind.EMAIL: N_("card.bad.email"),
}
# The example under a prompt, by kind; other kinds take plain text.
EXAMPLES = {
    Kind.MONEY: N_("field.example.money"),
    Kind.CURRENCY: N_("field.example.currency"),
    Kind.DATE: N_("field.example.date"),
    Kind.PHONE: N_("field.example.phone"),
    Kind.EMAIL: N_("field.example.email"),
}


def card_keys(item_type: ItemType) -> tuple[str, ...]:
    return tuple(f.name for f in card_fields(item_type))


def example(tr: Translator, field: Field) -> str:
    key = EXAMPLES[field.kind] if field.kind in EXAMPLES else N_("field.example.text")
    return tr(key)


def refusal(tr: Translator, field: Field, exc: ValidationFailed, text: str) -> str:
    """The card's wording of a refused value."""
    if str(exc) == "empty value":
        return tr("card.bad.empty")
    if str(exc) == "text too long":
        return tr("card.bad.too_long", limit=field.limit)
    value = esc(truncate(str(exc.params.get("value", text)), 60))
    key = BAD_VALUE[field.kind] if field.kind in BAD_VALUE else N_("card.bad.empty")
    return tr(key, value=value)


def parse_value(item_type: ItemType, key: str, text: str, ctx: FieldContext) -> dict[str, Any]:
    """The pending changes (JSON-friendly, for FSM storage) a typed value makes; ValidationFailed
    (the schema's reason) when it does not fit the field."""
    field = get_field(item_type, key)
    value = field.parse(text, ctx)
    if field.kind == Kind.MONEY:
        out: dict[str, Any] = {"amount": str(value.amount)}
        if value.currency:
            out["currency"] = value.currency
        return out
    if field.kind == Kind.DATE:
        return {key: value.isoformat()}
    if field.many:
        return {key: split_list(text)}  # kept as typed; crm_core stores them normalised beside
    return {key: value}


def _field_key(required_name: str) -> str:
    """ "deal.amount" -> "amount"."""
    return required_name.split(".", 1)[-1]


async def _required_keys(session: AsyncSession, item: AnyItem) -> set[str]:
    required = await get_required_fields(
        session, item.ITEM_TYPE, pipeline_id=getattr(item, "pipeline_id", None)
    )
    return {_field_key(f) for f in required}


async def _current_values(session: AsyncSession, item: AnyItem) -> dict[str, Any]:
    comms = (await communications.get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
    values = {
        key: getattr(item, key, None)
        for key in (set(card_keys(item.ITEM_TYPE)) | REQUIRABLE_FIELDS[item.ITEM_TYPE]) - COMM_FIELDS
    }
    values["phone"] = [c.value for c in comms if c.kind == CommKind.PHONE]
    values["email"] = [c.value for c in comms if c.kind == CommKind.EMAIL]
    return values


def _show_value(tr: Translator, item: AnyItem, key: str, value: Any) -> str:
    field = find_field(item.ITEM_TYPE, key)
    if field is None or value is None or value == "" or value == []:
        return "—"
    ctx = FieldContext(tr.language)  # card fields are days and sums: no timezone involved
    if field.many:
        return ", ".join(esc(truncate(str(v), 60)) for v in value)
    if field.kind in (Kind.TEXT, Kind.REFERENCE):
        return esc(truncate(str(value), 200))
    return esc(field.format(value, ctx, currency=getattr(item, "currency", None)))


async def _missing_after(session: AsyncSession, item: AnyItem, pending: dict[str, Any]) -> list[str]:
    """Required fields (keys) still empty once the pending changes are applied."""
    values = await _current_values(session, item)
    values.update({k: (v if v != "" else None) for k, v in pending.items()})
    missing = await missing_required(
        session,
        item.ITEM_TYPE,
        {k: v for k, v in values.items() if k not in COMM_FIELDS},
        pipeline_id=getattr(item, "pipeline_id", None),
        has_phone=bool(values.get("phone")),
        has_email=bool(values.get("email")),
    )
    order = {key: n for n, key in enumerate(card_keys(item.ITEM_TYPE))}
    # In the order the fields screen lists them, so the questions come in that order too.
    return sorted((_field_key(name) for name in missing), key=lambda k: (order.get(k, len(order)), k))


# --- the fields screen ---------------------------------------------------------------------------


async def fields_screen(
    session: AsyncSession, tr: Translator, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    item_type = item.ITEM_TYPE
    required = await _required_keys(session, item)
    values = await _current_values(session, item)
    lines = [tr("card.fields.title", ref=item.ref, name=titled(item))]
    missing = []
    for key in card_keys(item_type):
        mark = "*" if key in required else ""
        value = values.get(key)
        empty = value is None or value == "" or value == []
        if mark and empty:
            missing.append(field_label(tr, key))
        warn = " ⚠️" if mark and empty else ""
        lines.append(f"<b>{field_label(tr, key)}{mark}</b>: {_show_value(tr, item, key, value)}{warn}")
    # Required links (the client) are filled from the Client button, not here.
    for key in sorted(required - set(card_keys(item_type))):
        if values.get(key) in (None, ""):
            missing.append(field_label(tr, key))
    if required:
        lines.append("")
        lines.append(tr("card.fields.required_note"))
    if missing:
        lines.append(tr("card.fields.missing", fields=", ".join(missing)))
    lines.append("")
    lines.append(tr("card.fields.hint"))
    buttons = [
        button(
            f"{field_label(tr, key)}{'*' if key in required else ''}", FieldCB(t=item_type, id=item.id, f=key)
        )
        for key in card_keys(item_type)
    ]
    rows = [*in_pairs(buttons), [back_to_card(tr, item_type, item.id)]]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.FIELDS))
async def show_fields(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    await show(callback, *await fields_screen(session, tr, item))


# --- the form ------------------------------------------------------------------------------------


async def _prompt(
    session: AsyncSession, tr: Translator, item: AnyItem, key: str, *, required: bool, note: str = ""
) -> tuple[str, InlineKeyboardMarkup]:
    values = await _current_values(session, item)
    text = tr(
        "card.field.prompt",
        field=field_label(tr, key),
        ref=item.ref,
        value=_show_value(tr, item, key, values.get(key)),
    )
    field = get_field(item.ITEM_TYPE, key)
    text += "\n" + example(tr, field)
    if note:
        text = note + "\n\n" + text
    t, i = item.ITEM_TYPE, item.id
    row = [button(tr("card.btn.cancel"), FieldCB(t=t, id=i, f=key, a=FieldAction.CANCEL))]
    if field.clearable and not required:
        row.insert(0, button(tr("card.btn.clear"), FieldCB(t=t, id=i, f=key, a=FieldAction.CLEAR)))
    return text, InlineKeyboardMarkup(inline_keyboard=[row])


@router.callback_query(FieldCB.filter(F.a == FieldAction.EDIT))
async def edit_field(
    callback: CallbackQuery,
    callback_data: FieldCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    if callback_data.f not in card_keys(item.ITEM_TYPE):
        callback_answer.text = tr("error.stale_button")
        return
    await state.set_state(FieldForm.value)
    await state.set_data(
        {"t": item.ITEM_TYPE.value, "id": item.id, "f": callback_data.f, "ver": item.version, "pending": {}}
    )
    required = callback_data.f in await _required_keys(session, item)
    await show(callback, *await _prompt(session, tr, item, callback_data.f, required=required))


@router.callback_query(FieldCB.filter(F.a == FieldAction.CANCEL))
async def cancel_field(
    callback: CallbackQuery,
    callback_data: FieldCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    if await state.get_state() == FieldForm.value.state:
        await state.clear()
    await open_card(callback, session, user, tr, callback_data.t, callback_data.id)


@router.callback_query(FieldForm.value, FieldCB.filter(F.a == FieldAction.CLEAR))
async def clear_field(
    callback: CallbackQuery,
    callback_data: FieldCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    data = await state.get_data()
    if (data.get("t"), data.get("id"), data.get("f")) != (
        callback_data.t.value,
        callback_data.id,
        callback_data.f,
    ):
        callback_answer.text = tr("error.stale_button")
        return
    key = callback_data.f
    cleared: dict[str, Any] = {key: [] if key in COMM_FIELDS else None}
    await _submit(callback, session, user, tr, state, data, cleared)


@router.callback_query(FieldCB.filter(F.a == FieldAction.CLEAR))
async def clear_field_stale(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
    """A Clear button of a form no longer open."""
    callback_answer.text = tr("error.stale_button")


@router.message(FieldForm.value, F.text)
async def field_value_typed(
    message: Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    options: HandlerOptions | None = None,
) -> None:
    data = await state.get_data()
    item_type = ItemType(data["t"])
    field = get_field(item_type, data["f"])
    try:
        changes = parse_value(item_type, data["f"], message.text or "", field_context(user, options))
    except ValidationFailed as exc:
        await message.answer(refusal(tr, field, exc, message.text or "") + "\n" + example(tr, field))
        return
    await _submit(message, session, user, tr, state, data, changes)


@router.message(FieldForm.value)
async def field_value_not_text(message: Message, tr: Translator) -> None:
    await message.answer(tr("card.bad.not_text"))


async def _submit(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    data: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    """Add the value to what the form collected; ask for required fields still empty (one by
    one), then save everything in one update checked against the version first seen."""
    item_type = ItemType(data["t"])
    item = await load_visible(session, user, item_type, data["id"], for_edit=True)
    key = data["f"]
    pending = {**data.get("pending", {}), **changes}
    missing = await _missing_after(session, item, pending)
    if key in missing:
        # The field itself is required: clearing it is refused, the form stays open.
        await state.update_data(pending={k: v for k, v in pending.items() if k != key})
        await _reply(event, tr("card.required_field", field=field_label(tr, key)))
        return
    askable = [f for f in missing if f in card_keys(item_type) and f not in pending]
    if askable:
        await state.update_data(f=askable[0], pending=pending)
        note = tr("card.fields.missing", fields=", ".join(field_label(tr, f) for f in missing))
        text, markup = await _prompt(session, tr, item, askable[0], required=True, note=note)
        await show(event, text, markup)
        return
    await state.clear()
    if missing:
        # Only the client (Client button) can fill these.
        names = ", ".join(field_label(tr, f) for f in missing)
        await _reply(event, tr("card.fields.missing_elsewhere", fields=names))
        await open_card(event, session, user, tr, item_type, item.id)
        return
    plain = {k: v for k, v in pending.items() if k not in COMM_FIELDS}
    try:
        async with session.begin_nested():
            await items_service.update_item(
                session,
                user,
                item,
                plain,
                phones=pending.get("phone"),
                emails=pending.get("email"),
                expected_version=data.get("ver"),
            )
    except ConcurrencyConflict:
        await _reply(event, tr("card.conflict"))
    await open_card(event, session, user, tr, item_type, item.id)


async def _reply(event: Message | CallbackQuery, text: str) -> None:
    if isinstance(event, Message):
        await event.answer(text)
    elif event.message is not None:
        await event.bot.send_message(event.from_user.id, text)  # type: ignore[union-attr]


__all__ = ["FieldAction", "FieldCB", "FieldForm", "card_keys", "fields_screen", "parse_value", "router"]
