"""How the importer's and the export's columns are named to people: each target's label in the
reader's language, and every language's labels (and stage names) as names the importer recognises,
so that an exported file, whatever language it was written in, imports back by itself."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.fields import find_field
from crm_core.models.items import ItemType, Stage
from crm_core.services.exports import CREATED
from crm_core.services.imports import ID, RESPONSIBLE, SKIP, STAGE, targets
from handlers.field_text import field_label
from handlers.texts import LANGUAGES, N_, Translator
from handlers.texts.names import stage_name

SPECIAL_LABELS = {
    SKIP: N_("imp.target.skip"),
    "phone": N_("imp.target.phone"),
    "phone.mobile": N_("imp.target.phone_mobile"),
    "phone.home": N_("imp.target.phone_home"),
    "phone.other": N_("imp.target.phone_other"),
    "email": N_("imp.target.email"),
    "email.home": N_("imp.target.email_home"),
    "email.other": N_("imp.target.email_other"),
    STAGE: N_("imp.target.stage"),
    RESPONSIBLE: N_("imp.target.responsible"),
    ID: N_("imp.target.id"),
    CREATED: N_("imp.target.created_at"),
}


def target_label(tr: Translator, target: str) -> str:
    """A column target named in the reader's language (plain text)."""
    if target in SPECIAL_LABELS:
        return tr(SPECIAL_LABELS[target])
    for item_type in ItemType:
        if find_field(item_type, target) is not None:
            return field_label(tr, target)
    return target


def label_aliases(item_type: ItemType) -> dict[str, list[str]]:
    """Each target's label in every language: column names the importer takes as that target."""
    return {
        target: [target_label(Translator(lang), target) for lang in LANGUAGES]
        for target in targets(item_type)
    }


async def stage_aliases(session: AsyncSession, item_type: ItemType) -> dict[str, int]:
    """Every stage's name in every language -> its id (the default pipeline's first)."""
    out: dict[str, int] = {}
    if not item_type.has_stages:
        return out
    stages = await session.scalars(select(Stage).where(Stage.entity_type == item_type).order_by(Stage.id))
    for stage in stages:
        for lang in LANGUAGES:
            out.setdefault(stage_name(Translator(lang), stage), stage.id)
    return out
