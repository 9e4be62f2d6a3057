"""The item card: open by ref / deep link / button; fields, people, stage, more (trash, pipeline).

Every button re-loads the item through crm_core with the acting user: ids in callback data are
never trusted, and an item the user may not see answers exactly like a missing one.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import AccessDenied, ConcurrencyConflict, NotFound, ValidationFailed
from crm_core.fields import Field, FieldContext, Kind, card_fields, find_field, get_field, split_list
from crm_core.models.items import AnyItem, CommKind, Deal, ItemType, Lead, StageSemantics
from crm_core.models.users import User
from crm_core.permissions import can_view
from crm_core.refs import try_parse_ref
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import trash as trash_service
from crm_core.services.cards_queries import assignable_users, users_by_id
from crm_core.services.required_fields import (
    COMM_FIELDS,
    REQUIRABLE_FIELDS,
    get_required_fields,
    missing_required,
)
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB
from handlers.card_render import (
    TYPE_ICONS,
    back_to_card,
    card_screen,
    format_dt,
    item_label,
    load_visible,
    open_card,
    user_name,
)
from handlers.context import HandlerOptions
from handlers.field_text import field_context, field_label
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="cards")

USERS_PAGE = 8
REMOVE_BUTTONS = 10
TRASH_PAGE = 8


# --- callback data (prefixes cf/cs/cp/tr, see handlers/callbacks.py) ----------------------------


class FieldCB(CallbackData, prefix="cf"):
    """a: "e" edit field f, "c" clear it, "x" cancel the form."""

    t: ItemType
    id: int
    f: str = ""
    a: str = "e"


class StageCB(CallbackData, prefix="cs"):
    """a: "mv" move to stage v, "pl" list pipelines, "pp" move to pipeline v, "g" group label.
    `ver` is the item version the user saw: a stale keyboard is a conflict, not a silent move."""

    t: ItemType
    id: int
    a: str
    v: int = 0
    ver: int = 0


class PeopleCB(CallbackData, prefix="cp"):
    """a: "r" responsible picker, "sr" set responsible v, "o" observer picker, "to" toggle observer v
    (from the picker, page p), "ro" remove observer v (from the people screen)."""

    t: ItemType
    id: int
    a: str
    v: int = 0
    p: int = 0


class TrashCB(CallbackData, prefix="tr"):
    """a: "ask" confirm deletion, "del" delete, "ls" the trash list (page p), "res" restore."""

    a: str
    t: str = ""
    id: int = 0
    p: int = 0


class FieldForm(StatesGroup):
    value = State()


# --- fields: the schema (crm_core.fields) says which, of what kind, how shown and parsed -----------

# Why a typed value is refused, by kind (literal ids, see handlers/texts).
BAD_VALUE = {
    Kind.MONEY: "card.bad.money",
    Kind.CURRENCY: "card.bad.currency",
    Kind.DATE: "card.bad.date",
    Kind.PHONE: "card.bad.phone",
    Kind.EMAIL: "card.bad.email",
}
EXAMPLES = {
    Kind.MONEY: "field.example.money",
    Kind.CURRENCY: "field.example.currency",
    Kind.DATE: "field.example.date",
    Kind.PHONE: "field.example.phone",
    Kind.EMAIL: "field.example.email",
}


def card_keys(item_type: ItemType) -> tuple[str, ...]:
    return tuple(f.name for f in card_fields(item_type))


def example(tr: Translator, field: Field) -> str:
    return tr(EXAMPLES.get(field.kind, "field.example.text"))


def refusal(tr: Translator, field: Field, exc: ValidationFailed, text: str) -> str:
    """The card's wording of a refused value."""
    if str(exc) == "empty value":
        return tr("card.bad.empty")
    if str(exc) == "text too long":
        return tr("card.bad.too_long", limit=field.limit)
    value = esc(truncate(str(exc.params.get("value", text)), 60))
    return tr(BAD_VALUE.get(field.kind, "card.bad.empty"), value=value)


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


async def _current_values(session: AsyncSession, item: AnyItem) -> dict[str, Any]:
    comms = (await items_service.get_communications(session, item.ITEM_TYPE, [item.id]))[item.id]
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


# --- opening -----------------------------------------------------------------------------------


def _is_ref(text: str | None) -> bool:
    return bool(text) and try_parse_ref(text or "") is not None


