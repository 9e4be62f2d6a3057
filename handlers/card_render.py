"""The item card: its header text and keyboard, shared by every feature that shows an item.

Public API for other features:
  card_screen(session, user, tr, item_type, item_id) -> (text, markup)   access-checked
  open_card(event, session, user, tr, item_type, item_id)                 edit in place / send
  load_visible(session, user, item_type, item_id, for_edit=False)         NotFound for no access
  format_money(amount, currency, language), type_label(tr, item_type), item_label(tr, item),
  stage_progress(tr, stages, stage), user_name(user)
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core import formatting
from crm_core.clock import utcnow, zone_of
from crm_core.errors import AccessDenied, NotFound
from crm_core.models.items import (
    AnyItem,
    CommKind,
    Company,
    Contact,
    Deal,
    ItemType,
    Lead,
    Stage,
    StageSemantics,
)
from crm_core.models.timeline import EventType
from crm_core.models.users import User
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.cards_queries import CardExtras, card_extras, client_chats, users_by_id
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB
from handlers.clients_notify import conversation_rows
from handlers.open_card import note_card_shown
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import N_, Translator
from handlers.texts.names import ACTIVITY_TYPE_NAMES, EVENT_NAMES, ITEM_TYPE_NAMES, pipeline_name, stage_name
from handlers.ui import show

TYPE_ICONS = {ItemType.LEAD: "🎯", ItemType.DEAL: "💼", ItemType.CONTACT: "👤", ItemType.COMPANY: "🏢"}
# Signs people type for a currency (cards.py reads "150 000 ₽"); display goes through Babel.
CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€", "KZT": "₸", "UAH": "₴", "BYN": "Br", "CNY": "¥"}
TITLE_LIMIT = 200
PINNED_LIMIT = 7
PINNED_TEXT_LIMIT = 200
COMMS_SHOWN = 5
LINKS_SHOWN = 5
OBSERVERS_SHOWN = 10


# --- small formatting helpers ------------------------------------------------------------------


def type_label(tr: Translator, item_type: ItemType | str) -> str:
    return tr(ITEM_TYPE_NAMES[ItemType(item_type)])


def user_name(user: User | None) -> str:
    """Escaped display name of a colleague."""
    if user is None:
        return "—"
    return esc(truncate(user.full_name or (f"@{user.username}" if user.username else f"#{user.id}"), 60))


def item_label(tr: Translator, item: AnyItem) -> str:
    """Escaped "🎯 L-12 Title" for lists and buttons."""
    return f"{TYPE_ICONS[item.ITEM_TYPE]} {item.ref} {esc(truncate(item.display_name, 60))}"


def format_money(amount: Decimal | int | float | None, currency: str | None, language: str) -> str:
    """Kept for the features importing it: Babel's "150 000,5 ₽" (ru) / "₽150,000.50" (en)."""
    return formatting.format_money(amount, currency, language)


def format_dt(value: datetime, user: User) -> str:
    """A UTC moment in the user's timezone and locale (kept for the features importing it)."""
    return formatting.format_datetime(value, zone_of(user.timezone), user.language)


def stage_progress(tr: Translator, stages: list[Stage], stage: Stage | None) -> str:
    """●●●○○ and the stage name; won/lost marked."""
    if stage is None:
        return "—"
    name = esc(stage_name(tr, stage))
    process = [s for s in stages if s.semantics == StageSemantics.PROCESS]
    if stage.semantics == StageSemantics.SUCCESS:
        return f"{'●' * len(process)}● ✅ {name}"
    if stage.semantics == StageSemantics.FAILURE:
        return f"❌ {name}"
    ids = [s.id for s in process]
    pos = ids.index(stage.id) + 1 if stage.id in ids else 1
    return f"{'●' * pos}{'○' * (len(process) + 1 - pos)} {name}"


# --- loading -------------------------------------------------------------------------------------


async def load_visible(
    session: AsyncSession, user: User, item_type: ItemType | str, item_id: int, *, for_edit: bool = False
) -> AnyItem:
    """The item if the user may see it. No access looks exactly like no item, so a typed ref or
    forged button never reveals that something exists."""
    try:
        return await items_service.get_item(session, user, ItemType(item_type), item_id, for_edit=for_edit)
    except AccessDenied as exc:
        raise NotFound(item_type=str(item_type), item_id=item_id) from exc


# --- the header --------------------------------------------------------------------------------


