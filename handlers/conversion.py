"""Lead conversion from the card: a scheme in at most two taps, the deal pipeline when there are
several, required fields asked one by one, then crm_core converts (all or nothing) and the result
links to the new items. A name the new contact or company needs and the lead lacks (crm_core's
conversion.missing_names) is asked first, the whole name in one typed message."""

from __future__ import annotations

import asyncio
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

from crm_core.errors import LeadAlreadyConverted, RequiredFieldsMissing
from crm_core.models.items import CommKind, ItemType, Lead
from crm_core.models.users import User
from crm_core.services import conversion as conversion_service
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.cards_queries import lead_is_converted
from crm_core.services.conversion import Scheme
from crm_core.services.names import parse_person_name
from handlers.callbacks import CardAction, CardCB
from handlers.capture import parse_amount
from handlers.card_render import load_visible
from handlers.render import esc, truncate
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="conversion")

FIRST_TAP = (Scheme.DEAL_CONTACT_COMPANY, Scheme.DEAL, Scheme.CONTACT, Scheme.COMPANY)
MORE = (Scheme.CONTACT_COMPANY, Scheme.DEAL_CONTACT, Scheme.DEAL_COMPANY)
TEXT_LIMITS = {
    "title": 255,
    "name": 100,
    "second_name": 100,
    "last_name": 100,
    "position": 255,
    "source": 50,
    "comment": 10_000,
    "industry": 100,
}
DATE_FIELDS = {"begin_date", "close_date"}
# Required fields of the new items that can be typed here; a missing link (deal.contact_id) can't.
ASKABLE = set(TEXT_LIMITS) | DATE_FIELDS | {"amount", "phone", "email"}
SCHEME_KEYS = {
    Scheme.DEAL: "cv.s.deal",
    Scheme.CONTACT: "cv.s.contact",
    Scheme.COMPANY: "cv.s.company",
    Scheme.CONTACT_COMPANY: "cv.s.contact_company",
    Scheme.DEAL_CONTACT: "cv.s.deal_contact",
    Scheme.DEAL_COMPANY: "cv.s.deal_company",
    Scheme.DEAL_CONTACT_COMPANY: "cv.s.deal_contact_company",
}
TYPE_KEYS = {
    "lead": "cv.type.lead",
    "deal": "cv.type.deal",
    "contact": "cv.type.contact",
    "company": "cv.type.company",
}
FIELD_KEYS = {
    "title": "cv.f.title",
    "name": "cv.f.name",
    "second_name": "cv.f.second_name",
    "last_name": "cv.f.last_name",
    "company_title": "cv.f.company_title",
    "position": "cv.f.position",
    "source": "cv.f.source",
    "comment": "cv.f.comment",
    "amount": "cv.f.amount",
    "phone": "cv.f.phone",
    "email": "cv.f.email",
    "contact_id": "cv.f.contact_id",
    "company_id": "cv.f.company_id",
    "industry": "cv.f.industry",
    "begin_date": "cv.f.begin_date",
    "close_date": "cv.f.close_date",
}
ICONS = {ItemType.DEAL: "💼", ItemType.CONTACT: "👤", ItemType.COMPANY: "🏢", ItemType.LEAD: "🎯"}


class ConvAction(StrEnum):
    MORE = "more"  # the other schemes
    BACK = "back"  # to the first schemes
    SCHEME = "scheme"  # convert by scheme s (into pipeline p)
    CANCEL = "cancel"


class ConvCB(CallbackData, prefix="cv"):
    action: ConvAction
    lead: int
    s: str = ""  # a Scheme value
    p: int = 0  # the chosen deal pipeline (0: not chosen yet)


class ConvertForm(StatesGroup):
    field = State()


def _btn(text: str, data: CallbackData) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack())]


def _card_btn(tr: Translator, lead_id: int) -> list[InlineKeyboardButton]:
    return _btn(tr("cv.btn.back"), CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.OPEN))


def _schemes_screen(tr: Translator, lead: Lead, *, more: bool) -> tuple[str, InlineKeyboardMarkup]:
    rows = []
    for scheme in MORE if more else FIRST_TAP:
        rows.append(
            _btn(tr(SCHEME_KEYS[scheme]), ConvCB(action=ConvAction.SCHEME, lead=lead.id, s=scheme.value))
        )
    if more:
        rows.append(_btn(tr("cv.btn.back"), ConvCB(action=ConvAction.BACK, lead=lead.id)))
    else:
        rows.append(_btn(tr("cv.btn.more"), ConvCB(action=ConvAction.MORE, lead=lead.id)))
        rows.append(_card_btn(tr, lead.id))
    text = tr("cv.title", ref=lead.ref, title=esc(truncate(lead.display_name, 100)))
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _lead(session: AsyncSession, user: User, lead_id: int) -> Lead:
    """A lead the user may edit; NotFound for anything else, forged ids included."""
    return await load_visible(session, user, ItemType.LEAD, lead_id, for_edit=True)  # type: ignore[return-value]


