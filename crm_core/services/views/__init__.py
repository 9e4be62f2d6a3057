"""Views of items: the filter language (filters), the filtered/sorted list with keyset or offset
paging (paging), kanban (kanban) and saved filters (saved). Re-exports the names callers use."""

from crm_core.services.views.filters import Condition, fast_visible, fields_of
from crm_core.services.views.kanban import KanbanColumn, kanban, kanban_by_scan, stage_items
from crm_core.services.views.paging import MAX_LIMIT, Page, count_items, list_items
from crm_core.services.views.saved import (
    create_saved_filter,
    default_filter,
    delete_saved_filter,
    list_saved_filters,
    list_with_filter,
    rename_saved_filter,
    set_default_filter,
)

__all__ = [
    "MAX_LIMIT",
    "Condition",
    "KanbanColumn",
    "Page",
    "count_items",
    "create_saved_filter",
    "default_filter",
    "delete_saved_filter",
    "fast_visible",
    "fields_of",
    "kanban",
    "kanban_by_scan",
    "list_items",
    "list_saved_filters",
    "list_with_filter",
    "rename_saved_filter",
    "set_default_filter",
    "stage_items",
]
