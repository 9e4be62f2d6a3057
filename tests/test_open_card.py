"""The open card is remembered in the person's FSM data and forgotten after OPEN_CARD_TTL."""

from __future__ import annotations

import time

from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from crm_core.models.items import ItemType
from handlers.open_card import OPEN_CARD_KEY, OPEN_CARD_TTL, open_card_of


def _state() -> FSMContext:
    return FSMContext(MemoryStorage(), StorageKey(bot_id=1, chat_id=5, user_id=5))


async def test_the_open_card_expires() -> None:
    state = _state()
    assert await open_card_of(state) is None
    at = time.time()
    await state.update_data({OPEN_CARD_KEY: {"t": "deal", "id": 7, "at": at}})
    assert await open_card_of(state, now=at + 60) == (ItemType.DEAL, 7)
    assert await open_card_of(state, now=at + OPEN_CARD_TTL + 1) is None


async def test_odd_data_is_no_open_card() -> None:
    state = _state()
    for odd in ("lead:7", {"t": "planet", "id": 7, "at": time.time()}, {"t": "lead"}):
        await state.update_data({OPEN_CARD_KEY: odd})
        assert await open_card_of(state) is None
