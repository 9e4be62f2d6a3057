"""Capturing leads: the /new form, /new <free text>, a forwarded message, a shared contact.

Every path builds a draft (plain JSON data, kept in the FSM while the user answers) and ends in
`_finish`, which asks for the lead's required fields an admin configured, then creates the lead
through crm_core and shows its card.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import ValidationFailed
from crm_core.fields import FieldContext, Kind, Money, find_field, get_field
from crm_core.models.items import ItemType, Lead
from crm_core.models.users import User
from crm_core.services import clients as clients_service
from crm_core.services import comments as comments_service
from crm_core.services import communications
from crm_core.services import items as items_service
from crm_core.services.extract import Extracted, extract_lead
from crm_core.services.required_fields import missing_required
from handlers.callbacks import MenuAction, MenuCB, Unpacked
from handlers.card_render import card_screen
from handlers.context import HandlerOptions
from handlers.errors import describe
from handlers.field_text import field_context, field_label
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="capture")

SOURCE_MANUAL = "manual"
SOURCE_TELEGRAM = "telegram"
PREVIEW_LIMIT = 600
COMMENT_LIMIT = comments_service.MAX_COMMENT_LENGTH


class NewLead(StatesGroup):
    title = State()
    name = State()
    phone = State()
    email = State()
    extra = State()  # a required field an admin configured


# Forwarded messages waiting for "Create lead" live in the FSM data under this key, by the offer's
# message id, without a state: the user may go on working (open refs, forward more) meanwhile.
PENDING_KEY = "cap_fwd"
PENDING_KEPT = 10


class NewAction(StrEnum):
    SKIP = "skip"  # leave the asked field empty
    CANCEL = "cancel"
    CREATE = "create"  # create the lead offered from a message


class NewCB(Unpacked, CallbackData, prefix="nw"):
    action: NewAction


# --- keyboards -----------------------------------------------------------------------------------


def _form_keyboard(tr: Translator, *, skip: bool) -> InlineKeyboardMarkup:
    row = []
    if skip:
        row.append(
            InlineKeyboardButton(text=tr("cap.btn.skip"), callback_data=NewCB(action=NewAction.SKIP).pack())
        )
    row.append(
        InlineKeyboardButton(text=tr("cap.btn.cancel"), callback_data=NewCB(action=NewAction.CANCEL).pack())
    )
    return InlineKeyboardMarkup(inline_keyboard=[row])


def _offer_keyboard(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=tr("cap.btn.create"), callback_data=NewCB(action=NewAction.CREATE).pack()
                ),
                InlineKeyboardButton(
                    text=tr("cap.btn.cancel"), callback_data=NewCB(action=NewAction.CANCEL).pack()
                ),
            ]
        ]
    )


# --- helpers -------------------------------------------------------------------------------------


def entity_hints(text: str | None, entities: list[MessageEntity] | None) -> list[tuple[str, str]]:
    """Phones and emails Telegram itself recognised in a text, as (kind, value)."""
    if not text or not entities:
        return []
    return [(e.type, e.extract_from(text)) for e in entities if e.type in ("phone_number", "email")]


def shared_phone(raw: str) -> str | None:
    """A shared contact's phone, normalised. Telegram often omits the "+" of the country code."""
    phone = communications.try_normalize_phone(raw)
    if phone is None and raw.strip().isdigit():
        phone = communications.try_normalize_phone("+" + raw.strip())
    return phone


def _fit(field: str, value: str) -> str:
    """A value derived from a longer text (a title or name found in a message) made to fit its
    column; nothing is lost, since the whole message is the lead's comment. What a person types
    as a field's value is read by the schema instead, and refused over the limit."""
    return value.strip()[: get_field(ItemType.LEAD, field).limit]


def _askable(field: str) -> bool:
    """A required field the form can ask for; a linked client is set from the card."""
    found = find_field(ItemType.LEAD, field)
    return found is not None and found.kind not in (Kind.REFERENCE, Kind.USER)