@router.message(CommandStart(deep_link=True, magic=F.args.func(_is_ref)), F.chat.type == "private")
async def open_by_deep_link(
    message: Message, command: CommandObject, session: AsyncSession, user: User, tr: Translator
) -> None:
    item_type, item_id = try_parse_ref(command.args or "")  # type: ignore[misc]
    await open_card(message, session, user, tr, item_type, item_id)


@router.message(StateFilter(None), F.chat.type == "private", F.text.func(_is_ref))
async def open_by_ref(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    item_type, item_id = try_parse_ref(message.text or "")  # type: ignore[misc]
    await open_card(message, session, user, tr, item_type, item_id)


@router.callback_query(CardCB.filter(F.action == CardAction.OPEN))
async def open_by_button(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    # Back on the card, a half-filled field form is abandoned: a later message is not its value.
    if await state.get_state() == FieldForm.value.state:
        await state.clear()
    await open_card(callback, session, user, tr, callback_data.type, callback_data.id)


# --- fields --------------------------------------------------------------------------------------


async def fields_screen(
    session: AsyncSession, tr: Translator, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    item_type = item.ITEM_TYPE
    required = {
        _field_key(f)
        for f in await get_required_fields(session, item_type, pipeline_id=getattr(item, "pipeline_id", None))
    }
    values = await _current_values(session, item)
    lines = [tr("card.fields.title", ref=item.ref, name=esc(truncate(item.display_name, 100)))]
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
        InlineKeyboardButton(
            text=f"{field_label(tr, key)}{'*' if key in required else ''}",
            callback_data=FieldCB(t=item_type, id=item.id, f=key).pack(),
        )
        for key in card_keys(item_type)
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([back_to_card(tr, item_type, item.id)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.FIELDS))
async def show_fields(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    await show(callback, *await fields_screen(session, tr, item))


def _form_keyboard(
    tr: Translator, item_type: ItemType, item_id: int, key: str, clearable: bool
) -> InlineKeyboardMarkup:
    row = []
    if clearable:
        row.append(
            InlineKeyboardButton(
                text=tr("card.btn.clear"), callback_data=FieldCB(t=item_type, id=item_id, f=key, a="c").pack()
            )
        )
    row.append(
        InlineKeyboardButton(
            text=tr("card.btn.cancel"), callback_data=FieldCB(t=item_type, id=item_id, f=key, a="x").pack()
        )
    )
    return InlineKeyboardMarkup(inline_keyboard=[row])


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
    clearable = field.clearable and not required
    return text, _form_keyboard(tr, item.ITEM_TYPE, item.id, key, clearable)


async def _is_required(session: AsyncSession, item: AnyItem, key: str) -> bool:
    required = await get_required_fields(
        session, item.ITEM_TYPE, pipeline_id=getattr(item, "pipeline_id", None)
    )
    return key in {_field_key(f) for f in required}


@router.callback_query(FieldCB.filter(F.a == "e"))
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
    required = await _is_required(session, item, callback_data.f)
    await show(callback, *await _prompt(session, tr, item, callback_data.f, required=required))


@router.callback_query(FieldCB.filter(F.a == "x"))
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


@router.callback_query(FieldForm.value, FieldCB.filter(F.a == "c"))
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


@router.callback_query(FieldCB.filter(F.a == "c"))
async def clear_field_stale(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
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


# --- people: responsible and observers ------------------------------------------------------------


async def people_screen(
    session: AsyncSession, tr: Translator, item: AnyItem
) -> tuple[str, InlineKeyboardMarkup]:
    observer_ids = await items_service.get_observer_ids(session, item)
    people = await users_by_id(session, [item.responsible_id, *observer_ids])
    lines = [
        tr("card.people.title", ref=item.ref, name=esc(truncate(item.display_name, 100))),
        tr("card.responsible", name=user_name(people.get(item.responsible_id))),
        tr("card.observers", names=", ".join(user_name(people.get(u)) for u in observer_ids[:50]) or "—"),
    ]
    t, i = item.ITEM_TYPE, item.id
    rows = [
        [
            InlineKeyboardButton(
                text=tr("card.people.change_responsible"), callback_data=PeopleCB(t=t, id=i, a="r").pack()
            )
        ],
        [
            InlineKeyboardButton(
                text=tr("card.people.observers"), callback_data=PeopleCB(t=t, id=i, a="o").pack()
            )
        ],
    ]
    # A few direct "remove" buttons; the picker handles any number of observers.
    for uid in observer_ids[:REMOVE_BUTTONS]:
        rows.append(
            [
                InlineKeyboardButton(
                    text=tr(
                        "card.people.remove",
                        name=truncate(people[uid].full_name if uid in people else "?", 40),
                    ),
                    callback_data=PeopleCB(t=t, id=i, a="ro", v=uid).pack(),
                )
            ]
        )
    rows.append([back_to_card(tr, t, i)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def picker_screen(
    session: AsyncSession, user: User, tr: Translator, item: AnyItem, mode: str, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """Colleagues, paged: mode "r" picks the responsible, "o" toggles observers."""
    observer_ids = set(await items_service.get_observer_ids(session, item))
    page = max(0, page)
    users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=page * USERS_PAGE)
    if not users and page > 0:
        page = 0
        users, total = await assignable_users(session, user, limit=USERS_PAGE, offset=0)
    t, i = item.ITEM_TYPE, item.id
    rows = []
    for u in users:
        name = truncate(u.full_name or f"#{u.id}", 40)
        if mode == "r":
            mark = "✓ " if u.id == item.responsible_id else ""
            cb = PeopleCB(t=t, id=i, a="sr", v=u.id, p=page)
        else:
            if u.id == item.responsible_id:
                continue  # the responsible sees the item anyway
            mark = "✓ " if u.id in observer_ids else ""
            cb = PeopleCB(t=t, id=i, a="to", v=u.id, p=page)
        rows.append([InlineKeyboardButton(text=f"{mark}{name}", callback_data=cb.pack())])
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=tr("card.btn.prev"), callback_data=PeopleCB(t=t, id=i, a=mode, p=page - 1).pack()
            )
        )
    if (page + 1) * USERS_PAGE < total:
        nav.append(
            InlineKeyboardButton(
                text=tr("card.btn.next"), callback_data=PeopleCB(t=t, id=i, a=mode, p=page + 1).pack()
            )
        )
    if nav:
        rows.append(nav)
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("menu.back"), callback_data=CardCB(type=t, id=i, action=CardAction.PEOPLE).pack()
            )
        ]
    )
    key = "card.people.pick_responsible" if mode == "r" else "card.people.pick_observers"
    text = tr(key, ref=item.ref, name=esc(truncate(item.display_name, 100)))
    pages = (total + USERS_PAGE - 1) // USERS_PAGE
    if pages > 1:
        text += "\n" + tr("card.page", page=page + 1, pages=pages)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.PEOPLE))
