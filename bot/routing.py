"""Gates in front of routers: a cheap test an update must pass for any handler of the router to
match it, so that the router is skipped at once instead of checking each handler's filters (a
button press went through up to 238 callback handlers, each unpacking its callback data; routing
was about a sixth of the bot's CPU per update).

A gate is exact, never a new rule: it is derived from filters the handlers already have, each of
which an update must pass (aiogram requires all of a handler's filters). A router has a gate for an
event type only if every one of its handlers there has such a filter:
  - callback data of a class (`SomeCB.filter(F.action == ...)`): the data unpacks into one of the
    classes and passes that handler's rule (unpacking is cached: handlers.callbacks.Unpacked);
  - a command (`Command(...)`): the text or caption starts with one of its prefix characters and
    names one of its commands (any command, where one is given as a pattern);
  - a state (`StateFilter`, a `State`): the chat's state is one of those;
  - otherwise its magic filters (`F.chat_shared`...), which are pure: all of them pass.
A router's own filters (`router.message.filter(...)`), which aiogram checks before any of its
handlers and which then turn the whole router away, are part of its gate too.

The routers are put, in order, under one parent (`Gatehouse`) that holds their gates and for a
press or a message visits only the routers whose gate lets it through: aiogram's own visit of a
router (a closure, a middleware chain, the root filters, the keyword arguments copied at each step)
cost ~19 µs even where a gate then said no. A card's button went through every router with a card
button (eleven) and a command through every router with a command (a dozen) before the gates knew
the rule and the command's name. The routers themselves are left as they are (they are module
singletons, adopted by every dispatcher built).
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import unwrap
from typing import TYPE_CHECKING, Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message

if TYPE_CHECKING:
    from magic_filter import MagicFilter  # aiogram's F; an attribute of its filter objects


class CallbackGate:
    """Gate: the callback data passes one of these handlers' callback-data filters."""

    def __init__(self, filters: Sequence[CallbackQueryFilter]) -> None:
        # separator -> prefix -> the filters of that class, in the handlers' order
        self.filters: dict[str, dict[str, list[CallbackQueryFilter]]] = {}
        for found in filters:
            data_class = found.callback_data
            by_prefix = self.filters.setdefault(data_class.__separator__, {})
            by_prefix.setdefault(data_class.__prefix__, []).append(found)

    async def __call__(self, query: CallbackQuery) -> bool:  # async, as a MessageGate is
        data = query.data
        if not data:
            return False  # no callback-data filter takes it
        for sep, by_prefix in self.filters.items():
            for found in by_prefix.get(data.partition(sep)[0], ()):
                if found.rule is None:
                    return True
                try:
                    if await found(query):
                        return True
                except Exception:  # the visit raises it as aiogram would
                    return True
        return False

    async def opens(self, event: CallbackQuery, kwargs: dict[str, Any]) -> bool:
        return await self(event)


class MessageGate:
    """Gate: a command (by its prefix character and its name), or one of these states."""

    def __init__(
        self,
        command_chars: str,
        states: frozenset[str | None],
        state_filters: list[Any],
        commands: frozenset[str] | None = None,
        magic: Sequence[Sequence[MagicFilter]] = (),
    ) -> None:
        self.command_chars = command_chars
        self.commands = commands  # casefolded; None: any name (a command given as a pattern)
        self.states = states
        self.state_filters = state_filters  # those not reducible to a set of names
        self.magic = magic  # per handler without a command or a state, its magic filters

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        if self.command_chars:
            text = message.text or message.caption
            if text and text.lstrip()[:1] in self.command_chars:
                if self.commands is None:
                    return True
                # As aiogram's Command reads it: "/name@bot args" -> "name"; casefolded, so that
                # the gate lets through at least what a case-sensitive handler takes.
                word = text.split(maxsplit=1)[0]
                if word[1:].partition("@")[0].casefold() in self.commands:
                    return True
        if raw_state in self.states:
            return True
        for state_filter in self.state_filters:
            if await state_filter(message, raw_state=raw_state):
                return True
        for filters in self.magic:
            try:
                if all(f.resolve(message) for f in filters):
                    return True
            except Exception:  # the visit raises it as aiogram would
                return True
        return False

    async def opens(self, event: Message, kwargs: dict[str, Any]) -> bool:
        return await self(event, raw_state=kwargs.get("raw_state"))


_NOTHING = object()  # a router with nothing for this kind of update


