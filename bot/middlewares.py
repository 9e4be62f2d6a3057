"""Per-update plumbing: one unit of work, update de-duplication, the current user, language."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import CallbackQuery, TelegramObject, Update
from aiogram.types import User as TgUser
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from crm_core import cache
from crm_core.clock import utcnow
from crm_core.db import Database, lazily_durable_column
from crm_core.errors import NotRegistered, UserDeactivated
from crm_core.models import ProcessedUpdate
from crm_core.services import update_inbox
from crm_core.services import users as users_service
from handlers.context import HandlerOptions
from handlers.held_replies import HeldReplies, held_replies, replies_held, send_stored
from handlers.texts import LANGUAGES, Translator, normalize_language

log = logging.getLogger(__name__)

# Built once, on the table (a Core insert, no ORM bulk path): every update runs it.
_RECORD = cache.returning_version(insert(ProcessedUpdate.__table__))
# The same, making the update's commit lazily durable (PostgreSQL; see _in_unit_of_work).
_RECORD_LAZILY_DURABLE = _RECORD.returning(lazily_durable_column())

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UnitOfWorkMiddleware(BaseMiddleware):
    """Outer update middleware: opens the session, skips an update already processed, finds the
    user, and commits after the handler (rolls back if it raised). Then it sends the screens the
    handler showed (held meanwhile: handlers.held_replies) and runs what was left for after the
    commit (`after_commit`: calls that need not hold the database, e.g. on SQLite the one write
    turn of the process)."""

    def __init__(self, db: Database, options: HandlerOptions) -> None:
        self.db = db
        self.options = options

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot_id = data["bot"].id
        tg_user: TgUser | None = data.get("event_from_user")
        # A translator is there from the start so that error handlers can always speak.
        data["tr"] = Translator(normalize_language(tg_user.language_code if tg_user else None))
        after_commit: list[Callable[[], Awaitable[None]]] = []
        data["after_commit"] = after_commit
        with replies_held() as held:
            result = await self._in_unit_of_work(handler, event, data, bot_id, tg_user, held)
        try:
            await held.send()
            kept = data.pop("kept_replies", None)
            if kept:
                await send_stored(data["bot"], kept)
        except TelegramAPIError as exc:  # committed already: the change stands, the user is told nothing
            log.error("update %s is saved but its reply could not be sent: %s", event.update_id, exc)
        for action in after_commit:
            await action()
        return result

    async def _in_unit_of_work(
        self,
        handler: Handler,
        event: Update,
        data: dict[str, Any],
        bot_id: int,
        tg_user: TgUser | None,
        held: HeldReplies,
    ) -> Any:
        # An update in the inbox (bot.polling) stays there until a later commit forgets it, and
        # the database keeps commits in order: if a crash of the database server loses this commit,
        # it loses the forgetting too, and the update runs again. So its commit need not wait for
        # the disk before the replies go (as a commit on SQLite never does); on this machine's disk
        # that wait was most of the slowest replies' time.
        lazily_durable = bool(data.get("in_inbox")) and not self.db.is_sqlite
        async with self.db.unit_of_work() as session:
            # Recorded in the same transaction as the handler's changes: both or neither. The primary
            # key refuses an update already processed (here or by another process): one query, not two.
            # A Core insert built once: the ORM's flush machinery cost more than the statement
            # itself. It also reads the version of what crm_core.cache holds, for the rest of the update.
            record = {"update_id": event.update_id, "bot_id": bot_id, "processed_at": utcnow()}
            statement = _RECORD_LAZILY_DURABLE if lazily_durable else _RECORD
            try:
                await cache.execute_reading_version(session, statement, record)
            except IntegrityError:
                await session.rollback()
                log.info("update %s was already processed; skipped", event.update_id)
                data["update_duplicate"] = True  # counted as such by bot.metrics
                if data.get("in_inbox"):  # its process may have died before sending its replies
                    data["kept_replies"] = await update_inbox.kept_replies(session, bot_id, event.update_id)
                return None
            data["session"] = session
            data["options"] = self.options
            data["db"] = self.db  # for work that outlives the update (an import in the background)
            data["user"] = None
            data["registration_error"] = None
            if tg_user is not None and not tg_user.is_bot:
                profile = users_service.TelegramProfile(
                    telegram_id=tg_user.id,
                    first_name=tg_user.first_name,
                    last_name=tg_user.last_name,
                    username=tg_user.username,
                    language_code=tg_user.language_code,
                )
                data["profile"] = profile
                try:
                    user = await users_service.recognise(
                        session,
                        profile,
                        admin_ids=self.options.admin_ids,
                        default_timezone=self.options.default_timezone,
                        first_user_is_admin=self.options.first_user_is_admin,
                        languages=LANGUAGES,
                    )
                except (NotRegistered, UserDeactivated) as exc:
                    data["registration_error"] = exc
                else:
                    data["user"] = user
                    data["tr"] = Translator(user.language)
            result = await handler(event, data)
            replies = held.stored() if data.get("in_inbox") else None
            if replies is not None:  # with the changes, for a rerun if this process dies before sending
                await update_inbox.keep_replies(session, bot_id, event.update_id, replies)
            return result


class HeldRepliesFirst(BaseRequestMiddleware):
    """Bot session middleware: a call the update makes to Telegram while screens are held for
    after its commit sends those first, so that its calls keep the order the handler made them in
    (e.g. a screen shown, then the message deleted)."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Response[Any]:
        held = held_replies()
        if held is not None and held.pending:
            await held.send()
        return await make_request(bot, method)


class AnswerCallbacksMiddleware(BaseMiddleware):
    """Outer callback_query middleware: every button press gets an answer, once what it did is
    committed (the toast never reports a change that was rolled back, and the call does not hold
    the database meanwhile).

    Handlers set `callback_answer.text` instead of answering themselves. If a handler raises, the
    error handler answers with the reason, so nothing is answered here in that case.
    """

    def __init__(self) -> None:
        self._answered: dict[str, None] = {}  # recent query ids answered, oldest first

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, CallbackQuery)
        answer = data["callback_answer"] = CallbackAnswer(answered=False)
        result = await handler(event, data)
        if event.id in self._answered:  # a rerun (the first run's commit failed): answered once
            return result
        if not answer.disabled and not answer.answered:
            tr: Translator = data["tr"]
            text = answer.text
            if text is None and result is UNHANDLED:
                text = tr("error.stale_button")
            call = partial(self._answer, event, text, answer.show_alert, data["event_update"].update_id)
            after_commit = data.get("after_commit")
            if after_commit is None:
                await call()
            else:
                after_commit.append(call)
        return result

    async def _answer(
        self, event: CallbackQuery, text: str | None, show_alert: bool | None, uid: int
    ) -> None:
        try:
            await event.answer(text=text, show_alert=show_alert)
        except TelegramBadRequest as exc:
            # Answered after Telegram's 15 s deadline (a slow handler, a backlog after downtime):
            # the spinner is gone by itself and what the press did stands.
            if "query is too old" not in exc.message:
                log.warning("press of update %s could not be answered: %s", uid, exc.message)
                return
            log.info("press answered too late (update %s)", uid)
        except TelegramAPIError as exc:  # committed already: nothing to roll back or run again
            log.warning("press of update %s could not be answered: %s", uid, exc)
            return
        self._answered[event.id] = None
        if len(self._answered) > 10_000:
            self._answered.pop(next(iter(self._answered)))