async def show_people(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    await show(callback, *await people_screen(session, tr, item))


@router.callback_query(PeopleCB.filter(F.a.in_({"r", "o"})))
async def show_picker(
    callback: CallbackQuery, callback_data: PeopleCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    await show(callback, *await picker_screen(session, user, tr, item, callback_data.a, callback_data.p))


async def _after_people_change(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, item: AnyItem, screen: Any
) -> None:
    """Re-show the screen, unless the change took the item away from this user."""
    if not await can_view(session, user, item):
        await show(
            callback,
            tr("card.people.no_longer_yours", ref=item.ref, name=esc(truncate(item.display_name, 100))),
            InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=tr("card.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
                        )
                    ]
                ]
            ),
        )
        return
    await show(callback, *await screen())


@router.callback_query(PeopleCB.filter(F.a == "sr"))
async def set_responsible(
    callback: CallbackQuery,
    callback_data: PeopleCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    await items_service.change_responsible(session, user, item, callback_data.v)
    new = (await users_by_id(session, [callback_data.v])).get(callback_data.v)
    callback_answer.text = tr("card.people.responsible_set", name=truncate(new.full_name if new else "", 60))

    async def screen() -> tuple[str, InlineKeyboardMarkup]:
        return await people_screen(session, tr, item)

    await _after_people_change(callback, session, user, tr, item, screen)


@router.callback_query(PeopleCB.filter(F.a.in_({"to", "ro"})))
async def toggle_observer(
    callback: CallbackQuery,
    callback_data: PeopleCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, callback_data.t, callback_data.id, for_edit=True)
    uid = callback_data.v
    if uid in await items_service.get_observer_ids(session, item) or callback_data.a == "ro":
        await items_service.remove_observer(session, user, item, uid)
        key = "card.people.observer_removed"
    else:
        await items_service.add_observer(session, user, item, uid)
        key = "card.people.observer_added"
    who = (await users_by_id(session, [uid])).get(uid)
    callback_answer.text = tr(key, name=truncate(who.full_name if who else "", 60))

    async def screen() -> tuple[str, InlineKeyboardMarkup]:
        # "to" comes from the picker (stay there), "ro" from the people screen.
        if callback_data.a == "to":
            return await picker_screen(session, user, tr, item, "o", callback_data.p)
        return await people_screen(session, tr, item)

    await _after_people_change(callback, session, user, tr, item, screen)


# --- stage and pipeline ----------------------------------------------------------------------------


async def stage_screen(
    session: AsyncSession, tr: Translator, item: Lead | Deal
) -> tuple[str, InlineKeyboardMarkup]:
    stages = await pipelines_service.list_stages(session, item.pipeline_id)
    pipeline = await pipelines_service.get_pipeline(session, item.pipeline_id)
    t, i, ver = item.ITEM_TYPE, item.id, item.version
    rows: list[list[InlineKeyboardButton]] = []
    groups = (
        (StageSemantics.PROCESS, "card.stage.in_progress"),
        (StageSemantics.SUCCESS, "card.stage.won"),
        (StageSemantics.FAILURE, "card.stage.lost"),
    )
    for semantics, label in groups:
        group = [s for s in stages if s.semantics == semantics]
        if not group:
            continue
        rows.append(
            [InlineKeyboardButton(text=f"— {tr(label)} —", callback_data=StageCB(t=t, id=i, a="g").pack())]
        )
        buttons = [
            InlineKeyboardButton(
                text=("● " if s.id == item.stage_id else "") + truncate(s.name(tr.language), 40),
                callback_data=StageCB(t=t, id=i, a="mv", v=s.id, ver=ver).pack(),
            )
            for s in group
        ]
        rows += [buttons[k : k + 2] for k in range(0, len(buttons), 2)]
    rows.append([back_to_card(tr, t, i)])
    text = tr(
        "card.stage.choose",
        ref=item.ref,
        name=esc(truncate(item.display_name, 100)),
        pipeline=esc(pipeline.name(tr.language)),
    )
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


@router.callback_query(StageCB.filter(F.a == "g"))
async def stage_group_label(callback: CallbackQuery) -> None:
    """A group heading, not an action."""


async def _move(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
    item: Lead | Deal,
    move: Any,
) -> None:
    try:
        async with session.begin_nested():
            moved = await move()
    except ConcurrencyConflict:
        callback_answer.text = tr("card.conflict")
        callback_answer.show_alert = True
        moved = False
    else:
        stage = await pipelines_service.get_stage(session, item.stage_id)
        callback_answer.text = tr(
            "card.stage.moved" if moved else "card.stage.already", stage=stage.name(tr.language)
        )
    await open_card(callback, session, user, tr, item.ITEM_TYPE, item.id)


@router.callback_query(StageCB.filter(F.a == "mv"))
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
        # Only a forged or very old button names another pipeline's stage (pipelines change via "pp").
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
        rows.append(
            [
                InlineKeyboardButton(
                    text=mark + truncate(pipeline.name(tr.language), 50),
                    callback_data=StageCB(
                        t=ItemType.DEAL, id=deal.id, a="pp", v=pipeline.id, ver=deal.version
                    ).pack(),
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("menu.back"),
                callback_data=CardCB(type=ItemType.DEAL, id=deal.id, action=CardAction.MORE).pack(),
            )
        ]
    )
    return tr(
        "card.pipeline.choose", ref=deal.ref, name=esc(truncate(deal.display_name, 100))
    ), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(StageCB.filter(F.a == "pl"))
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


@router.callback_query(StageCB.filter(F.a == "pp"))
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


# --- more: trash, pipeline --------------------------------------------------------------------------


@router.callback_query(CardCB.filter(F.action == CardAction.MORE))
async def show_more(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    t, i = item.ITEM_TYPE, item.id
    rows = []
    if isinstance(item, Deal) and len(await pipelines_service.list_pipelines(session, ItemType.DEAL)) > 1:
        rows.append(
            [
                InlineKeyboardButton(
                    text=tr("card.more.pipeline"), callback_data=StageCB(t=t, id=i, a="pl").pack()
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(
                text=tr("card.more.delete"), callback_data=TrashCB(a="ask", t=t.value, id=i).pack()
            )
        ]
    )
    rows.append([InlineKeyboardButton(text=tr("card.more.trash"), callback_data=TrashCB(a="ls").pack())])
    rows.append([back_to_card(tr, t, i)])
    text = tr("card.more.title", ref=item.ref, name=esc(truncate(item.display_name, 100)))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


def _trash_type(raw: str) -> ItemType:
    try:
        return ItemType(raw)
    except ValueError as exc:
        raise NotFound(item_type=raw) from exc


@router.callback_query(TrashCB.filter(F.a == "ask"))
async def confirm_delete(
    callback: CallbackQuery, callback_data: TrashCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    item = await load_visible(session, user, _trash_type(callback_data.t), callback_data.id, for_edit=True)
    t, i = item.ITEM_TYPE, item.id
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("card.trash.yes"), callback_data=TrashCB(a="del", t=t.value, id=i).pack()
                )
            ],
            [back_to_card(tr, t, i)],
        ]
    )
    await show(
        callback, tr("card.trash.confirm", ref=item.ref, name=esc(truncate(item.display_name, 100))), markup
    )


