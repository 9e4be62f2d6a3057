"""Translate domain errors (and the unexpected) into a clear answer; nothing is half-done because
the unit of work has already rolled back by the time these run."""

from __future__ import annotations

import logging

from aiogram import Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from crm_core.errors import (
    AccessDenied,
    ConcurrencyConflict,
    DomainError,
    LimitExceeded,
    NotFound,
    NotRegistered,
    RequiredFieldsMissing,
    UserDeactivated,
    ValidationFailed,
)
from handlers.render import esc
from handlers.texts import DEFAULT_LANGUAGE, Translator

log = logging.getLogger(__name__)


def describe(tr: Translator, exc: DomainError) -> str:
    if isinstance(exc, NotRegistered):
        return tr("not_registered")
    if isinstance(exc, UserDeactivated):
        return tr("deactivated")
    if isinstance(exc, RequiredFieldsMissing):
        return tr("error.required_fields_missing", fields=esc(", ".join(exc.fields)))
    if isinstance(exc, AccessDenied):
        return tr("error.access_denied")
    if isinstance(exc, NotFound):
        return tr("error.not_found")
    if isinstance(exc, ConcurrencyConflict):
        return tr("error.conflict")
    if isinstance(exc, LimitExceeded):
        return tr("error.limit_exceeded", limit=esc(exc.params.get("limit", "")))
    if isinstance(exc, ValidationFailed):
        return tr("error.validation_failed", detail=validation_detail(tr, exc))
    return tr("error.generic")


def validation_detail(tr: Translator, exc: ValidationFailed) -> str:
    """crm_core's message is a stable English phrase; say it in the user's language."""
    key = f"invalid.{exc}"
    if not tr.has(key):
        return esc(str(exc))
    try:
        return tr(key, **{name: esc(value) for name, value in exc.params.items()})
    except (KeyError, IndexError):  # a placeholder the error did not carry
        return esc(str(exc))


async def _reply(event: ErrorEvent, text: str) -> None:
    update = event.update
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.message is not None:
            await update.message.answer(text)
        elif update.inline_query is not None:
            await update.inline_query.answer([], cache_time=1, is_personal=True)
    except TelegramAPIError:
        log.warning("could not tell the user about an error", exc_info=True)


def register(dp: Dispatcher) -> None:
    @dp.errors(ExceptionTypeFilter(DomainError))
    async def on_domain_error(event: ErrorEvent, tr: Translator | None = None) -> None:
        tr = tr or Translator(DEFAULT_LANGUAGE)
        await _reply(event, describe(tr, event.exception))  # type: ignore[arg-type]

    @dp.errors()
    async def on_unexpected(event: ErrorEvent, tr: Translator | None = None) -> None:
        log.error("unhandled error in update %s", event.update.update_id, exc_info=event.exception)
        await _reply(event, (tr or Translator(DEFAULT_LANGUAGE))("error.generic"))
