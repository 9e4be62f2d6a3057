"""Every CallbackData class against any callback data (issue 15): aiogram's filter reads a payload
with `unpack`, which must refuse junk with TypeError/ValueError (the filter's "no match") and
never raise anything else; whatever it accepts packs back within Telegram's 64 bytes. What the
handlers then do with edge ids is proven through the bot in tests/e2e/test_hostile_properties.py."""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.hostile import EDGE_ID_TEXTS, built_payloads, callback_classes, fits
from tests.reliability.report import REPORT

CLASSES = callback_classes()


def _with_prefix(cls: type[CallbackData]) -> st.SearchStrategy[str]:
    """The class's prefix and junk parts: ids at the edges, text, empty parts."""
    part = st.one_of(st.sampled_from(EDGE_ID_TEXTS), st.text(max_size=10).filter(lambda s: ":" not in s))
    return st.lists(part, max_size=len(cls.model_fields) + 1).map(lambda ps: ":".join([cls.__prefix__, *ps]))


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@settings(max_examples=40)
@given(data=st.data())
def test_unpack_accepts_or_refuses_cleanly(cls: type[CallbackData], data: st.DataObject) -> None:
    payload = data.draw(st.one_of(_with_prefix(cls), st.text(max_size=64)).filter(fits))
    REPORT.inputs["callback data (unit)"] += 1
    try:
        value = cls.unpack(payload)
    except (TypeError, ValueError):  # the filter's "not this button"
        return
    try:
        packed = value.pack()
    except ValueError:  # a value aiogram will not pack (a separator inside): still no crash
        return
    assert fits(packed) or not fits(payload)


@given(payload=built_payloads())
def test_built_payloads_fit(payload: str) -> None:
    REPORT.inputs["callback data (unit)"] += 1
    assert len(payload.encode()) <= 64  # aiogram refuses to pack more, so no button carries more