@router.callback_query(CardCB.filter(F.action == CardAction.CONVERT))
async def convert_button(
    callback: CallbackQuery,
    callback_data: CardCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    callback_answer: CallbackAnswer,
) -> None:
    if callback_data.type != ItemType.LEAD:
        callback_answer.text = tr("error.stale_button")
        return
    lead = await _lead(session, user, callback_data.id)
    if await lead_is_converted(session, lead):
        callback_answer.text = tr("cv.already")
        callback_answer.show_alert = True
        return
    await show(callback, *_schemes_screen(tr, lead, more=False))


@router.callback_query(ConvCB.filter(F.action.in_({ConvAction.MORE, ConvAction.BACK})))
async def more_or_back(
    callback: CallbackQuery, callback_data: ConvCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    lead = await _lead(session, user, callback_data.lead)
    await show(callback, *_schemes_screen(tr, lead, more=callback_data.action == ConvAction.MORE))


@router.callback_query(ConvCB.filter(F.action == ConvAction.SCHEME))
async def scheme_chosen(
    callback: CallbackQuery,
    callback_data: ConvCB,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:
    try:
        scheme = Scheme(callback_data.s)
    except ValueError:
        callback_answer.text = tr("error.stale_button")
        return
    lead = await _lead(session, user, callback_data.lead)
    pipeline_id = callback_data.p or None
    if ItemType.DEAL in scheme.targets and pipeline_id is None:
        pipelines = await pipelines_service.list_pipelines(session, ItemType.DEAL)
        if len(pipelines) > 1:
            rows = [
                _btn(
                    truncate(p.name(tr.language), 60),
                    ConvCB(action=ConvAction.SCHEME, lead=lead.id, s=scheme.value, p=p.id),
                )
                for p in pipelines
            ]
            rows.append(_btn(tr("cv.btn.back"), ConvCB(action=ConvAction.BACK, lead=lead.id)))
            text = tr("cv.pipeline", ref=lead.ref, scheme=tr(SCHEME_KEYS[scheme]))
            await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))
            return
    elif pipeline_id is not None:
        await pipelines_service.get_pipeline(session, pipeline_id)  # a forged id is refused
    await _run(callback, session, user, tr, state, lead.id, scheme, pipeline_id, {})


