"""Callback data across the app: each CallbackData class has a prefix of its own (aiogram picks
the class by prefix, so a shared one would route a button to the wrong handler), and every one
packs within Telegram's 64 bytes with the largest ids and the longest actions."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import typing

from aiogram.filters.callback_data import CallbackData

import handlers
from crm_core.models.users import Role
from handlers.admin_required import FIELD_NAMES

LARGEST_ID = 2**31 - 1
# Free-text fields whose longest value is known (others get their default or a short code).
LONGEST_TEXT = {
    ("InviteCB", "role"): max((r.value for r in Role), key=len),
    ("UsersCB", "value"): str(LARGEST_ID),  # a department id
    ("PipelinesCB", "value"): "process",
    ("RequiredCB", "kind"): "company",
    ("RequiredCB", "field"): max(FIELD_NAMES, key=len),
    ("SetCB", "v"): "America/Argentina/Buenos_Aires",
}
# Integer fields that are not ids: their largest value.
NOT_IDS = {
    ("KbCB", "o"): 9_999,  # a page offset
    ("KbCB", "c"): 1,  # won/lost shown
    ("CalCB", "y"): 9_999,
    ("CalCB", "m"): 12,
    ("CalCB", "d"): 31,
    ("UsersCB", "page"): 9_999,
}


def _callback_classes() -> list[type[CallbackData]]:
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    found, todo = [], list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("handlers."):
            found.append(cls)
    return found


def _largest(cls: type[CallbackData]) -> CallbackData:
    values = {}
    for name, info in cls.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, enum.Enum):
            values[name] = max(kind, key=lambda member: len(str(member.value)))
        elif kind is int:
            values[name] = NOT_IDS.get((cls.__name__, name), LARGEST_ID)
        elif (cls.__name__, name) in LONGEST_TEXT:
            values[name] = LONGEST_TEXT[(cls.__name__, name)]
        else:
            default = info.get_default()
            values[name] = default if isinstance(default, str) and default else "abcd"
    return cls(**values)


def test_every_callback_prefix_is_unique() -> None:
    classes = _callback_classes()
    assert len(classes) > 20  # every handler module was scanned
    by_prefix: dict[str, list[str]] = {}
    for cls in classes:
        by_prefix.setdefault(cls.__prefix__, []).append(f"{cls.__module__}.{cls.__name__}")
    shared = {prefix: owners for prefix, owners in by_prefix.items() if len(owners) > 1}
    assert not shared, shared


def test_packed_callback_data_fit_64_bytes() -> None:
    too_long = {}
    for cls in _callback_classes():
        try:
            _largest(cls).pack()
        except ValueError as exc:  # aiogram refuses more than 64 bytes
            too_long[cls.__name__] = str(exc)
    assert not too_long, too_long


def test_admin_actions_are_enums() -> None:
    from handlers.admin_common import AdmCB
    from handlers.admin_invites import InvitesCB
    from handlers.admin_pipelines import PipelinesCB
    from handlers.admin_required import RequiredCB
    from handlers.admin_users import UsersCB

    for cls in (AdmCB, InvitesCB, PipelinesCB, RequiredCB, UsersCB):
        action = typing.get_type_hints(cls)["action"]
        assert issubclass(action, enum.StrEnum), cls
