"""The item card: opened by a typed ref, a deep link or a button, and its "more" screen. The
card's other screens have their own modules: card_fields, card_people, card_stages, card_trash.

Every button re-loads the item through crm_core with the acting user: ids in callback data are
never trusted, and an item the user may not see answers exactly like a missing one.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.items import Deal, ItemType
from crm_core.models.users import User
from crm_core.refs import try_parse_ref
from crm_core.services import pipelines as pipelines_service
from handlers.callbacks import CardAction, CardCB
from handlers.card_fields import FieldForm
from handlers.card_render import back_to_card, load_visible, open_card
from handlers.card_stages import StageAction, StageCB
from handlers.card_trash import delete_rows
from handlers.card_ui import button, titled
from handlers.rooms import discuss_button
from handlers.texts import Translator
from handlers.ui import show

router = Router(name="cards")


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


@router.callback_query(CardCB.filter(F.action == CardAction.MORE))
async def show_more(
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    """The rarer actions: another pipeline (deals, when there are several), delete, the trash."""
    item = await load_visible(session, user, callback_data.type, callback_data.id)
    t, i = item.ITEM_TYPE, item.id
    rows = []
    if isinstance(item, Deal) and len(await pipelines_service.list_pipelines(session, ItemType.DEAL)) > 1:
        rows.append([button(tr("card.more.pipeline"), StageCB(t=t, id=i, a=StageAction.PIPELINES))])
    if t in (ItemType.LEAD, ItemType.DEAL):
        rows.append([discuss_button(tr, t, i)])
    rows += delete_rows(tr, t, i)
    rows.append([back_to_card(tr, t, i)])
    text = tr("card.more.title", ref=item.ref, name=titled(item))
    await show(callback, text, InlineKeyboardMarkup(inline_keyboard=rows))


__all__ = ["router"]
