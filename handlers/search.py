"""/find: search across leads, deals, contacts and companies by name, phone (typed any way), email
or ref; results open cards. Inline mode (`@bot text` in any chat): the matching items the user can
see as short cards with a deep link opening the item in the bot."""

from __future__ import annotations

from enum import StrEnum

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
)
from aiogram.utils.deep_linking import create_start_link
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound
from crm_core.models.items import AnyItem, Company, Contact, Deal, Lead
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services.search import SearchHit, search_items
from handlers.callbacks import CardAction, CardCB, MenuAction, MenuCB, Unpacked
from handlers.card_render import TYPE_ICONS, format_money, load_visible, type_label
from handlers.render import MESSAGE_LIMIT, esc, truncate, visible_length
from handlers.texts import Translator
from handlers.texts.names import coded_stage_name, stage_name
from handlers.ui import show

router = Router(name="search")

RESULTS = 20
INLINE_RESULTS = 20
QUERY_LIMIT = 100
MIN_INLINE = 2


class FdAction(StrEnum):
    AGAIN = "n"  # a new search: ask for the text
    STOP = "x"


class FdCB(Unpacked, CallbackData, prefix="fd"):
    action: FdAction


class FindForm(StatesGroup):
    text = State()


def _menu_btn(tr: Translator) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=tr("views.btn.menu"), callback_data=MenuCB(action=MenuAction.MAIN).pack()
    )


def _ask_markup(tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=tr("views.cancel"), callback_data=FdCB(action=FdAction.STOP).pack())]
        ]
    )


def _subtitle(tr: Translator, hit: SearchHit) -> str:
    """A hit's second line: ref · matched phone/email · position, industry or stage."""
    if hit.stage_code is None:
        return hit.subtitle
    return f"{hit.subtitle} · {coded_stage_name(tr, hit.item_type, hit.stage_code, hit.stage_name)}"


async def results_screen(
    session: AsyncSession, user: User, tr: Translator, text: str
) -> tuple[str, InlineKeyboardMarkup]:
    text = text.strip()[:QUERY_LIMIT]
    hits = await search_items(session, user, text, limit=RESULTS)
    lines = [tr("fd.results", query=esc(truncate(text, 60)), count=len(hits))]
    if not hits:
        lines.append(tr("fd.nothing"))
    rows: list[list[InlineKeyboardButton]] = []
    for n, hit in enumerate(hits, 1):
        title = esc(truncate(hit.title, 60))
        lines.append(
            f"{n}. {TYPE_ICONS[hit.item_type]} <b>{title}</b>\n     {esc(truncate(_subtitle(tr, hit), 100))}"
        )
        rows.append([
            InlineKeyboardButton(
                text=f"{TYPE_ICONS[hit.item_type]} {hit.ref} {truncate(hit.title, 30)}",
                callback_data=CardCB(type=hit.item_type, id=hit.id, action=CardAction.OPEN).pack(),
            )
        ])  # fmt: skip
    rows.append(
        [
            InlineKeyboardButton(text=tr("fd.again"), callback_data=FdCB(action=FdAction.AGAIN).pack()),
            _menu_btn(tr),
        ]
    )
    body = "\n".join(lines)
    while visible_length(body) > MESSAGE_LIMIT and len(lines) > 2:
        lines.pop()
        body = "\n".join(lines)
    return body, InlineKeyboardMarkup(inline_keyboard=rows)


async def _ask(event: Message | CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await state.set_state(FindForm.text)
    await show(event, tr("fd.ask"), _ask_markup(tr))


@router.message(Command("find"), F.chat.type == "private")
async def find_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    user: User,
    tr: Translator,
    state: FSMContext,
) -> None:
    if not (command.args or "").strip():
        await _ask(message, tr, state)
        return
    await show(message, *await results_screen(session, user, tr, command.args or ""))


