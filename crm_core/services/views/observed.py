"""The observed copies standing in for an item model in a list's clauses.

item_observers carries copies of the columns a list sorts and filters on most (migration 0024);
`Copies` answers those column names with the copies, so that the same filter, sort and cursor
code builds a salesperson's observed part over their observations, read in the page's order from
an index, instead of looking every observed item up by id. A name it has no copy of raises
NotCopied, and the list reads that part by id instead.
"""

from __future__ import annotations

from typing import Any

from crm_core.models.items import ItemType

# item column -> its copy on item_observers
COPIED = {
    "id": "owner_id",
    "responsible_id": "item_responsible_id",
    "deleted_at": "item_deleted_at",
    "created_at": "item_created_at",
    "updated_at": "item_updated_at",
    "stage_id": "item_stage_id",
    "amount": "item_amount",
    "focused_at": "item_focused_at",
    "last_activity_at": "item_last_activity_at",
}


class NotCopied(AttributeError):
    """A list names a column the observations carry no copy of."""


class Copies:
    """An item model's columns, as far as `observations` (an alias of item_observers) copies them."""

    def __init__(self, observations: Any, item_type: ItemType) -> None:
        self.observations = observations
        self.ITEM_TYPE = item_type

    def __getattr__(self, name: str) -> Any:
        copy = COPIED.get(name)
        if copy is None:
            raise NotCopied(name)
        return self.observations.c[copy]


__all__ = ["COPIED", "Copies", "NotCopied"]
