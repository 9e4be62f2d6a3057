"""Gates in front of routers: a cheap test an update must pass for any handler of the router to
match it, so that the router is skipped at once instead of checking each handler's filters (a
button press went through up to 238 callback handlers, each unpacking its callback data; routing
was about a sixth of the bot's CPU per update).

A gate is exact, never a new rule: it is derived from filters the handlers already have, each of
which an update must pass (aiogram requires all of a handler's filters). A router has a gate for an
event type only if every one of its handlers there has such a filter:
  - callback data of a class (`SomeCB.filter(...)`): the data starts with the class's prefix;
  - a command (`Command(...)`): the text or caption starts with one of its prefix characters;
  - a state (`StateFilter`, a `State`): the chat's state is one of those.

The routers are put, in order, under one parent (`Gatehouse`) that holds their gates and for a
press or a message visits only the routers whose gate lets it through: aiogram's own visit of a
router (a closure, a middleware chain, the root filters, the keyword arguments copied at each step)
cost ~19 µs even where a gate then said no, and an update passed some fifty routers. The routers
themselves are left as they are (they are module singletons, adopted by every dispatcher built).
"""

from __future__ import annotations

from collections.abc import Sequence
from inspect import unwrap
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message


class CallbackPrefixes:
    """Gate: the callback data has one of these prefixes."""

    def __init__(self, prefixes: dict[str, frozenset[str]]) -> None:
        self.prefixes = prefixes  # by separator

    async def __call__(self, query: CallbackQuery) -> bool:  # async, as a MessageGate is
        data = query.data
        if data is None:
            return False
        return any(data.partition(sep)[0] in names for sep, names in self.prefixes.items())


class MessageGate:
    """Gate: a command (by its first character), or one of these states."""

    def __init__(self, command_chars: str, states: frozenset[str | None], state_filters: list[Any]) -> None:
        self.command_chars = command_chars
        self.states = states
        self.state_filters = state_filters  # those not reducible to a set of names

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        if self.command_chars:
            text = message.text or message.caption
            if text and text.lstrip()[:1] in self.command_chars:
                return True
        if raw_state in self.states:
            return True
        for state_filter in self.state_filters:
            if await state_filter(message, raw_state=raw_state):
                return True
        return False


_NOTHING = object()  # a router with nothing for this kind of update


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
        raw_state = kwargs.get("raw_state")
        for router, gate in members:
            if gate is _NOTHING:
                continue
            if gate is not None and not await _passes(gate, event, raw_state):
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
    return gate_for(observer)


async def _passes(gate: CallbackPrefixes | MessageGate, event: Any, raw_state: str | None) -> bool:
    if isinstance(gate, MessageGate):
        return await gate(event, raw_state=raw_state)
    return await gate(event)


def gate_for(observer: Any) -> CallbackPrefixes | MessageGate | None:
    """The gate of a router's callback-query or message handlers; None if one may take anything."""
    if observer.event_name == "callback_query":
        return _callback_gate(observer.handlers)
    if observer.event_name == "message":
        return _message_gate(observer.handlers)
    return None


def _callback_gate(handlers: list[HandlerObject]) -> CallbackPrefixes | None:
    prefixes: dict[str, set[str]] = {}
    if not handlers:
        return None
    for handler in handlers:
        found = [c for c in _filters(handler) if isinstance(c, CallbackQueryFilter)]
        if not found:
            return None
        data_class = found[0].callback_data
        prefixes.setdefault(data_class.__separator__, set()).add(data_class.__prefix__)
    return CallbackPrefixes({sep: frozenset(names) for sep, names in prefixes.items()})


def _message_gate(handlers: list[HandlerObject]) -> MessageGate | None:
    if not handlers:
        return None
    chars: set[str] = set()
    states: set[str | None] = set()
    state_filters: list[Any] = []
    for handler in handlers:
        callbacks = _filters(handler)
        command = next((c for c in callbacks if isinstance(c, Command)), None)
        if command is not None:
            chars.update(command.prefix)
            continue
        state = next((c for c in callbacks if isinstance(c, StateFilter | State)), None)
        if state is None:
            return None
        names = _state_names(state)
        if names is None:
            state_filters.append(state)
        elif "*" in names:
            return None  # any state: no gate
        else:
            states.update(names)
    return MessageGate("".join(sorted(chars)), frozenset(states), state_filters)


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
