"""Building and running the bot. `build_dispatcher` is the one factory used by production, the
sandbox and the tests."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson
from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage, SimpleEventIsolation
from aiogram.methods.base import Response
from aiogram.types import BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, ErrorEvent, Update
from aiohttp import BytesPayload

from bot.api_body import HasFiles, json_body
from bot.group_sends import GroupSendLog
from bot.http_server import HealthChecks, HttpServer, Webhook
from bot.metrics import SendMetrics, UpdateMetrics
from bot.middlewares import AnswerCallbacksMiddleware, HeldRepliesFirst, UnitOfWorkMiddleware
from bot.polling import FreshUpdates, Inbox, Poller
from bot.retry import WaitOutFloodControl
from bot.routing import Gatehouse
from bot.sender import TelegramSender
from bot.shared_limits import SendLimits, SharedAddressLimiter, SharedSendLimiter, SharedTokenLimiter
from bot.transient import is_transient
from config import Settings
from crm_core import migrate
from crm_core.db import Database
from crm_core.fields.phones import set_default_region
from crm_core.services import room_feed
from crm_core.services.rooms import ItemRooms
from handlers import errors as error_handlers
from handlers import form_commands, get_routers, import_jobs, ui
from handlers.commands import group_commands, private_commands
from handlers.context import HandlerOptions
from handlers.notify_render import NotifyRenderer
from handlers.open_card import OpenCardMiddleware
from handlers.rooms_effects import RoomEffectsMiddleware
from handlers.texts import DEFAULT_LANGUAGE, LANGUAGES
from scheduler.delivery import DeliveryConfig
from scheduler.jobs import build_scheduler
from scheduler.mail import add_mail_job

log = logging.getLogger(__name__)


def handler_options(settings: Settings, *, first_user_is_admin: bool = False) -> HandlerOptions:
    return HandlerOptions(
        admin_ids=frozenset(settings.admin_ids),
        default_timezone=settings.default_timezone,
        phone_region=settings.default_region,
        first_user_is_admin=first_user_is_admin,
        mail_key=settings.secret_key.get_secret_value() if settings.secret_key else None,
        rest_rate_per_second=settings.rest_rate_per_second,
        rest_burst=settings.rest_rate_burst,
        form_max_bytes=settings.form_max_bytes,
        form_rate_per_minute=settings.form_rate_per_minute,
        trust_forwarded=settings.http_trust_forwarded,
        public_url=settings.public_base_url,
    )


def build_storage(redis_url: str | None) -> tuple[BaseStorage, BaseEventIsolation]:
    """FSM state and per-chat locks: in memory for one process, in Redis when scaled out."""
    if redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage

        # Keys carry the bot id so that several bots may share one Redis.
        storage = RedisStorage.from_url(redis_url, key_builder=DefaultKeyBuilder(with_bot_id=True))
        return storage, RedisEventIsolation(storage.redis)
    return MemoryStorage(), SimpleEventIsolation()


def build_dispatcher(
    db: Database,
    options: HandlerOptions,
    *,
    storage: BaseStorage | None = None,
    events_isolation: BaseEventIsolation | None = None,
) -> Dispatcher:
    dp = Dispatcher(
        storage=storage or MemoryStorage(), events_isolation=events_isolation or SimpleEventIsolation()
    )
    dp.update.outer_middleware(UpdateMetrics())  # first: times and counts everything below
    # What each message shows, so a repeated screen costs no edit: around the unit of work, whose
    # screens are sent after its commit.
    ui.register(dp)
    dp.update.outer_middleware(UnitOfWorkMiddleware(db, options))
    dp.update.outer_middleware(RoomEffectsMiddleware())  # deal rooms: no echo into the room
    dp.update.outer_middleware(OpenCardMiddleware())  # remembers the card a person has open
    dp.callback_query.outer_middleware(AnswerCallbacksMiddleware())
    form_commands.register(dp)  # a command typed into a form leaves it
    # Each router behind a gate derived from its handlers' filters; presses and messages visit
    # only the routers whose gate lets them through.
    dp.include_router(Gatehouse(get_routers()))

    @dp.errors(lambda event: is_transient(event.exception))
    async def _retry_later(event: ErrorEvent) -> None:
        raise event.exception  # not the user's fault nor a bug: the poller runs the update again

    error_handlers.register(dp)
    _inline_sync_callbacks(dp)
    return dp


def _inline_sync_callbacks(router: Router) -> None:
    """aiogram runs every plain-function filter (each `F...` magic filter, each FSM state) and handler
    in a worker thread (`asyncio.to_thread`): an update checked against a hundred such filters paid
    a thread hop for each, and on SQLite competed with the driver's thread for the GIL. Ours are
    quick and do no I/O: they run on the event loop."""
    for observer in router.observers.values():
        handlers = [*getattr(observer, "handlers", []), getattr(observer, "_handler", None)]
        for handler in handlers:
            if handler is None:
                continue
            for obj in [handler, *(handler.filters or [])]:
                if not obj.awaitable:
                    obj.callback, obj.awaitable = _on_loop(obj.callback), True
    for sub in router.sub_routers:
        _inline_sync_callbacks(sub)


def _on_loop(callback: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    call.__wrapped__ = callback  # type: ignore[attr-defined]  # what it runs, for bot.routing
    return call


class BotSession(AiohttpSession):
    """aiogram's aiohttp session. Its close() waits 250 ms for TLS connections to shut down; a
    plain-HTTP Bot API server (a local one, the fake) has none, so closing it does not wait.

    aiogram reads every answer as `Response[<the method's result type>]`; pydantic keeps such
    parametrised models only weakly, so without a reference held here each call built the model
    class and its validator afresh (a fifth of the CPU time of an update).

    The poller's getUpdates (`FreshUpdates`) is answered with the updates still in flight too:
    only the new ones are validated into objects.

    JSON is read and written with orjson: the standard library's decoder was a tenth of the CPU
    time of an update in a burst (answers of getUpdates, of every sent message).

    A sent or edited message comes back without its entities and keyboard: nothing reads them (the
    bot wrote them), and turning a card's into objects took 160 µs of the 190 the whole answer
    took. Messages that come in with updates keep theirs.

    A call without files goes as one JSON body, as the Bot API accepts, instead of a form whose
    nested fields are JSON texts each: building and encoding the form was ~5% of an update's CPU.
    It holds the fields the form would (bot.api_body)."""

    _response_types: ClassVar[dict[Any, Any]] = {}
    _updates_response: ClassVar[Any] = Response[list[Update]]

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", _loads_answer)
        kwargs.setdefault("json_dumps", _json_dumps)
        super().__init__(**kwargs)

    def check_response(self, bot: Bot, method: Any, status_code: int, content: str) -> Any:
        if isinstance(method, FreshUpdates) and status_code == HTTPStatus.OK:
            data = self.json_loads(content)
            if isinstance(data, dict) and data.get("ok") is True and isinstance(data.get("result"), list):
                data["result"] = [u for u in data["result"] if method.wanted(u.get("update_id"))]
                method._raw = {u.get("update_id"): u for u in data["result"]}
                return self._updates_response.model_validate(data, context={"bot": bot})
        returning = method.__returning__
        if returning not in self._response_types:
            self._response_types[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)

    def build_form_data(self, bot: Bot, method: Any) -> Any:
        try:
            body = json_body(bot, method)
        except HasFiles:
            return super().build_form_data(bot, method)
        return BytesPayload(orjson.dumps(body), content_type="application/json")

    async def close(self) -> None:
        if self.api.base.lower().startswith("https://"):
            await super().close()
        elif self._session is not None and not self._session.closed:
            await self._session.close()


# What a message the bot sent comes back with and nothing of ours reads.
_UNREAD_OF_SENT = ("entities", "caption_entities", "reply_markup")


def _loads_answer(content: str | bytes) -> Any:
    data = orjson.loads(content)
    if isinstance(data, dict) and data.get("ok") is True:
        result = data.get("result")
        if isinstance(result, dict) and "message_id" in result and "chat" in result:
            for key in _UNREAD_OF_SENT:
                result.pop(key, None)
    return data


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_bot(token: str, api_url: str, *, wait_out_flood_control: bool = True) -> Bot:
    session = BotSession(api=TelegramAPIServer.from_base(api_url))
    session.middleware(HeldRepliesFirst())  # outermost: what it sends goes through the rest
    if wait_out_flood_control:
        session.middleware(WaitOutFloodControl())
    session.middleware(SendMetrics("replies"))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


async def register_commands(bot: Bot) -> None:
    """Command menus per language, separately for private chats and groups."""
    for scope, build in (
        (BotCommandScopeAllPrivateChats(), private_commands),
        (BotCommandScopeAllGroupChats(), group_commands),
    ):
        await bot.set_my_commands(build(DEFAULT_LANGUAGE), scope=scope)
        for lang in LANGUAGES:
            await bot.set_my_commands(build(lang), scope=scope, language_code=lang)


class BotApp:
    """Everything a running bot owns, started and stopped in order."""

    def __init__(
        self,
        settings: Settings,
        bot: Bot,
        db: Database,
        *,
        first_user_is_admin: bool = False,
        settles_heap: bool = False,
    ) -> None:
        self.settings = settings
        self.settles_heap = settles_heap  # run_bot: the process is the bot's alone
        # crm_core reads phones typed without a country code as numbers of this region.
        set_default_region(settings.default_region)
        self.bot = bot
        self.db = db
        storage, isolation = build_storage(settings.redis_url)
        self.dp = build_dispatcher(
            db,
            handler_options(settings, first_user_is_admin=first_user_is_admin),
            storage=storage,
            events_isolation=isolation,
        )
        delivery = DeliveryConfig(
            lease_seconds=settings.reminder_lease_seconds,
            poll_seconds=settings.reminder_poll_seconds,
            stale_after=timedelta(minutes=settings.reminder_stale_minutes),
            global_rate=settings.delivery_rate_per_second,
        )
        # Deliveries pace each chat themselves: they get a session of their own that reports a 429
        # at once instead of waiting it out like replies to people do.
        self.delivery_bot = Bot(bot.token, session=BotSession(api=bot.session.api), default=bot.default)
        self.delivery_bot.session.middleware(SendMetrics("deliveries"))
        redis = getattr(storage, "redis", None)
        if redis is not None:
            # Several processes: the send limits are held in Redis, for replies and deliveries alike.
            limiter = SharedSendLimiter(
                redis, bot.id, SendLimits.per_second(settings.delivery_rate_per_second)
            )
            bot.session.middleware(limiter)
            self.delivery_bot.session.middleware(limiter)
        room_feed.config.window = settings.room_summary_seconds
        self.scheduler = build_scheduler(
            db,
            sender=TelegramSender(self.delivery_bot),
            renderer=NotifyRenderer(),
            config=delivery,
            item_chats=ItemRooms(),  # deal rooms that opted in get their item's reminders
        )
        room_feed.config.chat_gap = settings.room_chat_gap_seconds
        if self.scheduler.engine is not None:
            # Replies in a group use up its 20 a minute too: deliveries there wait behind them.
            bot.session.middleware(GroupSendLog(self.scheduler.engine.group_windows))
        if settings.secret_key is not None:
            add_mail_job(
                self.scheduler,
                db,
                settings.secret_key.get_secret_value(),
                poll_seconds=settings.mail_poll_seconds,
                retry_seconds=settings.mail_retry_seconds,
            )
        self.poller = Poller(
            self.dp, bot, shutdown_timeout=settings.shutdown_timeout, inbox=Inbox(self.db, bot.id)
        )
        self.http = self._http_server(settings, db, first_user_is_admin, redis)
        self._stopped = asyncio.Event()

    def _http_server(
        self, settings: Settings, db: Database, first_user_is_admin: bool, redis: object | None
    ) -> HttpServer | None:
        if settings.http_port is None:
            return None
        webhook = None
        if settings.webhook_mode:
            assert settings.webhook_url is not None and settings.webhook_secret is not None
            webhook = Webhook(
                path=urlsplit(settings.webhook_url).path or "/",
                secret=settings.webhook_secret.get_secret_value(),
                dp=self.dp,
                bot=self.bot,
            )
        return HttpServer(
            db,
            handler_options(settings, first_user_is_admin=first_user_is_admin),
            host=settings.http_host,
            port=settings.http_port,
            health=HealthChecks(db, settings.redis_url, scheduler_alive=lambda: self.scheduler.alive),
            webhook=webhook,
            shutdown_timeout=settings.shutdown_timeout,
            shared_limiter=(
                SharedAddressLimiter(redis, settings.form_rate_per_minute, prefix=f"formrate:{self.bot.id}")
                if redis is not None
                else None
            ),
            rest_limiter=(
                SharedTokenLimiter(
                    redis,
                    settings.rest_rate_per_second,
                    settings.rest_rate_burst,
                    prefix=f"restrate:{self.bot.id}",
                )
                if redis is not None
                else None
            ),
        )

    async def run(self) -> None:
        try:
            await migrate.upgrade(self.db.engine)
            me = await self.bot.get_me()
            log.info("bot @%s (id %s) starting", me.username, me.id)
            if self.http is not None:
                await self.http.start()
            if self.settings.webhook_mode:
                await self._run_webhook()
            else:
                # Back to polling: Telegram answers getUpdates with 409 while a webhook is set.
                await self.bot.delete_webhook(drop_pending_updates=False)
                await register_commands(self.bot)
                self.scheduler.start()
                self._settle()
                await self.poller.run()
        finally:
            await import_jobs.stop_all()  # each stops after its current row
            if self.http is not None:
                await self.http.stop()  # the webhook's updates in flight finish first
            await self.scheduler.stop()
            await self.dp.storage.close()
            await self.dp.fsm.events_isolation.close()
            await asyncio.gather(self.bot.session.close(), self.delivery_bot.session.close())
            await self.db.dispose()
            log.info("bot stopped")

    async def _run_webhook(self) -> None:
        """Telegram posts updates to WEBHOOK_URL; every process behind it sets the same webhook (an
        idempotent call) and none deletes it on the way down: the others go on serving it."""
        assert self.settings.webhook_url is not None and self.settings.webhook_secret is not None
        await register_commands(self.bot)
        self.scheduler.start()
        self._settle()
        # Last: updates flow once everything else runs.
        await self.bot.set_webhook(
            self.settings.webhook_url,
            secret_token=self.settings.webhook_secret.get_secret_value(),
            allowed_updates=self.dp.resolve_used_update_types(),
            drop_pending_updates=False,
        )
        log.info("webhook mode: Telegram posts to %s", self.settings.webhook_url)
        await self._stopped.wait()

    def _settle(self) -> None:
        if self.settles_heap:
            log.info("start-up heap settled: %d objects out of the garbage collector's sight", settle_heap())

    def stop(self) -> None:
        self._stopped.set()
        self.poller.stop()


# Allocations (net of frees) between collections of the youngest generation (settle_heap).
YOUNG_COLLECTION = 50_000


def settle_heap() -> int:
    """Take what start-up built (modules, classes, routers, schemas) out of the cyclic garbage
    collector's sight, once it is built and before updates flow; returns how many objects.

    Each update allocates thousands of short-lived objects (pydantic models, SQLAlchemy rows), so
    collections run all the time, and every few hundred updates a full one walked the whole heap:
    a pause of ~200 ms each time (bench/throughput.py timed with a gc callback: three in a run,
    ~5% of the bot's CPU, and they set the p99). Frozen objects are still freed by reference
    counting; only cycles among them would stay, and start-up's live objects stay anyway.

    The young generation is collected every 50,000 allocations instead of 700: an update makes
    tens of thousands of objects that die by reference counting, and each of the dozens of
    collections per update walked what was still young at that moment. bench.compare_cpu, this
    against 700/10/10 after the freeze, 60 paired bursts a run: 0.96, 0.97 and 0.99 of the CPU
    per update on SQLite, 0.92 and 0.94 on PostgreSQL. At most that many young objects wait for
    a collection."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION, 50, 100)
    return gc.get_freeze_count()


# SQLite's driver runs each query in a thread of its own. While the event loop is busy with other
# updates, that thread waits for the GIL up to the switch interval (5 ms by default) to hand back
# each result, and on SQLite the writer holding the write lock waits with it, query after query.
SWITCH_INTERVAL_SECONDS = 0.0005


async def run_bot(settings: Settings) -> None:
    token = settings.require_token()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    # A process of its own; in-process runs (tests, the sandbox) keep their heap as is.
    bot = create_bot(token, settings.telegram_api_url)
    app = BotApp(settings, bot, Database(settings.database_url), settles_heap=True)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, app.stop)
    await app.run()
