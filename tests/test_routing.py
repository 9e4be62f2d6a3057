"""Router gates (bot.routing): derived from the handlers' own filters, never stricter than they are."""

from __future__ import annotations

import datetime
import re
from typing import Any

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.routing import CallbackGate, Gatehouse, MessageGate, RootFiltered, gate_for
from handlers import get_routers


class OneCB(CallbackData, prefix="one"):
    n: int


class TwoCB(CallbackData, prefix="two"):
    s: str


class Form(StatesGroup):
    name = State()
    phone = State()


USER = User(id=1, is_bot=False, first_name="A")
BOT = Bot("1:TEST")


def _message(text: str | None, caption: str | None = None) -> Message:
    return Message(
        message_id=1,
        date=datetime.datetime.now(datetime.UTC),
        chat=Chat(id=1, type="private"),
        from_user=USER,
        text=text,
        caption=caption,
    )


def _press(data: str | None) -> CallbackQuery:
    return CallbackQuery(id="1", from_user=USER, chat_instance="x", data=data)


async def test_callback_gate_passes_exactly_what_its_handlers_callback_filters_take() -> None:
    router = Router()
    router.callback_query.register(lambda q: None, OneCB.filter(F.n == 1))
    router.callback_query.register(lambda q: None, OneCB.filter(F.n == 3))
    router.callback_query.register(lambda q: None, TwoCB.filter())
    gate = gate_for(router.callback_query)
    assert isinstance(gate, CallbackGate)
    assert await gate(_press(OneCB(n=1).pack()))
    assert await gate(_press(OneCB(n=3).pack()))
    assert not await gate(_press(OneCB(n=5).pack()))  # no handler's rule takes it
    assert not await gate(_press("one:x"))  # does not unpack: no handler takes it either
    assert await gate(_press(TwoCB(s="x").pack()))
    assert not await gate(_press("three:1"))
    assert not await gate(_press("onex:1"))
    assert not await gate(_press(None))


async def test_no_gate_where_a_handler_could_take_anything() -> None:
    router = Router()
    router.callback_query.register(lambda q: None, OneCB.filter())
    router.callback_query.register(lambda q: None)  # no filter at all
    router.message.register(lambda m: None, Command("go"))
    router.message.register(lambda m: None, lambda m: m.text.startswith("L-"))
    assert gate_for(router.callback_query) is None
    assert gate_for(router.message) is None


async def test_message_gate_commands_and_states() -> None:
    router = Router()
    router.message.register(lambda m: None, Command("go", prefix="/!"))
    router.message.register(lambda m: None, Form.name, F.text)
    router.message.register(lambda m: None, StateFilter(Form.phone, None))
    gate = gate_for(router.message)
    assert isinstance(gate, MessageGate)
    assert not await gate(_message("/anything"), raw_state="other")  # no handler's command
    assert await gate(_message("  !go"), raw_state="other")
    assert await gate(_message("/go@somebot and more"), raw_state="other")  # the mention is Command's
    assert await gate(_message("/GO"), raw_state="other")  # so is the case
    assert not await gate(_message("/gone"), raw_state="other")
    assert not await gate(_message("#go"), raw_state="other")
    assert await gate(_message(None, caption="/go"), raw_state="other")
    assert await gate(_message("hello"), raw_state=Form.name.state)
    assert await gate(_message("hello"), raw_state=Form.phone.state)
    assert await gate(_message("hello"), raw_state=None)
    router2 = Router()
    router2.message.register(lambda m: None, Form.name)
    gate2 = gate_for(router2.message)
    assert isinstance(gate2, MessageGate)
    assert not await gate2(_message("hello"), raw_state=None)
    assert not await gate2(_message("/go"), raw_state=None)


async def test_a_command_given_as_a_pattern_lets_any_name_through() -> None:
    router = Router()
    router.message.register(lambda m: None, Command("go"))
    router.message.register(lambda m: None, Command(re.compile(r"item_\d+")))
    gate = gate_for(router.message)
    assert isinstance(gate, MessageGate)
    assert await gate(_message("/item_12"), raw_state=None)
    assert await gate(_message("/anything"), raw_state=None)
    assert not await gate(_message("anything"), raw_state=None)


async def test_handlers_with_only_magic_filters_are_gated_by_them() -> None:
    router = Router()
    router.message.register(lambda m: None, F.chat.type == "group", F.text.startswith("L-"))
    router.message.register(lambda m: None, F.caption)
    gate = gate_for(router.message)
    assert isinstance(gate, MessageGate)
    group = _message("L-1").model_copy(update={"chat": Chat(id=-5, type="group")})
    assert await gate(group, raw_state=None)
    assert not await gate(_message("L-1"), raw_state=None)  # a private chat
    assert not await gate(group.model_copy(update={"text": "hello"}), raw_state=None)
    assert await gate(_message(None, caption="a photo"), raw_state=None)
    router.message.register(lambda m: None, lambda m: True)  # a filter not known to be pure
    assert gate_for(router.message) is None


