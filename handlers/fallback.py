"""Last router: a private message nobody understood gets a hint instead of silence."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import Message

from crm_core.models import User
from handlers.keyboards import main_menu
from handlers.render import esc, truncate
from handlers.texts import Translator

router = Router(name="fallback")

QUOTE_LIMIT = 200


@router.message(F.chat.type == "private", F.text)
async def not_understood(message: Message, user: User, tr: Translator) -> None:
    quote = esc(truncate(message.text or "", QUOTE_LIMIT))
    await message.answer(tr("not_understood", quote=quote), reply_markup=main_menu(tr, user))
