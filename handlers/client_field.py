"""The client field of a lead or deal: type a name, phone or email, pick a match or create a
contact/company from what was typed; the item is linked and its card updates (a lead linked to
an existing client becomes a repeat lead: crm_core recomputes that on save)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import AnyItem, Company, Contact, ItemType, Lead
from crm_core.models.users import User
from crm_core.services import clients as clients_service
from crm_core.services import items as items_service
from crm_core.services.extract import extract_lead
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.capture import entity_hints, show_with_notes
from handlers.card_render import load_visible
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.ui import show

router = Router(name="client_field")

MATCHES_SHOWN = 8
LABEL_LIMIT = 40
QUERY_LIMIT = 200
CLIENT_TYPES = {"contact": ItemType.CONTACT, "company": ItemType.COMPANY}
ICONS = {ItemType.CONTACT: "👤", ItemType.COMPANY: "🏢"}


class ClientForm(StatesGroup):
    query = State()


class ClientAction(StrEnum):
    PICK = "pick"  # a match: ct/cid
    NEW = "new"  # create a client of type ct from the typed text
    UNLINK = "unlink"  # the client of type ct
    CANCEL = "cancel"


class ClientCB(Unpacked, CallbackData, prefix="cl"):
    action: ClientAction
    it: ItemType  # the lead or deal whose client this is
    iid: int
    ct: str = ""  # contact | company
    cid: int = 0


def _client_type(value: str) -> ItemType | None:
    return CLIENT_TYPES.get(value)


async def _load(session: AsyncSession, user: User, item_type: ItemType, item_id: int) -> AnyItem | None:
    """The lead/deal the user may edit (NotFound otherwise); None for a type without a client."""
    if item_type not in (ItemType.LEAD, ItemType.DEAL):
        return None
    return await load_visible(session, user, item_type, item_id, for_edit=True)


async def _current_client(session: AsyncSession, item: Any) -> tuple[Contact | None, Company | None]:
    contact = await session.get(Contact, item.contact_id) if item.contact_id else None
    company = await session.get(Company, item.company_id) if item.company_id else None
    return (
        contact if contact is not None and contact.deleted_at is None else None,
        company if company is not None and company.deleted_at is None else None,
    )


def _button(
    tr: Translator, text: str, item: AnyItem, action: ClientAction, ct: str = "", cid: int = 0
) -> list[InlineKeyboardButton]:
    data = ClientCB(action=action, it=item.ITEM_TYPE, iid=item.id, ct=ct, cid=cid).pack()
    return [InlineKeyboardButton(text=text, callback_data=data)]


def _back(tr: Translator, item: AnyItem) -> list[InlineKeyboardButton]:
    # Not a plain "open card": leaving must also end the typing state.
    return _button(tr, tr("cl.btn.back"), item, ClientAction.CANCEL)


async def _prompt(session: AsyncSession, tr: Translator, item: AnyItem) -> tuple[str, InlineKeyboardMarkup]:
    contact, company = await _current_client(session, item)
    lines = [tr("cl.title", ref=item.ref, title=esc(truncate(item.display_name, 100)))]
    rows = []
    if contact is not None:
        lines.append(f"{ICONS[ItemType.CONTACT]} {esc(truncate(contact.display_name, 80))} ({contact.ref})")
        rows.append(_button(tr, tr("cl.btn.unlink_contact"), item, ClientAction.UNLINK, "contact"))
    if company is not None:
        lines.append(f"{ICONS[ItemType.COMPANY]} {esc(truncate(company.display_name, 80))} ({company.ref})")
        rows.append(_button(tr, tr("cl.btn.unlink_company"), item, ClientAction.UNLINK, "company"))
    if contact is None and company is None:
        lines.append(tr("cl.none"))
    lines.append("")
    lines.append(tr("cl.ask"))
    rows.append(_back(tr, item))
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


@router.callback_query(CardCB.filter(F.action == CardAction.CLIENT))
async def open_client_field(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    item = await _load(session, user, callback_data.type, callback_data.id)
    if item is None:
        callback_answer.text = tr("error.stale_button")
        return
    await state.set_state(ClientForm.query)
    await state.set_data({"it": item.ITEM_TYPE.value, "iid": item.id})
    text, markup = await _prompt(session, tr, item)
    await show(callback, text, markup)


@router.message(ClientForm.query, F.text)
async def typed_query(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    data = await state.get_data()
    item = await _load(session, user, ItemType(data["it"]), int(data["iid"]))
    if item is None:
        await state.clear()
        return
    query = (message.text or "").strip()[:QUERY_LIMIT]
    await state.update_data(query=query, hints=entity_hints(message.text, message.entities))
    matches = await clients_service.search_clients(session, user, query, limit=MATCHES_SHOWN)
    rows = []
    for match in matches:
        label = f"{ICONS[match.item_type]} {truncate(match.item.display_name, LABEL_LIMIT)} · {match.ref}"
        rows.append(_button(tr, label, item, ClientAction.PICK, match.item_type.value, match.item.id))
    short = truncate(query, LABEL_LIMIT)
    rows.append(_button(tr, tr("cl.btn.new_contact", text=short), item, ClientAction.NEW, "contact"))
    rows.append(_button(tr, tr("cl.btn.new_company", text=short), item, ClientAction.NEW, "company"))
    rows.append(_button(tr, tr("cl.btn.cancel"), item, ClientAction.CANCEL))
    key = N_("cl.found") if matches else N_("cl.not_found")
    text = tr(key, query=esc(truncate(query, 100)), count=len(matches)) + "\n" + tr("cl.ask_again")
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


async def _link(
    session: AsyncSession, user: User, item: AnyItem, client_type: ItemType, client_id: int
) -> None:
    field = "contact_id" if client_type == ItemType.CONTACT else "company_id"
    await items_service.update_item(session, user, item, {field: client_id})


async def _linked_notes(tr: Translator, item: AnyItem, client: AnyItem) -> list[str]:
    notes = [tr("cl.linked", client=esc(truncate(client.display_name, 80)), ref=client.ref)]
    if isinstance(item, Lead) and item.is_return_customer:
        notes.append(tr("cl.repeat"))
    return notes


@router.callback_query(ClientCB.filter(F.action == ClientAction.PICK))
async def pick(
    callback: CallbackQuery,
    callback_data: ClientCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    client_type = _client_type(callback_data.ct)
    item = await _load(session, user, callback_data.it, callback_data.iid)
    if item is None or client_type is None:
        callback_answer.text = tr("error.stale_button")
        return
    # The client must be one the user may see, whatever the button says.
    client = await load_visible(session, user, client_type, callback_data.cid)
    await _link(session, user, item, client_type, client.id)
    await state.clear()
    notes = await _linked_notes(tr, item, client)
    await show_with_notes(callback, session, user, tr, item.ITEM_TYPE, item.id, notes)


@router.callback_query(ClientCB.filter(F.action == ClientAction.NEW))
async def create_new(
    callback: CallbackQuery,
    callback_data: ClientCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    client_type = _client_type(callback_data.ct)
    item = await _load(session, user, callback_data.it, callback_data.iid)
    data = await state.get_data()
    query = data.get("query") or ""
    if (
        item is None
        or client_type is None
        or await state.get_state() != ClientForm.query.state
        or data.get("iid") != item.id
        or not query
    ):
        callback_answer.text = tr("error.stale_button")
        return
    # "Ivan Petrov +7 999 ..." gives a named contact with that phone; a bare phone names it too.
    ex = extract_lead(query, [tuple(h) for h in data.get("hints") or []])  # type: ignore[misc]
    name = ex.title or ex.fallback_title or query
    if client_type == ItemType.CONTACT:
        person = {"name": ex.name, "second_name": ex.second_name, "last_name": ex.last_name}
        contact, _ = await clients_service.create_client(
            session,
            user,
            contact=person if ex.person else {"name": name[:100]},
            contact_phones=ex.phones,
            contact_emails=ex.emails,
        )
        client: AnyItem = contact  # type: ignore[assignment]
    else:
        _, company = await clients_service.create_client(
            session,
            user,
            company={"title": (ex.company_title or name)[:255]},
            company_phones=ex.phones,
            company_emails=ex.emails,
        )
        client = company  # type: ignore[assignment]
    await _link(session, user, item, client_type, client.id)
    await state.clear()
    notes = [tr("cl.created", ref=client.ref), *await _linked_notes(tr, item, client)]
    await show_with_notes(callback, session, user, tr, item.ITEM_TYPE, item.id, notes)


@router.callback_query(ClientCB.filter(F.action == ClientAction.UNLINK))
async def unlink(
    callback: CallbackQuery,
    callback_data: ClientCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    client_type = _client_type(callback_data.ct)
    item = await _load(session, user, callback_data.it, callback_data.iid)
    if item is None or client_type is None:
        callback_answer.text = tr("error.stale_button")
        return
    field = "contact_id" if client_type == ItemType.CONTACT else "company_id"
    await items_service.update_item(session, user, item, {field: None})
    await state.set_state(ClientForm.query)
    await state.set_data({"it": item.ITEM_TYPE.value, "iid": item.id})
    text, markup = await _prompt(session, tr, item)
    await show(callback, text, markup)


@router.callback_query(ClientCB.filter(F.action == ClientAction.CANCEL))
async def cancel(
    callback: CallbackQuery,
    callback_data: ClientCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    if await state.get_state() == ClientForm.query.state:
        await state.clear()
    await show_with_notes(callback, session, user, tr, callback_data.it, callback_data.iid, [])


__all__ = ["ClientAction", "ClientCB", "ClientForm", "router"]
