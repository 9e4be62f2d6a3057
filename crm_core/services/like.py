"""LIKE patterns for what a user typed: escaped, and written into the statement, not bound.

A bound pattern lets PostgreSQL plan a prepared statement once for any value: after five runs it
may keep that generic plan, which cannot use a trigram or text_pattern_ops index (it does not know
the text) and reads the table newest first instead: 2 ms became 430 ms for a rare text at 1M rows,
once the same connection had searched for common ones. A literal is planned for its own text.
"""

from __future__ import annotations

from sqlalchemy import BindParameter, String, bindparam

from crm_core.fields.kinds import storable


def escape_like(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '\\'."""
    return storable(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _rendered(pattern: str) -> BindParameter[str]:
    # literal_execute: rendered (quotes doubled) when the statement runs; the compiled form stays
    # cached with a placeholder.
    return bindparam(None, pattern, type_=String(), literal_execute=True)


def contains(text: str) -> str:
    """LIKE pattern of the values containing `text` (as given: lower it first for lower(...)), as a
    plain string: for a parameter of a statement whose plan must not depend on it."""
    return f"%{escape_like(text)}%"


def contains_pattern(text: str) -> BindParameter[str]:
    """`contains(text)` written into the statement."""
    return _rendered(contains(text))


def prefix_pattern(text: str) -> BindParameter[str]:
    """LIKE pattern of the values starting with `text`."""
    return _rendered(f"{escape_like(text)}%")


__all__ = ["escape_like", "contains", "contains_pattern", "prefix_pattern"]
