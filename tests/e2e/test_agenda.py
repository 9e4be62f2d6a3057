"""The activities view (groups by nearest open activity) and the month calendar (counts per day, a
day's activities opening cards), in a non-UTC timezone, in English and Russian."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.models.items import ItemType
from crm_core.services import activities as activities_service
from handlers.agenda import AvAction, AvCB, CalAction, CalCB
from tests.e2e.harness import Harness
from tests.e2e.test_kanban import OTHER_ID, SALES_ID, answer_text, make_items, team

TZ = "America/New_York"


async def _plan(bot: Harness, owner: User, lead_id: int, deadline: datetime, subject: str) -> None:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        await activities_service.create_activity(
            s, actor, owner_type=ItemType.LEAD, owner_id=lead_id, deadline=deadline, subject=subject
        )


async def _arrange(bot: Harness, sales: User) -> tuple[dict[str, int], datetime]:
    tz = ZoneInfo(TZ)
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        me.timezone = TZ
    now_local = utcnow().astimezone(tz)
    today = now_local.date()
    ids = await make_items(bot, sales, ItemType.LEAD, 5, prefix="Agenda")
    names = ["overdue", "today", "later", "none", "next_week"]
    lead = dict(zip(names, ids, strict=True))
    await _plan(
        bot, sales, lead["overdue"], datetime.combine(today - timedelta(days=2), time(10), tzinfo=tz), "Late"
    )
    await _plan(bot, sales, lead["today"], datetime.combine(today, time(23, 59), tzinfo=tz), "Tonight")
    await _plan(
        bot, sales, lead["later"], datetime.combine(today + timedelta(days=40), time(9), tzinfo=tz), "Far"
    )
    monday = today - timedelta(days=today.weekday())
    await _plan(
        bot, sales, lead["next_week"], datetime.combine(monday + timedelta(days=8), time(9), tzinfo=tz), "Tue"
    )
    return lead, now_local


async def test_activities_view_groups(bot: Harness) -> None:
    _admin, sales, _other = await team(bot)
    lead, _now = await _arrange(bot, sales)
    [menu] = await bot.say(SALES_ID, "/menu")
    await bot.press(SALES_ID, menu, "Activities")
    view = bot.current(menu)
    text = view.text
    assert "Activities" in text
    sections = {}
    current = None
    for line in text.splitlines():
        for group in ("Overdue", "Today", "This week", "Next week", "Later", "No activity"):
            if line.endswith(f"{group}: 1") or line.endswith(f"{group}: 0"):
                current = group
        if current and "L-" in line:
            sections.setdefault(current, []).append(line)
    assert any(f"L-{lead['overdue']} " in x for x in sections["Overdue"])
    assert any(f"L-{lead['today']} " in x for x in sections["Today"])
    assert any(f"L-{lead['next_week']} " in x for x in sections["Next week"])
    assert any(f"L-{lead['later']} " in x for x in sections["Later"])
    assert any(f"L-{lead['none']} " in x for x in sections["No activity"])
    # A group's page lists its items as buttons opening cards.
    await bot.press(SALES_ID, view, "Overdue · 1")
    group = bot.current(menu)
    await bot.press(SALES_ID, group, f"L-{lead['overdue']}")
    card = bot.current(menu)
    assert f"L-{lead['overdue']}" in card.text and "Stage" in " ".join(
        b for r in card.inline_keyboard for b, _d, _u in r
    )


async def test_calendar_month_and_day_in_russian(bot: Harness) -> None:
    _admin, sales, other = await team(bot, lang="ru")
    lead, now_local = await _arrange(bot, sales)
    # Someone else's activities never show in Sam's calendar.
    [theirs] = await make_items(bot, other, ItemType.LEAD, 1, prefix="Чужое")
    await _plan(bot, other, theirs, now_local.replace(hour=23, minute=59), "Чужой звонок")
    [menu] = await bot.say(SALES_ID, "/menu")
    await bot.press(SALES_ID, menu, "Календарь")
    month = bot.current(menu)
    months_ru = "Январь Февраль Март Апрель Май Июнь Июль Август Сентябрь Октябрь Ноябрь Декабрь".split()
    assert f"{months_ru[now_local.month - 1]} {now_local.year}" in month.text
    day = now_local.day
    labels = [b for row in month.inline_keyboard for b, _d, _u in row]
    assert f"[{day}·1]" in labels, labels  # today: one activity (the other's is not counted)
    await bot.press(SALES_ID, month, f"[{day}·1]")
    listing = bot.current(menu)
    assert "Tonight" in listing.text and "23:59" in listing.text and "Чужой" not in listing.text
    assert now_local.strftime("%d.%m.%Y") in listing.text
    await bot.press(SALES_ID, listing, f"L-{lead['today']}")
    assert f"L-{lead['today']}" in bot.current(menu).text
    # Next and previous month.
    [menu2] = await bot.say(SALES_ID, "/menu")
    await bot.press(SALES_ID, menu2, "Календарь")
    await bot.press(SALES_ID, bot.current(menu2), "Следующий")
    nxt = (now_local.replace(day=1) + timedelta(days=32)).replace(day=1)
    assert f"{months_ru[nxt.month - 1]} {nxt.year}" in bot.current(menu2).text
    await bot.press(SALES_ID, bot.current(menu2), "Предыдущий")
    assert f"{months_ru[now_local.month - 1]} {now_local.year}" in bot.current(menu2).text
    # Forged: a bad month and an unknown group are refused politely.
    update = bot.tg.forge_callback(
        SALES_ID, CalCB(a=CalAction.DAY, y=2026, m=13, d=40).pack(), message_id=menu2.message_id
    )
    await bot.settle()
    assert answer_text(bot, update)  # the reason, as an alert
    update = bot.tg.forge_callback(OTHER_ID, AvCB(a=AvAction.GROUP, g="secret").pack())
    await bot.settle()
    assert answer_text(bot, update)
