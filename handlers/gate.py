"""Strangers get a polite refusal and nothing else: registered before every feature router."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineQuery, Message
from aiogram.utils.callback_answer import CallbackAnswer

from crm_core.errors import DomainError, UserDeactivated
from handlers.filters import Unregistered
from handlers.texts import Translator

router = Router(name="gate")
router.message.filter(Unregistered())
router.callback_query.filter(Unregistered())
router.inline_query.filter(Unregistered())


def _refusal(tr: Translator, registration_error: DomainError | None) -> str:
    return tr("deactivated") if isinstance(registration_error, UserDeactivated) else tr("not_registered")


@router.message(F.chat.type == "private")
async def refuse_message(
    message: Message, tr: Translator, registration_error: DomainError | None = None
) -> None:
    await message.answer(_refusal(tr, registration_error))


@router.message()
async def ignore_group_message(message: Message) -> None:
    """Strangers in a group chat are not answered: the bot would spam the discussion."""


@router.callback_query()
async def refuse_button(
    callback: CallbackQuery,
    tr: Translator,
    callback_answer: CallbackAnswer,
    registration_error: DomainError | None = None,
) -> None:
    # Forged or stale button data from a non-member changes nothing; it only gets this answer.
    callback_answer.text = _refusal(tr, registration_error)
    callback_answer.show_alert = True


@router.inline_query()
async def refuse_inline(query: InlineQuery) -> None:
    await query.answer([], cache_time=5, is_personal=True)
