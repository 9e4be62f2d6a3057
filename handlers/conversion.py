"""Lead conversion from the card: a scheme in at most two taps, the deal pipeline when there are
several, required fields asked one by one, then crm_core converts (all or nothing) and the result
links to the new items. A name the new contact or company needs and the lead lacks (crm_core's
conversion.missing_names) is asked first, the whole name in one typed message."""

from __future__ import annotations

import asyncio
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

from crm_core.errors import LeadAlreadyConverted, RequiredFieldsMissing, ValidationFailed
from crm_core.fields import Field, Kind, Money, find_field
from crm_core.models.items import CommKind, ItemType, Lead
from crm_core.models.users import User
from crm_core.services import communications
from crm_core.services import conversion as conversion_service
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services.cards_queries import lead_is_converted
from crm_core.services.conversion import Scheme
from crm_core.services.names import parse_person_name
from handlers.callbacks import CardAction, CardCB, Unpacked
from handlers.card_render import load_visible
from handlers.context import HandlerOptions
from handlers.errors import describe
from handlers.field_text import field_context, field_label
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import ITEM_TYPE_NAMES, SCHEME_NAMES, pipeline_name
from handlers.ui import show

router = Router(name="conversion")

FIRST_TAP = (Scheme.DEAL_CONTACT_COMPANY, Scheme.DEAL, Scheme.CONTACT, Scheme.COMPANY)
MORE = (Scheme.CONTACT_COMPANY, Scheme.DEAL_CONTACT, Scheme.DEAL_COMPANY)
ICONS = {ItemType.DEAL: "💼", ItemType.CONTACT: "👤", ItemType.COMPANY: "🏢", ItemType.LEAD: "🎯"}


class ConvAction(StrEnum):
    MORE = "more"  # the other schemes
    BACK = "back"  # to the first schemes
    SCHEME = "scheme"  # convert by scheme s (into pipeline p)
    CANCEL = "cancel"


class ConvCB(Unpacked, CallbackData, prefix="cv"):
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
            _btn(tr(SCHEME_NAMES[scheme]), ConvCB(action=ConvAction.SCHEME, lead=lead.id, s=scheme.value))
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
                    truncate(pipeline_name(tr, p), 60),
                    ConvCB(action=ConvAction.SCHEME, lead=lead.id, s=scheme.value, p=p.id),
                )
                for p in pipelines
            ]
            rows.append(_btn(tr("cv.btn.back"), ConvCB(action=ConvAction.BACK, lead=lead.id)))
            text = tr("cv.pipeline", ref=lead.ref, scheme=tr(SCHEME_NAMES[scheme]))
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
        blocked = [f for f in missing if not _askable(f)]
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
        key = N_("cv.reused") if item.ref in result.reused else N_("cv.created")
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


def _field(name: str) -> Field | None:
    """The schema's field of a missing "deal.amount"; None for a name only conversion knows."""
    item_type, _, field = name.partition(".")
    return find_field(item_type, field) if item_type in ItemType._value2member_map_ else None


def _askable(name: str) -> bool:
    """Typed in one message here; a missing link (deal.contact_id) or person is not."""
    if name in (conversion_service.CONTACT_NAME, conversion_service.COMPANY_TITLE):
        return True
    field = _field(name)
    return field is not None and field.kind not in (Kind.REFERENCE, Kind.USER)


def _label(tr: Translator, name: str) -> str:
    """ "deal.amount" -> "Deal: Amount" in the user's language."""
    item_type, _, field_name = name.partition(".")
    field = _field(name)
    if field is None:
        return name
    return tr("cv.field", item=tr(ITEM_TYPE_NAMES[ItemType(item_type)]), field=field_label(tr, field))


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
    elif (field := _field(name)) is not None and field.kind == Kind.DATE:
        text = tr("cv.ask_date", field=_label(tr, name), left=total)
    else:
        text = tr("cv.ask", field=_label(tr, name), left=total)
    await show(event, f"{error}\n\n{text}" if error else text, markup)


# A command (/cancel, /menu...) leaves the form to its own handler instead of being a value.
@router.message(ConvertForm.field, F.text, ~F.text.startswith("/"))
async def typed_field(
    message: Message,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
    options: HandlerOptions | None = None,
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
    value: Any = None
    if name == conversion_service.CONTACT_NAME:
        # One typed message is the whole name: "Петров Иван Сергеевич" -> its three parts.
        person = await asyncio.to_thread(parse_person_name, typed[:300])
        if not person:
            await _ask(message, tr, lead.id, name, total=len(missing))
            return
        parts = {"name": person.name, "second_name": person.second_name, "last_name": person.last_name}
        extra.setdefault(item_type, {}).update({k: v for k, v in parts.items() if v})
    elif field in ("phone", "email"):
        # The new items take their phones/emails from the lead: add it there.
        kind = CommKind.PHONE if field == "phone" else CommKind.EMAIL
        if field == "phone":
            norm = communications.try_normalize_phone(typed)
        else:
            norm = communications.try_normalize_email(typed)
        if norm is None:
            bad = N_("cv.bad_phone") if field == "phone" else N_("cv.bad_email")
            error = tr(bad, value=esc(truncate(typed, 64)))
            await _ask(message, tr, lead.id, name, total=len(missing), error=error)
            return
        current = (await communications.get_communications(session, ItemType.LEAD, [lead.id]))[lead.id]
        values = [c.value for c in current if c.kind == kind] + [typed[:255]]
        await items_service.update_item(session, user, lead, **{f"{field}s": values})
    else:
        # Read by the schema's rules, as the card's fields form reads it; kept as JSON in the form.
        schema_field = _field(name)
        if schema_field is None:
            await state.clear()
            return
        try:
            value = schema_field.parse(typed, field_context(user, options))
        except ValidationFailed as exc:
            await _ask(message, tr, lead.id, name, total=len(missing), error=describe(tr, exc))
            return
        if isinstance(value, Money):
            value = str(value.amount)
        elif isinstance(value, date):
            value = value.isoformat()
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


__all__ = ["ConvAction", "ConvCB", "ConvertForm", "router"]