async def test_any_state_means_no_gate() -> None:
    router = Router()
    router.message.register(lambda m: None, StateFilter("*"))
    assert gate_for(router.message) is None


def test_gatehouses_leave_the_routers_as_they_are() -> None:
    """Routers are module singletons; every dispatcher built (tests build many) adopts them again."""

    def root_filters() -> list[tuple[int, int]]:
        return [
            (len(r.message._handler.filters or []), len(r.callback_query._handler.filters or []))
            for r in routers
        ]

    routers = get_routers()
    before = root_filters()
    Gatehouse(get_routers())
    Gatehouse(get_routers())
    assert root_filters() == before
    assert any(gate_for(r.callback_query) is not None for r in routers)
    assert any(gate_for(r.message) is not None for r in routers)


def test_the_gatehouse_holds_the_routers_in_order() -> None:
    routers = get_routers()
    house = Gatehouse(routers)
    assert house.sub_routers == routers  # other kinds of updates go aiogram's way through them
    for event in Gatehouse.EVENTS:
        assert [r for r, _ in house.members[event]] == routers
    gated = [g for _, g in house.members["callback_query"] if isinstance(g, CallbackGate)]
    assert len(gated) > 40


class Counted(Router):
    """A router that notes each visit, to see which ones the gatehouse skips."""

    visits: list[str] = []

    async def propagate_event(self, update_type: str, event: Any, **kwargs: Any) -> Any:
        Counted.visits.append(self.name)
        return await super().propagate_event(update_type, event, **kwargs)


async def test_the_gatehouse_visits_only_routers_whose_gate_is_open() -> None:
    one, anything, two = Counted(name="one"), Counted(name="anything"), Counted(name="two")
    command, form = Counted(name="command"), Counted(name="form")

    one.callback_query.register(lambda q: "one", OneCB.filter())
    anything.callback_query.register(lambda q: "anything", F.data == "exact")  # no gate
    two.callback_query.register(lambda q: "two", TwoCB.filter())
    command.message.register(lambda m: "command", Command("go"))
    form.message.register(lambda m: "form", Form.name)
    house = Gatehouse([one, anything, two, command, form])

    async def press(data: str) -> tuple[Any, list[str]]:
        Counted.visits = []
        result = await house.propagate_event("callback_query", _press(data), raw_state=None)
        return result, Counted.visits

    async def say(text: str, state: str | None) -> tuple[Any, list[str]]:
        Counted.visits = []
        result = await house.propagate_event("message", _message(text), raw_state=state, bot=BOT)
        return result, Counted.visits

    assert await press(OneCB(n=1).pack()) == ("one", ["one"])
    assert await press(TwoCB(s="x").pack()) == ("two", ["anything", "two"])
    assert await press("exact") == ("anything", ["anything"])
    assert await press("zzz:1") == (UNHANDLED, ["anything"])
    assert await say("/go", None) == ("command", ["command"])
    assert await say("hello", Form.name.state) == ("form", ["form"])
    assert await say("hello", None) == (UNHANDLED, [])


async def test_rules_commands_and_a_routers_own_filters_keep_it_from_being_visited() -> None:
    """A button of one class with many handlers across routers (a card's), a command among many
    routers with commands, and a router turned away by its own filters (group chats only)."""
    ones = [Counted(name=f"one{n}") for n in range(4)]
    for n, router in enumerate(ones):
        router.callback_query.register(lambda q, n=n: f"one{n}", OneCB.filter(F.n == n))
    groups = Counted(name="groups")
    groups.message.filter(F.chat.type.in_({"group", "supergroup"}))
    groups.message.register(lambda m: "groups")  # no gate of its own: it would take anything
    commands = [Counted(name=f"cmd{n}") for n in range(3)]
    for n, router in enumerate(commands):
        router.message.register(lambda m, n=n: f"cmd{n}", Command(f"go{n}"))
    house = Gatehouse([*ones, groups, *commands])
    assert isinstance(house.members["message"][len(ones)][1], RootFiltered)

    async def press(n: int) -> tuple[Any, list[str]]:
        Counted.visits = []
        result = await house.propagate_event("callback_query", _press(OneCB(n=n).pack()), raw_state=None)
        return result, Counted.visits

    assert await press(2) == ("one2", ["one2"])
    assert await press(7) == (UNHANDLED, [])

    Counted.visits = []
    assert await house.propagate_event("message", _message("/go1 x"), raw_state=None, bot=BOT) == "cmd1"
    assert Counted.visits == ["cmd1"]  # not the group router: a private chat
    group_message = _message("/go1").model_copy(update={"chat": Chat(id=-5, type="group")})
    Counted.visits = []
    assert await house.propagate_event("message", group_message, raw_state=None, bot=BOT) == "groups"
    assert Counted.visits == ["groups"]