async def _ask(
    event: Message | CallbackQuery,
    tr: Translator,
    key: str,
    *,
    skip: bool,
    error: str | None = None,
    **params: Any,
) -> None:
    """A form question: a button press edits the question in place, a typed answer gets a new one;
    a rejected answer is explained in the same message as the repeated question."""
    text = tr(key, **params)
    if error:
        text = error + "\n\n" + text
    await show(event, text, _form_keyboard(tr, skip=skip))


# The lead's fields as the form names them when they are required.


def _field_label(tr: Translator, field: str) -> str:
    found = find_field(ItemType.LEAD, field)
    return field_label(tr, found) if found is not None else field  # a field no form asks


async def _form_done(state: FSMContext) -> None:
    """Leave the form but keep other pending offers (forwarded messages) in the FSM data."""
    await state.set_state(None)
    data = await state.get_data()
    for key in ("draft", "asking"):
        data.pop(key, None)
    await state.set_data(data)


async def show_with_notes(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    item_type: ItemType,
    item_id: int,
    notes: list[str],
) -> None:
    """The item's card with a few lines above it (what just happened)."""
    text, markup = await card_screen(session, user, tr, item_type, item_id)
    if notes:
        with_notes = "\n".join(notes) + "\n\n" + text
        if visible_length(with_notes) <= MESSAGE_LIMIT:
            text = with_notes
    await show(event, text, markup)


# --- the draft and its end -----------------------------------------------------------------------


DRAFT_FIELDS = ("title", "name", "second_name", "last_name", "company_title", "comment", "source")


def _values(draft: dict[str, Any]) -> dict[str, Any]:
    fields = {k: draft.get(k) for k in DRAFT_FIELDS}
    fields.update(draft.get("extra") or {})
    if draft.get("contact_id"):
        fields["contact_id"] = draft["contact_id"]
    return {k: v for k, v in fields.items() if v not in (None, "")}


async def _missing(session: AsyncSession, draft: dict[str, Any]) -> list[str]:
    """Required lead fields the draft leaves empty, without the "lead." prefix."""
    names = await missing_required(
        session,
        ItemType.LEAD,
        _values(draft),
        has_phone=bool(draft.get("phones")),
        has_email=bool(draft.get("emails")),
    )
    return [n.split(".", 1)[1] for n in names]


async def _finish(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    draft: dict[str, Any],
) -> None:
    missing = await _missing(session, draft)
    if missing:
        askable = [f for f in missing if _askable(f)]
        if not askable:
            # Nothing the user could type here: say clearly what blocks the lead.
            await _form_done(state)
            labels = ", ".join(_field_label(tr, f) for f in missing)
            await show(event, tr("cap.required_blocked", fields=esc(labels)))
            return
        field = askable[0]
        await state.set_state(NewLead.extra)
        await state.update_data(draft=draft, asking=field)
        await _ask(event, tr, N_("cap.ask_required"), skip=False, field=_field_label(tr, field))
        return
    await _form_done(state)
    lead = await _create(session, user, draft)
    notes = [tr("cap.created", ref=lead.ref)]
    if lead.is_return_customer:
        notes.append(tr("cap.repeat", client=esc(await _client_name(session, lead))))
    others = [
        d.ref
        for d in await clients_service.find_duplicates(
            session,
            user,
            phones=draft.get("phones") or [],
            emails=draft.get("emails") or [],
            exclude=lead,
            types=(ItemType.LEAD,),
        )
    ]
    if others:
        notes.append(tr("cap.same_as", refs=", ".join(others[:5])))
    await show_with_notes(event, session, user, tr, ItemType.LEAD, lead.id, notes)


async def _create(session: AsyncSession, user: User, draft: dict[str, Any]) -> Lead:
    fields = _values(draft)
    fields.setdefault("source", SOURCE_MANUAL)
    lead = await items_service.create_lead(
        session, user, **fields, phones=draft.get("phones") or [], emails=draft.get("emails") or []
    )
    note = (draft.get("note") or "").strip()
    if note:
        await comments_service.add_comment(
            session, user, ItemType.LEAD, lead.id, truncate(note, COMMENT_LIMIT)
        )
    return lead


