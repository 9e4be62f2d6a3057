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
    except TelegramRetryAfter as exc:
        return DeliveryResult(
            DeliveryStatus.RETRY_AFTER, retry_after=float(exc.retry_after), detail=exc.message
        )
    except TelegramMigrateToChat as exc:
        return DeliveryResult(
            DeliveryStatus.MIGRATED, migrate_to_chat_id=exc.migrate_to_chat_id, detail=exc.message
        )
    except TelegramForbiddenError as exc:
        return DeliveryResult(DeliveryStatus.UNDELIVERABLE, detail=exc.message)
    except TelegramBadRequest as exc:
        if "chat not found" in exc.message.lower():
            return DeliveryResult(DeliveryStatus.UNDELIVERABLE, detail=exc.message)
        return DeliveryResult(DeliveryStatus.REJECTED, detail=exc.message)
    except TelegramNotFound as exc:
        return DeliveryResult(DeliveryStatus.UNDELIVERABLE, detail=exc.message)
    except (TelegramServerError, TelegramNetworkError, TimeoutError, OSError) as exc:
        return DeliveryResult(DeliveryStatus.TEMPORARY, detail=str(exc))
    return DeliveryResult(DeliveryStatus.SENT, message_id=message.message_id)