@router.callback_query(MenuCB.filter(F.action == MenuAction.FIND))
async def find_menu(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await _ask(callback, tr, state)


@router.callback_query(FdCB.filter(F.action == FdAction.AGAIN))
async def again_button(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    await _ask(callback, tr, state)


@router.callback_query(FdCB.filter(F.action == FdAction.STOP))
async def stop_button(callback: CallbackQuery, tr: Translator, state: FSMContext) -> None:
    if await state.get_state() == FindForm.text.state:
        await state.set_state(None)
    await show(callback, tr("fd.stopped"), InlineKeyboardMarkup(inline_keyboard=[[_menu_btn(tr)]]))


@router.message(FindForm.text, F.text, ~F.text.startswith("/"))
async def text_typed(
    message: Message, session: AsyncSession, user: User, tr: Translator, state: FSMContext
) -> None:
    text = (message.text or "").strip()
    await state.set_state(None)
    await show(message, *await results_screen(session, user, tr, text))


# --- inline mode ---------------------------------------------------------------------------------


async def _short_card(session: AsyncSession, tr: Translator, item: AnyItem) -> tuple[str, str]:
    """(HTML message text, one-line description) of an item for another chat."""
    lines = [f"{TYPE_ICONS[item.ITEM_TYPE]} <b>{type_label(tr, item.ITEM_TYPE)} {item.ref}</b>",
             f"<b>{esc(truncate(item.display_name, 200))}</b>"]  # fmt: skip
    desc: list[str] = []
    if isinstance(item, Lead | Deal):
        stage = await pipelines_service.get_stage(session, item.stage_id)
        shown = stage_name(tr, stage)
        lines.append(tr("fd.card.stage", stage=esc(truncate(shown, 60))))
        desc.append(shown)
        if item.amount is not None:
            money = format_money(item.amount, item.currency, tr.language)
            lines.append(tr("fd.card.amount", amount=money))
            desc.append(money)
        clients = []
        if item.contact_id:
            contact = await session.get(Contact, item.contact_id)
            if contact is not None and contact.deleted_at is None:
                clients.append(contact.display_name)
        if item.company_id:
            company = await session.get(Company, item.company_id)
            if company is not None and company.deleted_at is None:
                clients.append(company.display_name)
        if not clients and isinstance(item, Lead):
            person = " ".join(p for p in (item.name, item.last_name) if p)
            clients = [c for c in (person, item.company_title or "") if c]
        if clients:
            joined = ", ".join(truncate(c, 80) for c in clients)
            lines.append(tr("fd.card.client", client=esc(joined)))
            desc.append(joined)
    return "\n".join(lines), " · ".join(desc)


async def _inline_result(
    session: AsyncSession, bot: Bot, user: User, tr: Translator, hit: SearchHit
) -> InlineQueryResultArticle | None:
    try:
        item = await load_visible(session, user, hit.item_type, hit.id)
    except NotFound:
        return None
    text, desc = await _short_card(session, tr, item)
    link = await create_start_link(bot, item.ref)
    return InlineQueryResultArticle(
        id=item.ref,
        title=truncate(f"{item.ref} {item.display_name}", 100),
        description=truncate(desc or _subtitle(tr, hit), 200),
        input_message_content=InputTextMessageContent(message_text=text, parse_mode="HTML"),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=tr("fd.open_in_bot", ref=item.ref), url=link)]]
        ),
    )


@router.inline_query()
async def inline_search(
    query: InlineQuery, session: AsyncSession, bot: Bot, user: User, tr: Translator
) -> None:
    # Strangers never get here (the gate answers them with nothing); search_items only returns
    # what this user may see.
    text = (query.query or "").strip()[:QUERY_LIMIT]
    results: list[InlineQueryResultArticle] = []
    if len(text) >= MIN_INLINE:
        for hit in await search_items(session, user, text, limit=INLINE_RESULTS):
            result = await _inline_result(session, bot, user, tr, hit)
            if result is not None:
                results.append(result)
    await query.answer(results, cache_time=5, is_personal=True)  # type: ignore[arg-type]


__all__ = ["FdAction", "FdCB", "FindForm", "results_screen", "router"]
