"""Pipelines and stages are named once, in handlers.texts.names: a seeded one by its code in the
reader's language (the stages catalog), one an admin named by its literal name in every language;
timeline stage moves read both the code + name payloads and the older two-language ones."""

from __future__ import annotations

from crm_core.models.items import ItemType
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import pipelines as pl
from handlers.texts import Translator
from handlers.texts.names import pipeline_name, stage_name
from handlers.timeline import event_summary
from tests.core.factories import make_admin

EN, RU = Translator("en"), Translator("ru")


async def test_seeded_names_follow_the_language_and_admin_names_do_not(session) -> None:
    admin = await make_admin(session)
    leads = await pl.default_pipeline(session, ItemType.LEAD)
    general = await pl.default_pipeline(session, ItemType.DEAL)
    lead_new, *_, junk = await pl.list_stages(session, leads.id)
    deal_new = (await pl.list_stages(session, general.id))[0]
    assert (pipeline_name(EN, leads), pipeline_name(RU, leads)) == ("Leads", "Лиды")
    assert (pipeline_name(EN, general), pipeline_name(RU, general)) == ("General", "Общая")
    # The same code reads per item type: a lead is "Новый", a deal "Новая".
    assert (stage_name(EN, lead_new), stage_name(RU, lead_new)) == ("New", "Новый")
    assert (stage_name(EN, deal_new), stage_name(RU, deal_new)) == ("New", "Новая")
    assert (stage_name(EN, junk), stage_name(RU, junk)) == ("Poor lead", "Некачественный лид")

    # Renamed by an admin: the admin's word, in both languages.
    await pl.update_stage(session, admin, junk.id, name="Мусор")
    await pl.rename_pipeline(session, admin, general.id, name="Retail")
    assert (stage_name(EN, junk), stage_name(RU, junk)) == ("Мусор", "Мусор")
    assert (pipeline_name(EN, general), pipeline_name(RU, general)) == ("Retail", "Retail")
    # An admin's pipeline: its own name; its default stages still follow the language.
    wholesale = await pl.create_pipeline(session, admin, name="Опт")
    won = await pl.success_stage(session, wholesale.id)
    assert (pipeline_name(EN, wholesale), pipeline_name(RU, wholesale)) == ("Опт", "Опт")
    assert (stage_name(EN, won), stage_name(RU, won)) == ("Won", "Сделка успешна")
    added = await pl.create_stage(session, admin, wholesale.id, name="Delivery")
    assert (stage_name(EN, added), stage_name(RU, added)) == ("Delivery", "Delivery")


def _moved(payload: dict) -> TimelineEvent:
    return TimelineEvent(
        owner_type=ItemType.DEAL, owner_id=1, event_type=EventType.STAGE_CHANGED, payload=payload
    )


def test_timeline_moves_read_new_and_old_payloads() -> None:
    new = _moved({"from_code": "NEW", "from_name": None, "to_code": "C7", "to_name": "Доставка"})
    assert "New" in event_summary(EN, new, {}, None) and "Доставка" in event_summary(EN, new, {}, None)
    assert "Новая" in event_summary(RU, new, {}, None)
    # Stored before 0006: the names in both languages.
    old = _moved({"from_name_en": "New", "from_name_ru": "Новая", "to_name_en": "Won", "to_name_ru": "Успех"})
    assert "New" in event_summary(EN, old, {}, None) and "Won" in event_summary(EN, old, {}, None)
    assert "Новая" in event_summary(RU, old, {}, None) and "Успех" in event_summary(RU, old, {}, None)