async def _client_line(session: AsyncSession, tr: Translator, item: Lead | Deal) -> str | None:
    parts: list[str] = []
    if item.contact_id:
        contact = await session.get(Contact, item.contact_id)
        if contact is not None and contact.deleted_at is None:
            parts.append(f"👤 {esc(truncate(contact.display_name, 80))} ({contact.ref})")
    if item.company_id:
        company = await session.get(Company, item.company_id)
        if company is not None and company.deleted_at is None:
            parts.append(f"🏢 {esc(truncate(company.display_name, 80))} ({company.ref})")
    if not parts and isinstance(item, Lead):
        # A lead keeps its client's details on itself until it is linked or converted.
        person = " ".join(p for p in (item.name, item.second_name, item.last_name) if p)
        if person:
            parts.append(f"👤 {esc(truncate(person, 80))}")
        if item.company_title:
            parts.append(f"🏢 {esc(truncate(item.company_title, 80))}")
    return tr("card.client", client=", ".join(parts)) if parts else None


async def _links_line(session: AsyncSession, tr: Translator, item: AnyItem) -> str | None:
    if isinstance(item, Contact):
        ids = await items_service.get_company_ids(session, item.id)
        model: type[Contact] | type[Company] = Company
        key = N_("card.companies")
    elif isinstance(item, Company):
        ids = await items_service.get_contact_ids(session, item.id)
        model = Contact
        key = N_("card.contacts")
    else:
        return None
    names = []
    for linked_id in ids[:LINKS_SHOWN]:
        linked = await session.get(model, linked_id)
        if linked is not None and linked.deleted_at is None:
            names.append(f"{esc(truncate(linked.display_name, 60))} ({linked.ref})")
    if not names:
        return None
    more = f" +{len(ids) - LINKS_SHOWN}" if len(ids) > LINKS_SHOWN else ""
    return tr(key, items=", ".join(names) + more)


def _activity_line(tr: Translator, user: User, nearest: Any) -> str:
    if nearest is None:
        return tr("card.todo_none")
    kind = tr(ACTIVITY_TYPE_NAMES[nearest.type])
    subject = f" «{esc(truncate(nearest.subject, 80))}»" if nearest.subject else ""
    overdue = f" {tr('card.overdue')}" if nearest.deadline < utcnow() else ""
    return tr("card.todo", activity=f"{kind}{subject} — {format_dt(nearest.deadline, user)}{overdue}")


def _pinned_blocks(tr: Translator, events: list[Any]) -> list[str]:
    blocks = []
    for event in events:
        payload: dict[str, Any] = event.payload or {}
        if event.event_type == EventType.COMMENT_ADDED:
            text = str(payload.get("text") or "")
        else:
            text = tr(EVENT_NAMES[event.event_type]) if event.event_type else ""
        blocks.append(f"📌 {esc(truncate(text.replace(chr(10), ' '), PINNED_TEXT_LIMIT))}")
    return blocks


async def card_text(
    session: AsyncSession, user: User, tr: Translator, item: AnyItem, extras: CardExtras
) -> str:
    """The header of an already access-checked item, with what card_extras read of it."""
    head = f"{TYPE_ICONS[item.ITEM_TYPE]} <b>{type_label(tr, item.ITEM_TYPE)} {item.ref}</b>"
    if isinstance(item, Lead) and item.is_return_customer:
        head += f" · {tr('card.repeat_lead')}"
    lines = [head, f"<b>{esc(truncate(item.display_name, TITLE_LIMIT))}</b>"]

    if isinstance(item, Lead | Deal):
        stages = list(await pipelines_service.list_stages(session, item.pipeline_id))
        stage = next((s for s in stages if s.id == item.stage_id), None)
        stage_text = stage_progress(tr, stages, stage)
        if isinstance(item, Deal):
            pipelines = await pipelines_service.list_pipelines(session, ItemType.DEAL)
            if len(pipelines) > 1:
                pipeline = next((p for p in pipelines if p.id == item.pipeline_id), None)
                if pipeline is not None:
                    stage_text += f" ({esc(pipeline_name(tr, pipeline))})"
        lines.append(tr("card.stage", stage=stage_text))
        client = await _client_line(session, tr, item)
        if client:
            lines.append(client)
        if item.amount is not None:
            lines.append(tr("card.amount", amount=format_money(item.amount, item.currency, tr.language)))
    links = await _links_line(session, tr, item)
    if links:
        lines.append(links)

    observer_ids = extras.observer_ids
    people = await users_by_id(session, [item.responsible_id, *observer_ids])
    lines.append(tr("card.responsible", name=user_name(people.get(item.responsible_id))))
    if observer_ids:
        names = ", ".join(user_name(people.get(u)) for u in observer_ids[:OBSERVERS_SHOWN])
        if len(observer_ids) > OBSERVERS_SHOWN:
            names += f" +{len(observer_ids) - OBSERVERS_SHOWN}"
        lines.append(tr("card.observers", names=names))

    phones = [c.value for c in extras.comms if c.kind == CommKind.PHONE]
    emails = [c.value for c in extras.comms if c.kind == CommKind.EMAIL]
    if phones:
        lines.append("📞 " + ", ".join(esc(truncate(p, 40)) for p in phones[:COMMS_SHOWN]))
    if emails:
        lines.append("✉️ " + ", ".join(esc(truncate(e, 80)) for e in emails[:COMMS_SHOWN]))

    lines.append("")
    lines.append(_activity_line(tr, user, extras.nearest_open))

    pinned = _pinned_blocks(tr, extras.pinned)
    text = "\n".join(lines)
    if pinned:
        text += "\n\n" + tr("card.pinned") + "\n" + "\n".join(pinned)
    # A safety net: drop pinned records from the end rather than fail to show the card.
    while visible_length(text) > MESSAGE_LIMIT and pinned:
        pinned.pop()
        text = "\n".join(lines) + ("\n\n" + tr("card.pinned") + "\n" + "\n".join(pinned) if pinned else "")
    return text