@router.callback_query(TrashCB.filter(F.a == "del"))
async def delete_item(
    callback: CallbackQuery,
    callback_data: TrashCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item = await load_visible(session, user, _trash_type(callback_data.t), callback_data.id, for_edit=True)
    await trash_service.delete_item(session, user, item)
    t, i = item.ITEM_TYPE, item.id
    callback_answer.text = tr("card.trash.deleted_short")
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("card.trash.restore"), callback_data=TrashCB(a="res", t=t.value, id=i).pack()
                )
            ],
            [InlineKeyboardButton(text=tr("card.more.trash"), callback_data=TrashCB(a="ls").pack())],
            [
                InlineKeyboardButton(
                    text=tr("card.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
                )
            ],
        ]
    )
    await show(
        callback, tr("card.trash.deleted", ref=item.ref, name=esc(truncate(item.display_name, 100))), markup
    )


async def trash_screen(
    session: AsyncSession, user: User, tr: Translator, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    page = max(0, page)
    entries = await trash_service.list_trash(session, user, limit=TRASH_PAGE + 1, offset=page * TRASH_PAGE)
    has_next = len(entries) > TRASH_PAGE
    entries = entries[:TRASH_PAGE]
    rows = []
    if not entries:
        text = tr("card.trash.empty")
    else:
        lines = [tr("card.trash.title")]
        for entry in entries:
            item = entry.item
            deleted = format_dt(item.deleted_at, user) if item.deleted_at else ""
            lines.append(f"{item_label(tr, item)} — {deleted}")
            rows.append(
                [
                    InlineKeyboardButton(
                        text=tr("card.trash.restore_item", ref=item.ref),
                        callback_data=TrashCB(a="res", t=entry.item_type.value, id=item.id, p=page).pack(),
                    )
                ]
            )
        text = "\n".join(lines)
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(text=tr("card.btn.prev"), callback_data=TrashCB(a="ls", p=page - 1).pack())
        )
    if has_next:
        nav.append(
            InlineKeyboardButton(text=tr("card.btn.next"), callback_data=TrashCB(a="ls", p=page + 1).pack())
        )
    if nav:
        rows.append(nav)
    rows.append(
        [InlineKeyboardButton(text=tr("card.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack())]
    )
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


@router.message(Command("trash"), F.chat.type == "private")
async def trash_command(message: Message, session: AsyncSession, user: User, tr: Translator) -> None:
    await show(message, *await trash_screen(session, user, tr, 0))


@router.callback_query(TrashCB.filter(F.a == "ls"))
async def trash_list(
    callback: CallbackQuery, callback_data: TrashCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await show(callback, *await trash_screen(session, user, tr, callback_data.p))


@router.callback_query(TrashCB.filter(F.a == "res"))
async def restore(
    callback: CallbackQuery,
    callback_data: TrashCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    item_type = _trash_type(callback_data.t)
    try:
        item = await trash_service.restore_item(session, user, item_type, callback_data.id)
    except AccessDenied as exc:  # someone else's trash looks like nothing at all
        raise NotFound(item_type=item_type.value, item_id=callback_data.id) from exc
    callback_answer.text = tr("card.trash.restored", ref=item.ref)
    text, markup = await card_screen(session, user, tr, item.ITEM_TYPE, item.id)
    await show(callback, text, markup)


__all__ = [
    "FieldCB",
    "PeopleCB",
    "StageCB",
    "TrashCB",
    "TYPE_ICONS",
    "parse_value",
    "router",
]
