"""Short public refs people type: L-12 (lead), D-7 (deal), C-3 (contact), CO-5 (company).
Accepted loosely: "l12", "L 12", "d-7", "co5", "CO #5"."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import InvalidRef
from crm_core.models.items import ItemType
from crm_core.models.users import User

_PREFIX_TO_TYPE = {"L": ItemType.LEAD, "D": ItemType.DEAL, "C": ItemType.CONTACT, "CO": ItemType.COMPANY}
# Cyrillic look-alikes typed by Russian keyboards: "С" and "О" are the letters C and O.
_LOOKALIKES = str.maketrans({"С": "C", "с": "c", "О": "O", "о": "o"})
# Any length of digits is a ref: an id too large for the database is a missing item ("Not found"),
# not text to capture. Bounded only so int() stays cheap.
_REF_RE = re.compile(r"^\s*(co|c|l|d)\s*[-#№]?\s*(\d{1,100})\s*$", re.IGNORECASE)


def parse_ref(text: str) -> tuple[ItemType, int]:
    """(item type, id) of a typed ref; InvalidRef otherwise."""
    m = _REF_RE.match((text or "").translate(_LOOKALIKES))
    if not m or int(m.group(2)) <= 0:
        raise InvalidRef(ref=text)
    return _PREFIX_TO_TYPE[m.group(1).upper()], int(m.group(2))


def try_parse_ref(text: str) -> tuple[ItemType, int] | None:
    try:
        return parse_ref(text)
    except InvalidRef:
        return None


def format_ref(item_type: ItemType | str, item_id: int) -> str:
    return f"{ItemType(item_type).prefix}-{item_id}"


async def resolve_ref(session: AsyncSession, actor: User, ref: str, *, for_edit: bool = False) -> Any:
    """Load the item a ref points to, if the actor may see it (NotFound / AccessDenied)."""
    from crm_core.services.items import get_item

    item_type, item_id = parse_ref(ref)
    return await get_item(session, actor, item_type, item_id, for_edit=for_edit)
