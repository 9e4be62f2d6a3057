"""/find and inline mode: phones typed any way, emails any case, refs; results open cards; inline
answers hold only what the user may see, each with a deep link; strangers get nothing."""

from __future__ import annotations

from decimal import Decimal

from crm_core.models import User
from crm_core.models.items import Deal
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from tests.e2e.harness import Harness
from tests.e2e.test_kanban import OTHER_ID, SALES_ID, team

STRANGER_ID = 3999


async def _arrange(bot: Harness, sales: User, other: User) -> dict[str, int]:
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        them = await s.get(User, other.id)
        contact = await items_service.create_contact(
            s, me, name="Ivan", last_name="Petrov", phones=["+7 999 123-45-67"], emails=["Boss@Example.com"]
        )
        deal = await items_service.create_deal(
            s, me, title="Windows for Petrov", amount=Decimal("150000"), contact_id=contact.id
        )
        hidden = await items_service.create_lead(s, them, title="Windows secret", phones=["+7 999 765-43-21"])
        return {"contact": contact.id, "deal": deal.id, "hidden": hidden.id}


async def test_find_by_phone_email_and_name(bot: Harness) -> None:
    _admin, sales, other = await team(bot)
    ids = await _arrange(bot, sales, other)
    [found] = await bot.say(SALES_ID, "/find 8 (999) 123 45 67")
    assert f"C-{ids['contact']}" in found.text and "Ivan Petrov" in found.text
    [found] = await bot.say(SALES_ID, "/find boss@example.COM")
    assert f"C-{ids['contact']}" in found.text
    # The Find button, then the typed text; results open cards.
    [menu] = await bot.say(SALES_ID, "/menu")
    await bot.press(SALES_ID, menu, "Find")
    assert "Type a name, phone, email" in bot.current(menu).text
    [results] = await bot.say(SALES_ID, "windows")
    assert f"D-{ids['deal']}" in results.text and "secret" not in results.text
    await bot.press(SALES_ID, results, f"D-{ids['deal']}")
    assert "Windows for Petrov" in bot.current(results).text
    # Someone else's phone finds nothing for Sam.
    [nothing] = await bot.say(SALES_ID, "/find +7 999 765 43 21")
    assert "Nothing found" in nothing.text
    [mine] = await bot.say(OTHER_ID, "/find 89997654321")
    assert f"L-{ids['hidden']}" in mine.text


async def test_find_in_russian_and_cancel(bot: Harness) -> None:
    _admin, sales, other = await team(bot, lang="ru")
    ids = await _arrange(bot, sales, other)
    [asked] = await bot.say(SALES_ID, "/find")
    assert "Введите имя, телефон" in asked.text
    await bot.press(SALES_ID, asked, "Отмена")
    assert "Поиск закрыт" in bot.current(asked).text
    [asked] = await bot.say(SALES_ID, "/find")
    [results] = await bot.say(SALES_ID, "+79991234567")
    assert "найден 1 результат" in results.text and f"C-{ids['contact']}" in results.text
    await bot.press(SALES_ID, results, "Искать ещё")
    [again] = await bot.say(SALES_ID, f"D-{ids['deal']}")
    assert f"D-{ids['deal']}" in again.text


async def test_inline_mode_shows_only_visible_items_with_deep_links(bot: Harness) -> None:
    _admin, sales, other = await team(bot)
    ids = await _arrange(bot, sales, other)
    update = bot.tg.inline_query(SALES_ID, "windows")
    await bot.settle()
    answer = bot.tg.inline_answers[update["inline_query"]["id"]]
    assert answer is not None and answer.get("is_personal") is True
    results = answer["results"]
    assert [r["id"] for r in results] == [f"D-{ids['deal']}"]
    card = results[0]
    text = card["input_message_content"]["message_text"]
    assert "Windows for Petrov" in text and "Ivan Petrov" in text and "150,000" in text
    [[button]] = card["reply_markup"]["inline_keyboard"]
    username = bot.tg.bot_user.username
    assert button["url"] == f"https://t.me/{username}?start=D-{ids['deal']}"
    # The other salesperson sees only their own lead.
    update = bot.tg.inline_query(OTHER_ID, "windows")
    await bot.settle()
    assert [r["id"] for r in bot.tg.inline_answers[update["inline_query"]["id"]]["results"]] == [
        f"L-{ids['hidden']}"
    ]
    # The deep link opens the card for Sam.
    [card_msg] = await bot.say(SALES_ID, f"/start D-{ids['deal']}")
    assert "Windows for Petrov" in card_msg.text
    # A stranger gets an empty answer.
    bot.tg.add_user(STRANGER_ID, "Stranger")
    update = bot.tg.inline_query(STRANGER_ID, "windows")
    await bot.settle()
    assert bot.tg.inline_answers[update["inline_query"]["id"]]["results"] == []


async def test_results_name_the_stage_in_the_readers_language(bot: Harness) -> None:
    admin, sales, other = await team(bot)
    ids = await _arrange(bot, sales, other)
    [found] = await bot.say(SALES_ID, "/find windows")
    assert f"D-{ids['deal']} · New" in found.text
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        me.language, me.language_chosen = "ru", True
    [found] = await bot.say(SALES_ID, "/find windows")
    assert f"D-{ids['deal']} · Новая" in found.text
    # Renamed by an admin: the admin's word for every reader.
    async with bot.app.db.unit_of_work() as s:
        deal = await s.get(Deal, ids["deal"])
        await pipelines_service.update_stage(s, await s.get(User, admin.id), deal.stage_id, name="Свежие")
    [found] = await bot.say(SALES_ID, "/find windows")
    assert f"D-{ids['deal']} · Свежие" in found.text
    async with bot.app.db.unit_of_work() as s:
        (await s.get(User, sales.id)).language = "en"  # the literal name is not translated
    [found] = await bot.say(SALES_ID, "/find windows")
    assert f"D-{ids['deal']} · Свежие" in found.text