async def _client_name(session: AsyncSession, lead: Lead) -> str:
    from crm_core.models.items import Company, Contact

    for model, cid in ((Contact, lead.contact_id), (Company, lead.company_id)):
        if cid:
            client = await session.get(model, cid)
            if client is not None:
                return f"{truncate(client.display_name, 80)} ({client.ref})"
    return ""


def _fallback_title(draft: dict[str, Any], tr: Translator) -> str:
    person = " ".join(p for p in (draft.get("name"), draft.get("second_name"), draft.get("last_name")) if p)
    return (
        person
        or draft.get("company_title")
        or next(iter(draft.get("phones") or []), None)
        or next(iter(draft.get("emails") or []), None)
        or tr("cap.untitled")
    )


def _names_of(ex: Extracted) -> dict[str, str]:
    """The person's and company's names extraction found, cut to their columns."""
    found = {
        "name": ex.name,
        "second_name": ex.second_name,
        "last_name": ex.last_name,
        "company_title": ex.company_title,
    }
    return {k: _fit(k, v) for k, v in found.items() if v}


# --- /new: the form ------------------------------------------------------------------------------


@router.message(Command("new"), F.chat.type == "private")
async def new_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    text = (command.args or "").strip()
    if not text:
        await state.clear()
        await state.set_state(NewLead.title)
        await state.update_data(draft={})
        await _ask(message, tr, N_("cap.ask_title"), skip=False)
        return
    # /new <free text>: one message is the whole lead; the name models run off the event loop.
    ex = await asyncio.to_thread(extract_lead, text, entity_hints(message.text, message.entities))
    draft: dict[str, Any] = {
        "title": _fit("title", ex.title),
        **_names_of(ex),
        "phones": ex.phones,
        "emails": ex.emails,
        "comment": _fit("comment", text),
        "source": SOURCE_MANUAL,
    }
    draft["title"] = draft["title"] or _fit("title", _fallback_title(draft, tr))
    await _finish(message, session, user, tr, state, draft)


