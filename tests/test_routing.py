"""Router gates (bot.routing): derived from the handlers' own filters, never stricter than they are."""

from __future__ import annotations

import datetime

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, Message, User

from bot.routing import CallbackPrefixes, MessageGate, gate_of, gate_routers
from handlers import get_routers


class OneCB(CallbackData, prefix="one"):
    n: int


class TwoCB(CallbackData, prefix="two"):
    s: str


class Form(StatesGroup):
    name = State()
    phone = State()


USER = User(id=1, is_bot=False, first_name="A")


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


_gate = gate_of


async def test_callback_gate_passes_exactly_the_prefixes_of_its_handlers() -> None:
    router = Router()
    router.callback_query.register(lambda q: None, OneCB.filter(F.n == 1))
    router.callback_query.register(lambda q: None, TwoCB.filter())
    gate_routers([router])
    gate = _gate(router.callback_query)
    assert isinstance(gate, CallbackPrefixes)
    assert await gate(_press(OneCB(n=5).pack()))  # the rule (n == 1) is the handler's to check
    assert await gate(_press(TwoCB(s="x").pack()))
    assert not await gate(_press("three:1"))
    assert not await gate(_press("onex:1"))
    assert not await gate(_press(None))


async def test_no_gate_where_a_handler_could_take_anything() -> None:
    router = Router()
    router.callback_query.register(lambda q: None, OneCB.filter())
    router.callback_query.register(lambda q: None)  # no filter at all
    router.message.register(lambda m: None, Command("go"))
    router.message.register(lambda m: None, F.text.startswith("L-"))
    gate_routers([router])
    assert _gate(router.callback_query) is None
    assert _gate(router.message) is None


async def test_message_gate_commands_and_states() -> None:
    router = Router()
    router.message.register(lambda m: None, Command("go", prefix="/!"))
    router.message.register(lambda m: None, Form.name, F.text)
    router.message.register(lambda m: None, StateFilter(Form.phone, None))
    gate_routers([router])
    gate = _gate(router.message)
    assert isinstance(gate, MessageGate)
    assert await gate(_message("/anything"), raw_state="other")  # Command decides which command
    assert await gate(_message("  !go"), raw_state="other")
    assert await gate(_message(None, caption="/go"), raw_state="other")
    assert await gate(_message("hello"), raw_state=Form.name.state)
    assert await gate(_message("hello"), raw_state=Form.phone.state)
    assert await gate(_message("hello"), raw_state=None)
    router2 = Router()
    router2.message.register(lambda m: None, Form.name)
    gate_routers([router2])
    gate2 = _gate(router2.message)
    assert isinstance(gate2, MessageGate)
    assert not await gate2(_message("hello"), raw_state=None)
    assert not await gate2(_message("/go"), raw_state=None)


async def test_any_state_means_no_gate() -> None:
    router = Router()
    router.message.register(lambda m: None, StateFilter("*"))
    gate_routers([router])
    assert _gate(router.message) is None


def test_gating_twice_adds_one_gate() -> None:
    """Routers are module singletons; every dispatcher built (tests build many) gates them again."""
    routers = get_routers()
    gate_routers(routers)
    gate_routers(routers)
    for router in routers:
        for observer in (router.message, router.callback_query):
            gates = [
                f
                for f in observer._handler.filters or []
                if isinstance(f.callback, CallbackPrefixes | MessageGate)
            ]
            assert len(gates) <= 1
    assert any(_gate(r.callback_query) is not None for r in routers)
    assert any(_gate(r.message) is not None for r in routers)


async def test_groups_keep_the_order_and_pass_what_any_member_passes() -> None:
    from bot.routing import gated_groups

    routers = get_routers()
    groups = gated_groups(routers, size=5)
    assert [r for g in groups for r in g.sub_routers] == routers  # the same routers, same order
    checked = 0
    for group in groups:
        parent = _gate(group.callback_query)
        members = [_gate(r.callback_query) for r in group.sub_routers if r.callback_query.handlers]
        if any(m is None for m in members):
            assert parent is None  # a member that may take any press: the group is always entered
            continue
        assert isinstance(parent, CallbackPrefixes)
        for member in members:
            for names in member.prefixes.values():
                for name in names:
                    assert await parent(_press(f"{name}:1"))
                    checked += 1
        assert not await parent(_press("no-such-prefix:1"))
    assert checked > 40
