"""The bot keeps users, stages and required fields in its process (crm_core.cache): a change made
by anything else on the database (another process, the REST API, an import, SQL) reaches it on
the very next update."""

from __future__ import annotations

import re

from sqlalchemy import update

from crm_core.db import Database
from crm_core.models import Role, User
from crm_core.models.items import ItemType, Stage
from crm_core.services import pipelines as pipelines_service
from crm_core.services.required_fields import set_required_fields
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

BOB = 2002


async def test_changes_made_by_another_engine_reach_the_bot_on_the_next_update(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    await add_member(bot, BOB, "Bob")
    for _ in range(2):  # the second is served from the cache
        [refusal] = await bot.say(BOB, "/admin")
        assert "Administration" not in (refusal.text or "")
        [created] = await bot.say(BOB, "/new Ivan Petrov wants windows")
    ref = re.search(r"L-\d+", created.text or "")
    assert ref is not None, created.text
    [card] = await bot.say(BOB, ref.group(0))
    assert "Fresh" not in (card.text or "")

    other = Database(bot.app.db.url)  # another process's engine
    try:
        async with other.unit_of_work() as s:
            await s.execute(update(User).where(User.telegram_id == BOB).values(role=Role.ADMIN))
        [screen] = await bot.say(BOB, "/admin")
        assert "Administration" in (screen.text or "")

        async with other.unit_of_work() as s:
            pipeline = await pipelines_service.default_pipeline(s, ItemType.LEAD)
            await s.execute(
                update(Stage)
                .where(Stage.pipeline_id == pipeline.id, Stage.code == "NEW")
                .values(name="Fresh")
            )
        [card] = await bot.say(BOB, ref.group(0))
        assert "Fresh" in (card.text or "")

        async with other.unit_of_work() as s:
            await set_required_fields(s, await s.get(User, admin.id), ItemType.LEAD, ["last_name"])
        replies = await bot.say(BOB, "/new Masha wants doors")
        assert not any(re.search(r"L-\d+", r.text or "") for r in replies), [r.text for r in replies]

        async with other.unit_of_work() as s:
            await s.execute(update(User).where(User.telegram_id == BOB).values(is_active=False))
        [refusal] = await bot.say(BOB, "/menu")
        assert "access to this CRM has been switched off" in (refusal.text or "")
    finally:
        await other.dispose()
