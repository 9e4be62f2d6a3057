"""Long polling that loses nothing when the process stops.

aiogram's own polling confirms an update (the next getUpdates offset) as soon as it is read and
does not wait for running handlers on shutdown. Here an update is first stored in the update inbox
(`Inbox`, one transaction per poll), then confirmed, and removed from the inbox once its handler
has finished. A process stopped or killed meanwhile runs what the inbox holds at its next start;
the processed_updates table stops a finished one from running twice. Handlers start as soon as
their updates are stored; the store's commit does not wait for the disk (PostgreSQL), so neither
do they, and the next poll, which confirms the updates, waits until the store is durable. Nor does
a handler's commit (bot.middlewares): the update it handled leaves the inbox only by a later one. An
update that failed because the database or Redis was unavailable (rolled back whole) is retried
with a growing pause, and stays in the inbox if the process stops meanwhile.

Without an inbox (no database given) the offset is held below the oldest update still in flight,
so Telegram returns in-flight updates on every poll: they are skipped by id, and only the new ones
are turned into objects (`FreshUpdates`). With the inbox a poll carries only new updates: in a
burst of 100 users, re-reading the ones in flight had cost a tenth of the CPU of an update.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update
from pydantic import PrivateAttr

from bot.transient import is_transient
from crm_core.db import Database
from crm_core.services import update_inbox

log = logging.getLogger(__name__)


REPOLL_PAUSE_SECONDS = 0.05  # at most, while only updates in flight come back


class FreshUpdates(GetUpdates):
    """getUpdates whose answer keeps only the updates after `seen` before they are parsed; a session
    that knows it (bot.app.BotSession) filters the raw answer, any other parses it all."""

    _seen: int | None = PrivateAttr(default=None)
    _raw: dict[int, Any] = PrivateAttr(default_factory=dict)  # the kept updates as sent, by id

    def wanted(self, update_id: Any) -> bool:
        return self._seen is None or not isinstance(update_id, int) or update_id > self._seen

    def body(self, update: Update) -> str:
        raw = self._raw.get(update.update_id)
        if raw is not None:
            return orjson.dumps(raw).decode()
        return update.model_dump_json(by_alias=True, exclude_none=True)  # a session that keeps no raw


class Inbox:
    """The update inbox of one bot in the database (crm_core.services.update_inbox)."""

    def __init__(self, db: Database, bot_id: int) -> None:
        self.db = db
        self.bot_id = bot_id

    async def keep(self, bodies: list[tuple[int, str]], handled: list[int]) -> None:
        """Store new updates. Their handlers start before the commit is on disk (they would wait
        for it otherwise): the poller confirms them only after `durable`."""
        async with self.db.unit_of_work(lazily_durable=True) as session:
            await update_inbox.forget(session, self.bot_id, handled)
            await update_inbox.keep(session, self.bot_id, bodies)

    async def forget(self, handled: list[int]) -> None:
        async with self.db.unit_of_work() as session:
            await update_inbox.forget(session, self.bot_id, handled)

    async def durable(self) -> None:
        """Return once what `keep` stored survives a crash of the database server."""
        await self.db.make_durable()

    async def waiting(self) -> list[tuple[int, str]]:
        async with self.db.unit_of_work() as session:
            return await update_inbox.waiting(session, self.bot_id)


class Poller:
    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        *,
        polling_timeout: int = 25,
        shutdown_timeout: float = 30.0,
        max_in_flight: int = 100,
        transient_retries: int = 20,
        allowed_updates: list[str] | None = None,
        inbox: Inbox | None = None,
        **workflow_data: Any,
    ) -> None:
        self.dp = dp
        self.bot = bot
        self.polling_timeout = polling_timeout
        self.shutdown_timeout = shutdown_timeout
        self.allowed_updates = allowed_updates
        # The handlers' middleware keeps an update's held replies in its inbox row (handlers.held_replies).
        self.workflow_data = {**workflow_data, "in_inbox": inbox is not None}
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._max_seen: int | None = None
        self._chat_tails: dict[int, asyncio.Future[None]] = {}
        self._stop = asyncio.Event()
        self._unconfirmed: set[int] = set()  # met a transient failure while stopping
        self.transient_retries = transient_retries
        self.inbox = inbox
        self._handled: list[int] = []  # finished, still to be removed from the inbox
        self._last_fetch: FreshUpdates | None = None

    def stop(self) -> None:
        self._stop.set()

    @property
    def idle(self) -> bool:
        """No handler is running (the sandbox and tests wait for this)."""
        return not self._in_flight

    @property
    def offset(self) -> int | None:
        """Confirm everything stored in the inbox; without one, everything below the oldest update
        still being handled."""
        if self.inbox is None:
            held = [*self._in_flight, *self._unconfirmed]
            if held:
                return min(held)
        return None if self._max_seen is None else self._max_seen + 1

    async def run(self) -> None:
        backoff = 1.0
        sweeper = asyncio.create_task(self._sweep()) if self.inbox is not None else None
        try:
            await self._replay()
            while not self._stop.is_set():
                try:
                    updates = await self._fetch()
                except asyncio.CancelledError:
                    raise
                except TelegramRetryAfter as exc:
                    await self._sleep(exc.retry_after)
                    continue
                except TelegramConflictError:
                    log.error("another instance is polling with this token; retrying in 5 s")
                    await self._sleep(5)
                    continue
                except (TelegramNetworkError, TelegramServerError, OSError) as exc:
                    log.warning("getUpdates failed (%s); retrying in %.0f s", exc, backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue
                backoff = 1.0
                if updates is None:
                    break  # stop requested while waiting
                held = self._in_flight or self._unconfirmed  # the offset stays below them
                fresh = [u for u in updates if u.update_id not in self._in_flight and self._is_new(u)]
                if fresh and not await self._keep(fresh):
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    continue  # not confirmed: the same updates come again
                for update in fresh:
                    await self._slots.acquire()
                    self._start(update)
                if fresh and not await self._durable():
                    break  # stopped: _drain confirms nothing the inbox may not hold
                if held and not fresh and self.inbox is None:
                    # The server answered at once with in-flight updates only: wait for one to
                    # finish (or a moment, for new ones) instead of spinning.
                    await self._wait_any(timeout=REPOLL_PAUSE_SECONDS)
        finally:
            if sweeper is not None:
                # On a stop the sweeper leaves after the forget it may be in; cancelled in the middle
                # of it, its unit of work would be rolled back while the engine is disposed.
                if not self._stop.is_set():
                    sweeper.cancel()
                await asyncio.gather(sweeper, return_exceptions=True)
            await self._drain()

    async def _replay(self) -> None:
        """Run what a previous process stored in the inbox and did not finish, oldest first."""
        if self.inbox is None:
            return
        backoff = 1.0
        while True:
            try:
                rows = await self.inbox.waiting()
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if self._stop.is_set():
                    return
                log.warning(
                    "the update inbox could not be read (%s); retrying in %.0f s", _brief(exc), backoff
                )
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30)
        if rows:
            log.info("running %d update(s) left unhandled by the previous process", len(rows))
        for update_id, body in rows:
            try:
                update = Update.model_validate(orjson.loads(body), context={"bot": self.bot})
            except ValueError:
                log.exception("update %s in the inbox cannot be read; dropped", update_id)
                self._handled.append(update_id)
                continue
            await self._slots.acquire()
            self._start(update)

    async def _keep(self, fresh: list[Update]) -> bool:
        """Store new updates in the inbox (and forget finished ones) before they are confirmed."""
        if self.inbox is None:
            return True
        method = self._last_fetch
        assert method is not None  # set by the _fetch that brought `fresh`
        bodies = [(u.update_id, method.body(u)) for u in fresh]
        handled, self._handled = self._handled, []
        try:
            await self.inbox.keep(bodies, handled)
        except Exception as exc:  # noqa: BLE001 - nothing is confirmed; polled again after a pause
            self._handled.extend(handled)
            log.warning("updates could not be stored in the inbox (%s); polling again", _brief(exc))
            return False
        return True

    async def _durable(self) -> bool:
        """Wait until the stored updates survive a crash of the database server, before the next
        poll confirms them; False if the poller was stopped first."""
        if self.inbox is None:
            return True
        backoff = 1.0
        while True:
            try:
                await self.inbox.durable()
                return True
            except Exception as exc:  # noqa: BLE001 - unconfirmed until it succeeds
                if self._stop.is_set():
                    return False
                log.warning("the update inbox could not be made durable (%s); retrying", _brief(exc))
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30)

    async def _sweep(self) -> None:
        """Forget finished updates while no poll comes to do it (a quiet moment)."""
        assert self.inbox is not None
        while True:
            await self._sleep(1.0)
            if self._stop.is_set():
                return  # _drain forgets the rest
            if not self._handled:
                continue
            handled, self._handled = self._handled, []
            try:
                await self.inbox.forget(handled)
            except Exception as exc:  # noqa: BLE001 - at worst they run again and are skipped by id
                self._handled.extend(handled)
                log.warning("finished updates could not be removed from the inbox (%s)", _brief(exc))

    def _is_new(self, update: Update) -> bool:
        return self._max_seen is None or update.update_id > self._max_seen

    async def _fetch(self) -> list[Update] | None:
        method = FreshUpdates(
            offset=self.offset, timeout=self.polling_timeout, allowed_updates=self.allowed_updates
        )
        method._seen = self._max_seen
        self._last_fetch = method
        request = asyncio.ensure_future(self.bot(method, request_timeout=self.polling_timeout + 10))
        stopper = asyncio.ensure_future(self._stop.wait())
        done, _ = await asyncio.wait({request, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if request in done:
            stopper.cancel()
            return request.result()
        request.cancel()
        try:
            await request
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the request is abandoned
            pass
        return None

    def _start(self, update: Update) -> None:
        self._max_seen = update.update_id if self._max_seen is None else max(self._max_seen, update.update_id)
        chat_key = _chat_key(update)
        previous = self._chat_tails.get(chat_key) if chat_key is not None else None
        task = asyncio.create_task(self._handle(update, previous))
        self._in_flight[update.update_id] = task
        if chat_key is not None:
            self._chat_tails[chat_key] = task  # type: ignore[assignment]

        def done(finished: asyncio.Task[None], update_id: int = update.update_id) -> None:
            self._in_flight.pop(update_id, None)
            self._slots.release()
            if self.inbox is not None and not finished.cancelled() and update_id not in self._unconfirmed:
                self._handled.append(update_id)
            if chat_key is not None and self._chat_tails.get(chat_key) is task:
                del self._chat_tails[chat_key]

        task.add_done_callback(done)

    async def _handle(self, update: Update, previous: asyncio.Future[None] | None) -> None:
        # Updates of one chat run in order; different chats run concurrently.
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        attempt = 0
        while True:
            try:
                await self.dp.feed_update(self.bot, update, **self.workflow_data)
                return
            except Exception as exc:  # noqa: BLE001 - one bad update must not stop polling
                if not is_transient(exc) or attempt >= self.transient_retries:
                    log.exception("update %s failed", update.update_id)
                    return
                if self._stop.is_set():
                    # Rolled back and not confirmed: the next start (or Telegram) brings it again.
                    self._unconfirmed.add(update.update_id)
                    log.warning("update %s left for the next start: %s", update.update_id, _brief(exc))
                    return
                pause = min(2.0**attempt, 30.0)
                log.warning(
                    "update %s could not be handled (%s); retrying in %.0f s",
                    update.update_id,
                    _brief(exc),
                    pause,
                )
                attempt += 1
                await self._sleep(pause)

    async def _wait_any(self, timeout: float) -> None:
        if self._in_flight:
            await asyncio.wait(
                list(self._in_flight.values()), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _drain(self) -> None:
        """Let running handlers finish, then confirm what they handled to the server (with an
        inbox: forget what they handled, and confirm what the inbox holds)."""
        offset = self.offset
        if self._in_flight:
            log.info("waiting for %d running handler(s) to finish", len(self._in_flight))
            _, pending = await asyncio.wait(list(self._in_flight.values()), timeout=self.shutdown_timeout)
            unfinished = [uid for uid, task in self._in_flight.items() if task in pending]
            for task in pending:
                task.cancel()  # rolled back and not confirmed: Telegram will redeliver it
            if pending:
                await asyncio.wait(pending)
            offset = min(unfinished + list(self._unconfirmed)) if unfinished else self.offset
        if self.inbox is not None:
            offset = self.offset
            if self._handled:
                try:
                    await self.inbox.forget(self._handled)
                    self._handled = []
                except Exception:  # noqa: BLE001 - at worst they run again and are skipped by id
                    log.warning("finished updates could not be removed from the inbox", exc_info=True)
            try:
                await self.inbox.durable()
            except Exception:  # noqa: BLE001 - not confirmed: they come again and are skipped by id
                log.warning("the update inbox could not be made durable on shutdown", exc_info=True)
                offset = None
        if offset is not None:
            try:
                await self.bot(GetUpdates(offset=offset, timeout=0, limit=1), request_timeout=10)
            except Exception:  # noqa: BLE001 - at worst the updates come again and are skipped by id
                log.warning("could not confirm the last updates on shutdown", exc_info=True)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _chat_key(update: Update) -> int | None:
    event = update.event
    chat = getattr(event, "chat", None)
    if chat is not None:
        return chat.id
    message = getattr(event, "message", None)  # callback queries
    if message is not None and getattr(message, "chat", None) is not None:
        return message.chat.id
    user = getattr(event, "from_user", None)
    return user.id if user is not None else None
