"""What a hostile client sends (issue 15), as hypothesis strategies, and the state it must not change.

Callback data: every CallbackData class of handlers/ built with ids at the edges, an admin's real
payloads replayed and mutated, and any text up to Telegram's 64 bytes. Texts: anything up to 4,096
characters."""

from __future__ import annotations

import enum
import importlib
import pkgutil
import types
import typing
from typing import Any

from aiogram.filters.callback_data import CallbackData
from hypothesis import strategies as st
from sqlalchemy import select

import handlers
from crm_core.models.base import Base

# 0, negative, INTEGER's end and past it, BIGINT's end and past it, huge, non-ASCII digits.
EDGE_IDS = [0, -1, 1, 2, 3, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 10**40]
EDGE_ID_TEXTS = [str(i) for i in EDGE_IDS] + ["١٢", "１", "-0", "+1", "1_0", "1.0", " 1", ""]
MAX_CALLBACK_BYTES = 64


def callback_classes() -> list[type[CallbackData]]:
    for module in pkgutil.iter_modules(handlers.__path__):
        importlib.import_module(f"handlers.{module.name}")
    found, todo = [], list(CallbackData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("handlers."):
            found.append(cls)
    return sorted(found, key=lambda c: c.__prefix__)


def _field_strategy(kind: Any) -> st.SearchStrategy[Any]:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return st.sampled_from(list(kind))
    if kind is int:
        return st.one_of(st.sampled_from(EDGE_IDS), st.integers(min_value=-(2**64), max_value=2**64))
    if kind is bool:
        return st.booleans()
    words = ["", "lead", "deal", "contact", "company", "title", "amount", "stage_id", "today", "x"]
    return st.one_of(st.sampled_from(words), st.text(max_size=12))


def _packed(cls: type[CallbackData]) -> st.SearchStrategy[str]:
    hints = typing.get_type_hints(cls)
    fields = {}
    for name in cls.model_fields:
        kind = hints[name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            kind = next(a for a in typing.get_args(kind) if a is not type(None))
        fields[name] = _field_strategy(kind)

    def pack(values: dict[str, Any]) -> str | None:
        try:
            return cls(**values).pack()
        except ValueError:  # ":" in a value, or over 64 bytes: no button can carry it
            return None

    return st.fixed_dictionaries(fields).map(pack).filter(lambda s: s is not None)  # type: ignore[return-value]


def fits(data: str) -> bool:
    return 0 < len(data.encode()) <= MAX_CALLBACK_BYTES


def built_payloads() -> st.SearchStrategy[str]:
    """Every class's payloads with fields at the edges."""
    return st.one_of(*[_packed(cls) for cls in callback_classes()])


def mutated(payloads: list[str]) -> st.SearchStrategy[str]:
    """An admin's real payloads, with one part swapped for an edge id or junk."""

    def swap(data: str, index: int, part: str) -> str:
        parts = data.split(":")
        parts[index % len(parts)] = part
        return ":".join(parts)

    junk = st.one_of(st.sampled_from(EDGE_ID_TEXTS), st.text(max_size=8).filter(lambda s: ":" not in s))
    return st.builds(swap, st.sampled_from(payloads), st.integers(0, 10), junk).filter(fits)


raw_payloads = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64).filter(fits)
texts = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=50),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=3500, max_size=4096),
    st.sampled_from(["L-" + t for t in EDGE_ID_TEXTS] + ["/start c_lead_" + t for t in EDGE_ID_TEXTS]),
).filter(lambda s: s.strip() != "")


# --- what a salesperson must not change -------------------------------------------------------------

# Bookkeeping of deliveries and updates: not something a person owns. cache_versions is bumped by
# any write to a cached table, a person's own settings included; the tables themselves are compared.
_SKIP = {"processed_updates", "update_inbox", "notifications", "chat_delivery", "activity_reminders",
         "cache_versions"}  # fmt: skip
_OWNER_COLUMNS = ("created_by_id", "author_id", "user_id", "uploaded_by_id", "by_user_id")
# A person's own settings they may change; their role, department and status are an admin's.
_OWN_SETTINGS = {"language", "language_chosen", "timezone", "reminder_offsets", "digest_time",
                 "digest_workdays_only", "weekly_digest", "weekly_funnel", "updated_at", "full_name",
                 "username"}  # fmt: skip


async def protected_state(session: Any, user_id: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the user (CRM id) did not create, and their own row but for their settings."""
    import crm_core.models  # noqa: F401 - every table registered

    state: dict[str, list[tuple[Any, ...]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in _SKIP:
            continue
        columns = [c for c in table.columns if not (table.name == "users" and c.name in _OWN_SETTINGS)]
        query = select(*columns)
        for name in _OWNER_COLUMNS:
            if name in table.c:
                query = query.where((table.c[name].is_(None)) | (table.c[name] != user_id))
        rows = (await session.execute(query)).all()
        state[table.name] = sorted((tuple(map(repr, r)) for r in rows), key=repr)
    return state