async def _run(
    event: Message | CallbackQuery,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    lead_id: int,
    scheme: Scheme,
    pipeline_id: int | None,
    extra: dict[str, dict[str, Any]],
) -> None:
    try:
        result = await conversion_service.convert_lead(
            session, user, lead_id, scheme, extra_fields=extra, deal_pipeline_id=pipeline_id
        )
    except RequiredFieldsMissing as exc:
        # Checked before anything is written: nothing to undo, ask for what is missing.
        missing = list(exc.fields)
        blocked = [f for f in missing if f.split(".", 1)[-1] not in ASKABLE]
        if blocked:
            await state.clear()
            labels = ", ".join(_label(tr, f) for f in missing)
            await show(
                event,
                tr("cv.blocked", fields=esc(labels)),
                InlineKeyboardMarkup(inline_keyboard=[_card_btn(tr, lead_id)]),
            )
            return
        await state.set_state(ConvertForm.field)
        await state.set_data(
            {"lead": lead_id, "scheme": scheme.value, "pipe": pipeline_id, "extra": extra, "missing": missing}
        )
        await _ask(event, tr, lead_id, missing[0], total=len(missing))
        return
    except LeadAlreadyConverted:
        await state.clear()
        await show(event, tr("cv.already"), InlineKeyboardMarkup(inline_keyboard=[_card_btn(tr, lead_id)]))
        return
    await state.clear()
    lines = [tr("cv.done", ref=result.lead.ref)]
    rows = []
    for item in (result.deal, result.contact, result.company):
        if item is None:
            continue
        key = "cv.reused" if item.ref in result.reused else "cv.created"
        name = esc(truncate(item.display_name, 80))
        lines.append(f"{ICONS[item.ITEM_TYPE]} " + tr(key, ref=item.ref, title=name))
        rows.append(
            _btn(
                f"{ICONS[item.ITEM_TYPE]} {item.ref} · {truncate(item.display_name, 40)}",
                CardCB(type=item.ITEM_TYPE, id=item.id, action=CardAction.OPEN),
            )
        )
    rows.append(_btn(f"{ICONS[ItemType.LEAD]} {result.lead.ref}", CardCB(type=ItemType.LEAD, id=lead_id)))
    await show(event, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


def _label(tr: Translator, name: str) -> str:
    """ "deal.amount" -> "Deal: amount" in the user's language."""
    item_type, _, field = name.partition(".")
    item = tr(TYPE_KEYS[item_type]) if item_type in TYPE_KEYS else item_type
    return tr("cv.field", item=item, field=tr(FIELD_KEYS[field]) if field in FIELD_KEYS else field)


async def _ask(
    event: Message | CallbackQuery,
    tr: Translator,
    lead_id: int,
    name: str,
    *,
    total: int,
    error: str | None = None,
) -> None:
    cancel_row = _btn(tr("cv.btn.cancel"), ConvCB(action=ConvAction.CANCEL, lead=lead_id))
    markup = InlineKeyboardMarkup(inline_keyboard=[cancel_row])
    if name == conversion_service.CONTACT_NAME:
        text = tr("names.ask_contact", left=total)
    elif name == conversion_service.COMPANY_TITLE:
        text = tr("names.ask_company", left=total)
    elif name.split(".", 1)[-1] in DATE_FIELDS:
        text = tr("cv.ask_date", field=_label(tr, name), left=total)
    else:
        text = tr("cv.ask", field=_label(tr, name), left=total)
    await show(event, f"{error}\n\n{text}" if error else text, markup)


def parse_date(typed: str, today: date) -> str | None:
    """ "28.11.2025", "28.11" (this year) or "2025-11-28" as an ISO date, or None."""
    typed = typed.strip()
    try:
        return date.fromisoformat(typed).isoformat()
    except ValueError:
        pass
    m = re.fullmatch(r"(\d{1,2})[./](\d{1,2})(?:[./](\d{2}|\d{4}))?", typed)
    if not m:
        return None
    day, month = int(m.group(1)), int(m.group(2))
    year = int(m.group(3)) if m.group(3) else today.year
    if year < 100:
        year += 2000
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


# A command (/cancel, /menu...) leaves the form to its own handler instead of being a value.
@router.message(ConvertForm.field, F.text, ~F.text.startswith("/"))
async def typed_field(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    data = await state.get_data()
    missing: list[str] = list(data.get("missing") or [])
    if not missing:
        await state.clear()
        return
    name = missing[0]
    item_type, _, field = name.partition(".")
    typed = (message.text or "").strip()
    extra: dict[str, dict[str, Any]] = data.get("extra") or {}
    lead = await _lead(session, user, int(data["lead"]))
    value: str | None
    if name == conversion_service.CONTACT_NAME:
        # One typed message is the whole name: "Петров Иван Сергеевич" -> its three parts.
        person = await asyncio.to_thread(parse_person_name, typed[:300])
        if not person:
            await _ask(message, tr, lead.id, name, total=len(missing))
            return
        parts = {"name": person.name, "second_name": person.second_name, "last_name": person.last_name}
        extra.setdefault(item_type, {}).update({k: v for k, v in parts.items() if v})
        value = None
    elif field in ("phone", "email"):
        # The new items take their phones/emails from the lead: add it there.
        kind = CommKind.PHONE if field == "phone" else CommKind.EMAIL
        if field == "phone":
            norm = items_service.try_normalize_phone(typed)
        else:
            norm = items_service.try_normalize_email(typed)
        if norm is None:
            bad = "cv.bad_phone" if field == "phone" else "cv.bad_email"
            error = tr(bad, value=esc(truncate(typed, 64)))
            await _ask(message, tr, lead.id, name, total=len(missing), error=error)
            return
        current = (await items_service.get_communications(session, ItemType.LEAD, [lead.id]))[lead.id]
        values = [c.value for c in current if c.kind == kind] + [typed[:255]]
        await items_service.update_item(session, user, lead, **{f"{field}s": values})
        value = None
    elif field == "amount":
        value = parse_amount(typed)
    elif field in DATE_FIELDS:
        value = parse_date(typed, date.today())
    else:
        value = typed[: TEXT_LIMITS.get(field, 255)] or None
    if field not in ("phone", "email") and name != conversion_service.CONTACT_NAME:
        if value is None:
            error = tr("cv.bad_value", value=esc(truncate(typed, 64)))
            await _ask(message, tr, lead.id, name, total=len(missing), error=error)
            return
        extra.setdefault(item_type, {})[field] = value
    missing = missing[1:]
    if missing:
        await state.update_data(extra=extra, missing=missing)
        await _ask(message, tr, lead.id, missing[0], total=len(missing))
        return
    # Everything asked: run again (it may find more, e.g. after a pipeline's rules changed).
    await _run(message, session, user, tr, state, lead.id, Scheme(data["scheme"]), data.get("pipe"), extra)


@router.callback_query(ConvCB.filter(F.action == ConvAction.CANCEL))
async def cancel(callback: CallbackQuery, callback_data: ConvCB, tr: Translator, state: FSMContext) -> None:
    if await state.get_state() == ConvertForm.field.state:
        await state.clear()
    markup = InlineKeyboardMarkup(inline_keyboard=[_card_btn(tr, callback_data.lead)])
    await show(callback, tr("cv.cancelled"), markup)


__all__ = ["ConvAction", "ConvCB", "ConvertForm", "parse_date", "router"]
