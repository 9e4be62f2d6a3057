"""/today as a salesperson uses it: overdue, today's and the next 7 days' activities, Done from the
list (refreshed in place), open the item, paging within Telegram's limits, forged Done refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_core.models import User
from crm_core.models.activities import Activity
from crm_core.services import activities as activities_service
from crm_core.services import items as items_service
from crm_core.services import users as users_service
from crm_core.services.counters import local_midnight
from handlers.render import visible_length
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2301
OTHER_ID = 2302
ZONES = (
    "Asia/Vladivostok", "Europe/Moscow", "America/New_York", "Asia/Kolkata", "Pacific/Auckland",
    "America/Los_Angeles", "Asia/Tokyo", "Europe/London", "America/Sao_Paulo", "Asia/Dubai",
)  # fmt: skip


def _daytime_zone() -> str:
    """A zone where it is daytime now, so that "later today" exists whenever the test runs."""
    now = datetime.now(UTC)
    return next(z for z in ZONES if 6 <= now.astimezone(ZoneInfo(z)).hour <= 17)


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, ZoneInfo]:
    bot.tg.set_rate_limits(False)
    await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    zone = _daytime_zone()
    async with bot.app.db.unit_of_work() as s:
        user = await s.get(User, sales.id)
        assert user is not None
        users_service.set_timezone(user, zone)
    return sales, other, ZoneInfo(zone)


async def _lead(bot: Harness, owner: User, title: str) -> int:
    async with bot.app.db.unit_of_work() as s:
        lead = await items_service.create_lead(s, await s.get(User, owner.id), title=title)
        return lead.id


async def _plan(bot: Harness, owner: User, lead_id: int, deadline: datetime, subject: str) -> int:
    async with bot.app.db.unit_of_work() as s:
        activity = await activities_service.create_activity(
            s, await s.get(User, owner.id), owner_type="lead", owner_id=lead_id, deadline=deadline,
            subject=subject,
        )  # fmt: skip
        return activity.id


async def _activity(bot: Harness, activity_id: int) -> Activity:
    async with bot.app.db.unit_of_work() as s:
        activity = await s.get(Activity, activity_id)
        assert activity is not None
        return activity


async def _agenda(bot: Harness, sales: User, other: User, zone: ZoneInfo) -> dict[str, int]:
    now = datetime.now(UTC)
    midnight = local_midnight(now.astimezone(zone).date() + timedelta(days=1), zone)
    ids = {
        "overdue": await _plan(bot, sales, await _lead(bot, sales, "Late lead"), now - timedelta(days=1),
                               "Chase the invoice"),
        "today": await _plan(bot, sales, await _lead(bot, sales, "Today lead"), now + (midnight - now) / 2,
                             "Demo call"),
        "upcoming": await _plan(bot, sales, await _lead(bot, sales, "Soon lead"), now + timedelta(days=3),
                                "Send the offer"),
        "far": await _plan(bot, sales, await _lead(bot, sales, "Far lead"), now + timedelta(days=12),
                           "Quarterly check"),
        "colleague": await _plan(bot, other, await _lead(bot, other, "Olga's lead"), now + timedelta(hours=1),
                                 "Not mine"),
    }  # fmt: skip
    return ids


async def test_today_lists_groups_and_done_refreshes_in_place(bot: Harness) -> None:
    sales, other, zone = await _team(bot)
    ids = await _agenda(bot, sales, other, zone)
    [screen] = await bot.say(SALES_ID, "/today")
    text = screen.text
    assert "My activities" in text
    assert text.index("Overdue") < text.index("Chase the invoice") < text.index("Today")
    assert text.index("Today") < text.index("Demo call") < text.index("Next 7 days")
    assert text.index("Next 7 days") < text.index("Send the offer")
    assert "Late lead" in text and "L-" in text and "yesterday" in text
    assert "Quarterly check" not in text and "Not mine" not in text
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert "✅ Done · 1" in labels and "✅ Done · 3" in labels
    late_ref = f"L-{(await _activity(bot, ids['overdue'])).owner_id}"
    assert any(label.endswith(late_ref) for label in labels)

    [edited] = await bot.press(SALES_ID, screen, "Done · 1")
    assert edited.message_id == screen.message_id
    assert "Completed" in edited.text and "Chase the invoice" in edited.text.split("My activities")[0]
    after = edited.text.split("My activities")[1]
    assert "Chase the invoice" not in after and "Overdue" not in after and "Demo call" in after
    assert (await _activity(bot, ids["overdue"])).completed
    assert not (await _activity(bot, ids["today"])).completed
    # Plan the next one for that item straight from here.
    [planning] = await bot.press(SALES_ID, edited, "New activity")
    assert "New activity" in planning.text and "Late lead" in planning.text


async def test_today_in_russian_from_the_menu_and_open_the_item(bot: Harness) -> None:
    sales, other, zone = await _team(bot, "ru")
    ids = await _agenda(bot, sales, other, zone)
    [menu] = await bot.say(SALES_ID, "/menu")
    [screen] = await bot.press(SALES_ID, menu, "Сегодня")
    assert screen.message_id == menu.message_id
    assert "Мои дела" in screen.text and "Просрочено" in screen.text and "Ближайшие 7 дней" in screen.text
    assert "вчера" in screen.text and "сегодня" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "Готово · 2")
    assert "Выполнено" in screen.text and "Demo call" not in screen.text.split("Мои дела")[1]
    assert (await _activity(bot, ids["today"])).completed
    lead_id = (await _activity(bot, ids["upcoming"])).owner_id
    [card] = await bot.press(SALES_ID, screen, f"L-{lead_id}")
    assert "Soon lead" in card.text and "Send the offer" in card.text


async def test_today_pages_long_lists_within_the_limit(bot: Harness) -> None:
    sales, _other, _zone = await _team(bot)
    now = datetime.now(UTC)
    long_title = "Ж<&>" * 63
    lead_id = await _lead(bot, sales, long_title)
    ids = [
        await _plan(bot, sales, lead_id, now + timedelta(hours=2 + 6 * n), f"#{n:02d} " + "ы" * 490)
        for n in range(20)
    ]
    [screen] = await bot.say(SALES_ID, "/today")
    assert "Page 1 of 3" in screen.text and visible_length(screen.text) <= 4096
    assert "#00" in screen.text and "#08" not in screen.text
    assert "&lt;" not in screen.text and "Ж<&>" in screen.text  # shown as typed, not as markup
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert any("Next" in x for x in labels) and not any("Prev" in x for x in labels)
    [screen] = await bot.press(SALES_ID, screen, "Next")
    assert "Page 2 of 3" in screen.text and "#08" in screen.text and "#00" not in screen.text
    labels = [b[0] for row in screen.inline_keyboard for b in row]
    assert any("Prev" in x for x in labels) and any("Next" in x for x in labels)
    [screen] = await bot.press(SALES_ID, screen, "Done · 9")
    assert "Page 2 of 3" in screen.text and visible_length(screen.text) <= 4096
    assert (await _activity(bot, ids[8])).completed
    [screen] = await bot.press(SALES_ID, screen, "Next")
    assert "Page 3 of 3" in screen.text
    assert not any("Next" in b[0] for row in screen.inline_keyboard for b in row)
    [screen] = await bot.press(SALES_ID, screen, "Prev")
    assert "Page 2 of 3" in screen.text


async def test_nothing_planned(bot: Harness) -> None:
    await _team(bot)
    [screen] = await bot.say(SALES_ID, "/today")
    assert "Nothing is planned" in screen.text


async def test_a_forged_done_for_anothers_activity_is_refused(bot: Harness) -> None:
    sales, other, zone = await _team(bot)
    ids = await _agenda(bot, sales, other, zone)
    [screen] = await bot.say(OTHER_ID, "/today")
    assert "Not mine" in screen.text and "Demo call" not in screen.text
    marker = bot.tg.mark()
    update = bot.tg.forge_callback(OTHER_ID, f"td:dn:0:{ids['today']}", message_id=screen.message_id)
    await bot.settle()
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer["show_alert"] and "no access" in answer["text"]
    assert bot.new_bot_messages(OTHER_ID, marker) == []
    assert bot.current(screen).text == screen.text
    activity = await _activity(bot, ids["today"])
    assert not activity.completed and activity.updated_at == activity.created_at
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(Activity.completed).where(Activity.id == ids["colleague"])) is False