class RootFiltered:
    """Gate: the router's own filters, then its handlers' gate (if it has one)."""

    def __init__(
        self, router: Router, observer: Any, handlers_gate: CallbackGate | MessageGate | None
    ) -> None:
        self.router = router
        self.observer = observer
        self.handlers_gate = handlers_gate

    async def opens(self, event: Any, kwargs: dict[str, Any]) -> bool:
        gate = self.handlers_gate
        if gate is not None and not await gate.opens(event, kwargs):
            return False
        try:
            data = {**kwargs, "event_router": self.router}  # as the visit would pass them
            passed, _ = await self.observer.check_root_filters(event, **data)
        except Exception:  # the visit raises it as aiogram would
            return True
        return bool(passed)


class Gatehouse(Router):
    """The parent of the feature routers, in their order. A press or a message visits only the
    routers whose gate passes it (and those without a gate), as aiogram would have visited them all
    and found the others' gates closed; other updates go aiogram's way through all of them."""

    EVENTS = ("callback_query", "message")

    def __init__(self, routers: Sequence[Router]) -> None:
        super().__init__(name="features")
        self.include_routers(*routers)
        self.members = {event: [(r, _gate_for(r, event)) for r in routers] for event in self.EVENTS}

    async def propagate_event(self, update_type: str, event: Any, **kwargs: Any) -> Any:
        members = self.members.get(update_type)
        if members is None:
            return await super().propagate_event(update_type, event, **kwargs)
        for router, gate in members:
            if gate is _NOTHING:
                continue
            if gate is not None and not await gate.opens(event, kwargs):
                continue
            response = await router.propagate_event(update_type=update_type, event=event, **kwargs)
            if response is not UNHANDLED:
                return response
        return UNHANDLED


def _gate_for(router: Router, event: str) -> Any:
    """What decides whether the router may take an update of this kind: its gate; None to visit it
    always (no gate, routers of its own, a middleware that runs before the gate); or _NOTHING."""
    observer = getattr(router, event)
    if router.sub_routers or observer.outer_middleware._middlewares:
        return None
    if not observer.handlers:
        return _NOTHING
    gate = gate_for(observer)
    if observer._handler.filters:  # the router's own filters, checked before its handlers
        return RootFiltered(router, observer, gate)
    return gate


def gate_for(observer: Any) -> CallbackGate | MessageGate | None:
    """The gate of a router's callback-query or message handlers; None if one may take anything."""
    if observer.event_name == "callback_query":
        return _callback_gate(observer.handlers)
    if observer.event_name == "message":
        return _message_gate(observer.handlers)
    return None


def _callback_gate(handlers: list[HandlerObject]) -> CallbackGate | None:
    if not handlers:
        return None
    filters = []
    for handler in handlers:
        found = [c for c in _filters(handler) if isinstance(c, CallbackQueryFilter)]
        if not found:
            return None
        filters.append(found[0])
    return CallbackGate(filters)


def _message_gate(handlers: list[HandlerObject]) -> MessageGate | None:
    if not handlers:
        return None
    chars: set[str] = set()
    commands: set[str] | None = set()
    states: set[str | None] = set()
    state_filters: list[Any] = []
    magic: list[tuple[MagicFilter, ...]] = []
    for handler in handlers:
        callbacks = _filters(handler)
        command = next((c for c in callbacks if isinstance(c, Command)), None)
        if command is not None:
            chars.update(command.prefix)
            if commands is not None:
                if all(isinstance(c, str) for c in command.commands):
                    commands.update(c.casefold() for c in command.commands)
                else:
                    commands = None  # a pattern: any name may match
            continue
        state = next((c for c in callbacks if isinstance(c, StateFilter | State)), None)
        if state is None:
            found = tuple(f.magic for f in handler.filters or () if f.magic is not None)
            if not found:
                return None
            magic.append(found)
            continue
        names = _state_names(state)
        if names is None:
            state_filters.append(state)
        elif "*" in names:
            return None  # any state: no gate
        else:
            states.update(names)
    return MessageGate(
        "".join(sorted(chars)),
        frozenset(states),
        state_filters,
        None if commands is None else frozenset(commands),
        magic,
    )


def _state_names(state: StateFilter | State) -> set[str | None] | None:
    """The states a filter accepts, when they are plain names; None when it must be asked."""
    allowed = state.states if isinstance(state, StateFilter) else (state,)
    names: set[str | None] = set()
    for item in allowed:
        if item is None or isinstance(item, str):
            names.add(item)
        elif isinstance(item, State):
            names.add(item.state)
        else:
            return None  # a StatesGroup: asked, not listed
    return names


def _filters(handler: HandlerObject) -> list[Any]:
    return [unwrap(f.callback) for f in handler.filters or ()]