# --- the keyboard -------------------------------------------------------------------------------


def card_keyboard(tr: Translator, item: AnyItem, *, converted: bool = False) -> InlineKeyboardMarkup:
    """The card's buttons, in lists of the caller's own (callers add rows)."""
    rows = _card_rows(tr.language, item.ITEM_TYPE, item.id, converted)
    return InlineKeyboardMarkup(inline_keyboard=[list(row) for row in rows])


@lru_cache(maxsize=4096)
def _card_rows(
    language: str, item_type: ItemType, item_id: int, converted: bool
) -> tuple[tuple[InlineKeyboardButton, ...], ...]:
    """Built once per card and language and then reused: thirteen buttons, each a validated model
    with packed callback data, were 2% of an update's CPU (bench.throughput, py-spy)."""
    tr = Translator(language)

    def btn(key: str, action: CardAction) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=tr(key), callback_data=CardCB(type=item_type, id=item_id, action=action).pack()
        )

    staged = item_type.has_stages
    first = [btn(N_("card.btn.activity"), CardAction.ACTIVITY)]
    if staged:
        first.insert(0, btn(N_("card.btn.stage"), CardAction.STAGE))
    third = [btn(N_("card.btn.task"), CardAction.TASK), btn(N_("mail.btn.card"), CardAction.EMAIL)]
    if item_type == ItemType.LEAD and not converted:
        third.append(btn(N_("card.btn.convert"), CardAction.CONVERT))
    fourth = [btn(N_("card.btn.fields"), CardAction.FIELDS)]
    if staged:
        fourth.insert(0, btn(N_("card.btn.client"), CardAction.CLIENT))
    menu = InlineKeyboardButton(text=tr("card.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack())
    return (
        tuple(first),
        (btn(N_("card.btn.comment"), CardAction.COMMENT), btn(N_("card.btn.timeline"), CardAction.TIMELINE)),
        tuple(third),
        tuple(fourth),
        (btn(N_("card.btn.people"), CardAction.PEOPLE), btn(N_("card.btn.more"), CardAction.MORE)),
        (menu,),
    )


def back_to_card(tr: Translator, item_type: ItemType, item_id: int) -> InlineKeyboardButton:
    """A "⬅️ Back" button returning to the card (for screens reached from it)."""
    return InlineKeyboardButton(
        text=tr("menu.back"), callback_data=CardCB(type=item_type, id=item_id, action=CardAction.OPEN).pack()
    )


# --- public entry points --------------------------------------------------------------------------


async def card_screen(
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, item_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """The card of an item the user may see (NotFound otherwise, also for no access)."""
    item = await load_visible(session, user, item_type, item_id)
    extras = await card_extras(session, user, item, pinned=PINNED_LIMIT)
    note_card_shown(item.ITEM_TYPE, item.id)  # the person's open card (handlers.open_card)
    markup = card_keyboard(tr, item, converted=extras.converted)
    chats = await client_chats(session, extras.chat_ids)
    markup.inline_keyboard[-1:-1] = await conversation_rows(session, tr, chats)  # client chats to answer
    return await card_text(session, user, tr, item, extras), markup


async def open_card(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    item_type: ItemType,
    item_id: int,
) -> None:
    """Show the card: edited in place for a button press, sent for a message."""
    text, markup = await card_screen(session, user, tr, item_type, item_id)
    await show(event, text, markup)


__all__ = [
    "TYPE_ICONS",
    "back_to_card",
    "card_keyboard",
    "card_screen",
    "card_text",
    "format_dt",
    "format_money",
    "item_label",
    "load_visible",
    "open_card",
    "stage_progress",
    "type_label",
    "user_name",
]
