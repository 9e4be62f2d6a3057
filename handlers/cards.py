"""The item card: open by ref / deep link / button; fields, people, stage, more (trash)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart, StateFilter
from aiogram.types import CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.models.users import User
from crm_core.refs import try_parse_ref
from handlers.callbacks import CardAction, CardCB
from handlers.card_render import open_card
from handlers.texts import Translator

router = Router(name="cards")


def _is_ref(text: str | None) -> bool:
    return bool(text) and try_parse_ref(text) is not None  # type: ignore[arg-type]


# --- opening -----------------------------------------------------------------------------------


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
    callback: CallbackQuery, callback_data: CardCB, session: AsyncSession, user: User, tr: Translator
) -> None:
    await open_card(callback, session, user, tr, callback_data.type, callback_data.id)
