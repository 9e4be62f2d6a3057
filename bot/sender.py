"""The scheduler's MessageSender port over a real aiogram Bot: maps Telegram's answers to
delivery outcomes the scheduler can act on (retry later, give up, follow a migration)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup, Message

from scheduler.ports import DeliveryResult, DeliveryStatus


class TelegramSender:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(
        self,
        chat_id: int,
        html: str,
        *,
        buttons: list[list[dict[str, Any]]] | None = None,
        thread_id: int | None = None,
    ) -> DeliveryResult:
        return await _deliver(
            self.bot.send_message(chat_id, html, reply_markup=_markup(buttons), message_thread_id=thread_id)
        )

    async def send_photo(
        self,
        chat_id: int,
        photo: bytes,
        caption_html: str,
        *,
        buttons: list[list[dict[str, Any]]] | None = None,
        thread_id: int | None = None,
    ) -> DeliveryResult:
        return await _deliver(
            self.bot.send_photo(
                chat_id,
                BufferedInputFile(photo, filename="picture.png"),
                caption=caption_html,
                reply_markup=_markup(buttons),
                message_thread_id=thread_id,
            )  # fmt: skip
        )

    async def set_topic_state(self, chat_id: int, thread_id: int, *, closed: bool) -> DeliveryResult:
        call = self.bot.close_forum_topic if closed else self.bot.reopen_forum_topic
        try:
            await call(chat_id, thread_id)
        except TelegramBadRequest as exc:
            # Telegram's answer when the topic already is in that state: what we wanted is done.
            if "TOPIC_NOT_MODIFIED" in exc.message.upper():
                return DeliveryResult(DeliveryStatus.SENT, detail=exc.message)
            return _failure(exc)
        except Exception as exc:  # noqa: BLE001 - mapped to an outcome
            return _failure(exc)
        return DeliveryResult(DeliveryStatus.SENT)


def _markup(buttons: list[list[dict[str, Any]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(**button) for button in row] for row in buttons]
    )


async def _deliver(request: Awaitable[Message]) -> DeliveryResult:
    """Telegram's answer to one send as a delivery outcome."""
    try:
        message = await request
    except Exception as exc:  # noqa: BLE001 - mapped to an outcome
        return _failure(exc)
    return DeliveryResult(DeliveryStatus.SENT, message_id=message.message_id)


def _failure(exc: Exception) -> DeliveryResult:
    """Telegram's refusal (or a network failure) as the outcome the scheduler acts on; anything
    else is raised again (the engine logs it and retries)."""
    if isinstance(exc, TelegramRetryAfter):
        return DeliveryResult(
            DeliveryStatus.RETRY_AFTER, retry_after=float(exc.retry_after), detail=exc.message
        )
    if isinstance(exc, TelegramMigrateToChat):
        return DeliveryResult(
            DeliveryStatus.MIGRATED, migrate_to_chat_id=exc.migrate_to_chat_id, detail=exc.message
        )
    if isinstance(exc, TelegramForbiddenError | TelegramNotFound):
        return DeliveryResult(DeliveryStatus.UNDELIVERABLE, detail=exc.message)
    if isinstance(exc, TelegramBadRequest):
        gone = "chat not found" in exc.message.lower()
        return DeliveryResult(
            DeliveryStatus.UNDELIVERABLE if gone else DeliveryStatus.REJECTED, detail=exc.message
        )
    if isinstance(exc, TelegramServerError | TelegramNetworkError | TimeoutError | OSError):
        return DeliveryResult(DeliveryStatus.TEMPORARY, detail=str(exc))
    raise exc
