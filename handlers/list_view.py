"""The state of an item list as a person sees it, shared by the list (handlers.lists) and its
filter builder (handlers.filters_ui): the view kept in FSM data under "lv_<type>" (conditions,
sort, the chosen saved filter, paging cursors, the selection) and how its conditions and sort
read. The builder goes back to the list it filters, so it imports lists, never the other way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from aiogram.fsm.context import FSMContext
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import NotFound
from crm_core.formatting import format_date
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import pipelines as pipelines_service
from crm_core.services import views as views_service
from crm_core.services.cards_queries import users_by_id
from crm_core.services.views import Condition
from handlers.field_text import field_label
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import stage_name

# The operators and date presets the builder offers, by name.
OP_TEXTS = {
    "contains": N_("fl.op.contains"),
    "eq": N_("fl.op.eq"),
    "gte": N_("fl.op.gte"),
    "lte": N_("fl.op.lte"),
    "not_null": N_("fl.op.not_null"),
    "is_null": N_("fl.op.is_null"),
}
PRESET_TEXTS = {
    "today": N_("fl.preset.today"),
    "yesterday": N_("fl.preset.yesterday"),
    "this_week": N_("fl.preset.this_week"),
    "last_7_days": N_("fl.preset.last_7_days"),
    "last_30_days": N_("fl.preset.last_30_days"),
    "this_month": N_("fl.preset.this_month"),
}
LIST_TITLES = {
    ItemType.LEAD: N_("ls.title.lead"),
    ItemType.DEAL: N_("ls.title.deal"),
    ItemType.CONTACT: N_("ls.title.contact"),
    ItemType.COMPANY: N_("ls.title.company"),
}


@dataclass
class ListView:
    conditions: list[dict[str, Any]]
    sort: list[list[str]] | None
    saved_id: int | None
    cursors: list[str | None]
    selected: list[int]
    selecting: bool

    def to_data(self) -> dict[str, Any]:
        return {"c": self.conditions, "s": self.sort, "sf": self.saved_id, "cur": self.cursors,
                "sel": self.selected, "m": int(self.selecting)}  # fmt: skip

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ListView:
        return cls(
            conditions=list(data.get("c") or []), sort=data.get("s") or None, saved_id=data.get("sf"),
            cursors=list(data.get("cur") or [None]), selected=[int(i) for i in data.get("sel") or []],
            selecting=bool(data.get("m")),
        )  # fmt: skip

    def filters(self) -> list[Condition]:
        return [Condition.from_json(c) for c in self.conditions]

    def reset_paging(self) -> None:
        self.cursors = [None]


def _key(item_type: ItemType) -> str:
    return f"lv_{ItemType(item_type).value}"


async def fresh_view(session: AsyncSession, user: User, item_type: ItemType) -> ListView:
    """How a list opens: with the pinned default filter, if there is one."""
    pinned = await views_service.default_filter(session, user, item_type)
    if pinned is None:
        return ListView([], None, None, [None], [], False)
    return ListView(list(pinned.conditions or []), pinned.sort or None, pinned.id, [None], [], False)


async def load_view(
    state: FSMContext, session: AsyncSession, user: User, item_type: ItemType, *, fresh: bool = False
) -> ListView:
    data = await state.get_data()
    raw = data.get(_key(item_type))
    if fresh or not isinstance(raw, dict):
        view = await fresh_view(session, user, item_type)
        await save_view(state, item_type, view)
        return view
    return ListView.from_data(raw)


async def save_view(state: FSMContext, item_type: ItemType, view: ListView) -> None:
    await state.update_data({_key(item_type): view.to_data()})


async def leave_forms(state: FSMContext) -> None:
    """Navigating the list leaves this module's typing steps (other features' forms are kept)."""
    current = await state.get_state() or ""
    if current.startswith(("FilterForm:", "FindForm:")):
        await state.set_state(None)


# --- describing conditions -------------------------------------------------------------------------


def _date_text(tr: Translator, value: str) -> str:
    try:
        return format_date(date.fromisoformat(value), tr.language)
    except (TypeError, ValueError):
        return esc(str(value))


async def describe(session: AsyncSession, tr: Translator, conditions: list[dict[str, Any]]) -> list[str]:
    """Human lines for stored conditions ("Created: last 7 days", "Stage: In progress")."""
    out = []
    stage_ids = [int(c["value"]) for c in conditions if c.get("field") == "stage_id" and c.get("op") == "eq"]
    user_ids = [
        int(c["value"]) for c in conditions if c.get("field") == "responsible_id" and c.get("op") == "eq"
    ]
    stages = {}
    for sid in stage_ids:
        try:
            stages[sid] = stage_name(tr, await pipelines_service.get_stage(session, sid))
        except NotFound:
            stages[sid] = f"#{sid}"
    people = await users_by_id(session, user_ids)
    for c in conditions:
        name, op, value = c.get("field", ""), c.get("op", ""), c.get("value")
        label = field_label(tr, name)
        if op in ("is_null", "not_null"):
            text = tr(OP_TEXTS[op])
        elif op == "preset":
            if isinstance(value, list) and value and value[0] == "range":
                lo, hi = value[1] if len(value) == 2 else value[1:3]
                text = tr("fl.range_value", start=_date_text(tr, lo), end=_date_text(tr, hi))
            else:
                text = tr(PRESET_TEXTS[value]) if value in PRESET_TEXTS else esc(str(value))
        elif name == "stage_id":
            text = esc(truncate(stages.get(int(value), "?"), 60))
        elif name == "responsible_id":
            who = people.get(int(value))
            text = esc(truncate(who.full_name if who else f"#{value}", 60))
        elif isinstance(value, bool):
            text = tr("fl.yes") if value else tr("fl.no")
        else:
            op_text = tr(OP_TEXTS[op]) if op in OP_TEXTS else esc(op)  # an op the builder never offers
            text = f"{op_text} «{esc(truncate(str(value), 60))}»"
        out.append(f"{label}: {text}")
    return out


def sort_label(tr: Translator, sort: list[list[str]] | None) -> str:
    if not sort:
        return tr("fl.sort_default")
    return ", ".join(f"{field_label(tr, f)} {'↓' if d == 'desc' else '↑'}" for f, d in sort)


__all__ = [
    "LIST_TITLES",
    "OP_TEXTS",
    "PRESET_TEXTS",
    "ListView",
    "describe",
    "fresh_view",
    "leave_forms",
    "load_view",
    "save_view",
    "sort_label",
]