@router.callback_query(MenuCB.filter(F.action == MenuAction.NEW))
async def new_button(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.clear()
    await state.set_state(NewLead.title)
    await state.update_data(draft={})
    await _ask(callback, tr, N_("cap.ask_title"), skip=False)


@router.message(NewLead.title, F.text)
async def got_title(message: Message, tr: Translator, state: FSMContext) -> None:
    try:
        reading = FieldContext.of(tr.language, None)
        title = get_field(ItemType.LEAD, "title").parse(message.text or "", reading)
    except ValidationFailed as exc:
        await _ask(message, tr, N_("cap.ask_title"), skip=False, error=describe(tr, exc))
        return
    draft = (await state.get_data()).get("draft") or {}
    draft["title"] = title
    await state.update_data(draft=draft)
    await state.set_state(NewLead.name)
    await _ask(message, tr, N_("cap.ask_name"), skip=True)


@router.message(NewLead.name, F.text)
async def got_name(message: Message, tr: Translator, state: FSMContext) -> None:
    try:
        name = get_field(ItemType.LEAD, "name").parse(message.text or "", FieldContext.of(tr.language, None))
    except ValidationFailed as exc:
        await _ask(message, tr, N_("cap.ask_name"), skip=True, error=describe(tr, exc))
        return
    draft = (await state.get_data()).get("draft") or {}
    draft["name"] = name
    await state.update_data(draft=draft)
    await state.set_state(NewLead.phone)
    await _ask(message, tr, N_("cap.ask_phone"), skip=True)


@router.message(NewLead.phone, F.text)
async def got_phone(message: Message, tr: Translator, state: FSMContext) -> None:
    typed = (message.text or "").strip()
    if communications.try_normalize_phone(typed) is None:
        error = tr("cap.bad_phone", value=esc(truncate(typed, 64)))
        await _ask(message, tr, N_("cap.ask_phone"), skip=True, error=error)
        return
    draft = (await state.get_data()).get("draft") or {}
    draft["phones"] = [typed[:255]]
    await state.update_data(draft=draft)
    await state.set_state(NewLead.email)
    await _ask(message, tr, N_("cap.ask_email"), skip=True)


@router.message(NewLead.email, F.text)
async def got_email(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    typed = (message.text or "").strip()
    email = communications.try_normalize_email(typed)
    if email is None:
        error = tr("cap.bad_email", value=esc(truncate(typed, 64)))
        await _ask(message, tr, N_("cap.ask_email"), skip=True, error=error)
        return
    draft = (await state.get_data()).get("draft") or {}
    draft["emails"] = [email]
    await _finish(message, session, user, tr, state, draft)


@router.message(NewLead.extra, F.text)
async def got_required(
    message: Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    options: HandlerOptions | None = None,
) -> None:
    data = await state.get_data()
    draft: dict[str, Any] = data.get("draft") or {}
    field = data.get("asking") or ""
    typed = (message.text or "").strip()
    label = _field_label(tr, field)
    found = find_field(ItemType.LEAD, field) if _askable(field) else None
    if found is None:
        await _ask(message, tr, N_("cap.ask_required"), skip=False, field=label)
        return
    try:
        value = found.parse(typed, field_context(user, options))
    except ValidationFailed as exc:
        await _ask(message, tr, N_("cap.ask_required"), skip=False, field=label, error=describe(tr, exc))
        return
    if field in ("phone", "email"):
        draft[f"{field}s"] = [*(draft.get(f"{field}s") or []), *value]
    elif isinstance(value, Money):
        draft.setdefault("extra", {})["amount"] = str(value.amount)
    elif field in DRAFT_FIELDS:
        draft[field] = value
    else:
        draft.setdefault("extra", {})[field] = value
    await _finish(message, session, user, tr, state, draft)


@router.callback_query(
    NewCB.filter(F.action == NewAction.SKIP), StateFilter(NewLead.name, NewLead.phone, NewLead.email)
)
async def skip_step(
    callback: CallbackQuery, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    current = await state.get_state()
    if current == NewLead.name.state:
        await state.set_state(NewLead.phone)
        await _ask(callback, tr, N_("cap.ask_phone"), skip=True)
    elif current == NewLead.phone.state:
        await state.set_state(NewLead.email)
        await _ask(callback, tr, N_("cap.ask_email"), skip=True)
    else:
        draft = (await state.get_data()).get("draft") or {}
        await _finish(callback, session, user, tr, state, draft)


@router.callback_query(NewCB.filter(F.action == NewAction.CANCEL))
async def cancel_form(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    current = await state.get_state()
    if current is not None and current.startswith(NewLead.__name__):
        await _form_done(state)
    await _pop_pending(state, callback)
    await show(callback, tr("cap.cancelled"))


async def _pop_pending(state: FSMContext, callback: CallbackQuery) -> dict[str, Any] | None:
    if callback.message is None:
        return None
    data = await state.get_data()
    pending: dict[str, Any] = dict(data.get(PENDING_KEY) or {})
    draft = pending.pop(str(callback.message.message_id), None)
    if draft is not None:
        await state.update_data({PENDING_KEY: pending})
    return draft


@router.callback_query(NewCB.filter(F.action == NewAction.CREATE))
async def create_from_forward(
    callback: CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    draft = await _pop_pending(state, callback)
    if draft is None:
        callback_answer.text = tr("error.stale_button")
        return
    if await state.get_state() is not None:
        await state.clear()  # the user left whatever form they were in for this lead
    await _finish(callback, session, user, tr, state, draft)


@router.callback_query(NewCB.filter())
async def stale_form_button(callback: CallbackQuery, tr: Translator, callback_answer: CallbackAnswer) -> None:
    # A button of a form that has already ended (or of another one).
    callback_answer.text = tr("error.stale_button")


# --- a forwarded message -------------------------------------------------------------------------


def _origin_fields(message: Message) -> dict[str, Any]:
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        sender = origin.sender_user
        return {"name": sender.first_name, "last_name": sender.last_name}
    if isinstance(origin, MessageOriginHiddenUser):
        return {"name": origin.sender_user_name}
    if isinstance(origin, MessageOriginChat):
        return {"company_title": origin.sender_chat.title or origin.author_signature}
    if isinstance(origin, MessageOriginChannel):
        return {"company_title": origin.chat.title, "name": origin.author_signature}
    return {}


async def _known_contact(session: AsyncSession, user: User, person: str) -> int | None:
    """The one contact (visible to the user) whose full name is exactly the sender's."""
    if not person:
        return None
    matches = await clients_service.search_clients(session, user, person, types=(ItemType.CONTACT,))
    exact = [m.item.id for m in matches if m.item.display_name.casefold() == person.casefold()]
    return exact[0] if len(exact) == 1 else None


@router.message(StateFilter(None), F.forward_origin, F.chat.type == "private")
async def forwarded(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    text = message.text or message.caption or ""
    entities = message.entities if message.text else message.caption_entities
    ex = await asyncio.to_thread(extract_lead, text, entity_hints(text, entities))
    draft: dict[str, Any] = {
        k: _fit(k, v) for k, v in _origin_fields(message).items() if isinstance(v, str) and v.strip()
    }
    # The sender is the client; a name in the text counts only when the sender is unknown.
    found = _names_of(ex)
    if not (draft.get("name") or draft.get("last_name")):
        draft.update({k: v for k, v in found.items() if k != "company_title"})
    if not draft.get("company_title") and found.get("company_title"):
        draft["company_title"] = found["company_title"]
    draft.update(phones=ex.phones, emails=ex.emails, note=text, source=SOURCE_TELEGRAM)
    draft["title"] = _fit("title", ex.title) or _fit("title", _fallback_title(draft, tr))
    person = " ".join(p for p in (draft.get("name"), draft.get("last_name")) if p)
    contact_id = await _known_contact(session, user, person)
    if contact_id:
        draft["contact_id"] = contact_id
    lines = [tr("cap.fwd_offer")]
    sender = person or draft.get("company_title")
    if sender:
        lines.append(tr("cap.fwd_from", name=esc(truncate(sender, 100))))
    if ex.phones:
        lines.append("📞 " + esc(truncate(", ".join(ex.phones), 200)))
    if ex.emails:
        lines.append("✉️ " + esc(truncate(", ".join(ex.emails), 200)))
    if contact_id:
        lines.append(tr("cap.fwd_known"))
    if text:
        lines.append(tr("cap.fwd_text", text=esc(truncate(text, PREVIEW_LIMIT))))
    offer = await message.answer("\n".join(lines), reply_markup=_offer_keyboard(tr))
    pending: dict[str, Any] = dict((await state.get_data()).get(PENDING_KEY) or {})
    pending[str(offer.message_id)] = draft
    # Only the newest few offers stay answerable; older buttons say they are out of date.
    kept = dict(list(pending.items())[-PENDING_KEPT:])
    await state.update_data({PENDING_KEY: kept})


# --- a shared contact ----------------------------------------------------------------------------


@router.message(StateFilter(None), F.contact, F.chat.type == "private")
async def shared_contact(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    contact = message.contact
    assert contact is not None
    phone = shared_phone(contact.phone_number or "")
    draft: dict[str, Any] = {
        "name": _fit("name", contact.first_name or "") or None,
        "last_name": _fit("last_name", contact.last_name or "") or None,
        "phones": [phone] if phone else [],
        "source": SOURCE_TELEGRAM,
    }
    draft["title"] = _fit("title", _fallback_title(draft, tr))
    # A known phone links the lead to its contact (crm_core does that): a repeat lead.
    await _finish(message, session, user, tr, state, draft)


__all__ = [
    "NewAction",
    "NewCB",
    "NewLead",
    "entity_hints",
    "router",
    "shared_phone",
    "show_with_notes",
]
