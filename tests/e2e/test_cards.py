"""The item card as people use it: open by ref / deep link / button, fields, people, stages, trash."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Role, User
from crm_core.services import items as items_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2101
OTHER_ID = 2102


async def _user(bot: Harness, telegram_id: int) -> User:
    async with bot.app.db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.telegram_id == telegram_id))
    assert user is not None
    return user


async def _lead(bot: Harness, owner: User, **fields: object) -> int:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        lead = await items_service.create_lead(s, actor, **fields)
        return lead.id


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, User]:
    # People do not type several commands a second; the flood limits are tested elsewhere.
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    return admin, sales, other


async def test_open_by_ref_forms_and_deep_link(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _lead(bot, sales, title="Window order", phones=["+7 999 123-45-67"])
    for text in (f"L-{lead_id}", f"l{lead_id}", f"/start L-{lead_id}"):
        [card] = await bot.say(SALES_ID, text)
        assert f"L-{lead_id}" in card.text and "Window order" in card.text, card.text
        assert "Stage" in card.text
