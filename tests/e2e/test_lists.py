"""Lists as people use them: paging returns every item once, sorting, the filter builder with date
presets in the user's timezone and a typed range, saved and pinned filters, bulk stage, responsible,
conversion and delete, a salesperson seeing only their items, and forged buttons refused."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_core.clock import utcnow
from crm_core.formatting import format_date
from crm_core.models import User
from crm_core.models.items import Deal, ItemType, Lead, StageSemantics
from crm_core.models.views import SavedFilter
from crm_core.services import items as items_service
from crm_core.services import views as views_service
from handlers.filters_ui import FlAction, FlCB
from handlers.lists import BkAction, BkCB, LsAction, LsCB
from tests.e2e.harness import Harness
from tests.e2e.test_kanban import OTHER_ID, SALES_ID, answer_text, make_items, named, stages_of, team

REF = re.compile(r"\b(L|D|C|CO)-(\d+)\b")


def refs_in(text: str) -> list[str]:
    """Refs in the order the list shows them (one per numbered line)."""
    return [
        m.group(0)
        for line in text.splitlines()
        if re.match(r"^\d+\. ", line)
        for m in [REF.search(line)]
        if m
    ]


async def test_paging_every_item_once_and_sort_in_russian(bot: Harness) -> None:
    _admin, sales, other = await team(bot, lang="ru")
    mine = await make_items(bot, sales, ItemType.LEAD, 25, prefix="Окно")
    theirs = await make_items(bot, other, ItemType.LEAD, 4, prefix="Чужой")
    [page] = await bot.say(SALES_ID, "/leads")
    assert "Лиды" in page.text and "найдено 25 записей" in page.text and "Страница 1 из 3" in page.text
    seen = refs_in(page.text)
    await bot.press(SALES_ID, page, "Следующая")
    seen += refs_in(bot.current(page).text)
    await bot.press(SALES_ID, page, "Следующая")
    last = bot.current(page)
    seen += refs_in(last.text)
    assert "Страница 3 из 3" in last.text and not any(
        "Следующая" in b for row in last.inline_keyboard for b, _d, _u in row
    )
    assert sorted(seen) == sorted(f"L-{i}" for i in mine) and len(seen) == 25  # each once
    assert not {f"L-{i}" for i in theirs} & set(seen)  # a salesperson sees only their items
    await bot.press(SALES_ID, last, "Предыдущая")
    assert "Страница 2 из 3" in bot.current(page).text

    # Sort by title, A to Z: the first page is the first ten titles.
    await bot.press(SALES_ID, bot.current(page), "Сортировка")
    await bot.press(SALES_ID, bot.current(page), "Название ↑")
    sorted_page = bot.current(page)
    assert "Сортировка: Название ↑" in sorted_page.text and "Страница 1 из 3" in sorted_page.text
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        expected = await views_service.list_items(s, me, ItemType.LEAD, sort=[("title", "asc")], limit=10)
    assert refs_in(sorted_page.text) == [i.ref for i in expected.items]
    await bot.press(SALES_ID, sorted_page, "Сортировка")
    await bot.press(SALES_ID, bot.current(page), "Название ↓")
    first = next(line for line in bot.current(page).text.splitlines() if line.startswith("1. "))
    assert first.endswith("Окно 9")  # "Окно 9" > "Окно 25" > ... as text


async def test_filter_date_preset_in_user_timezone_saved_and_pinned(bot: Harness) -> None:
    _admin, sales, _other = await team(bot)
    tz = ZoneInfo("Asia/Vladivostok")  # UTC+10: its "today" starts the evening before in UTC
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        me.timezone = "Asia/Vladivostok"
        today = utcnow().astimezone(tz).date()
        early_today = datetime.combine(today, time(0, 30), tzinfo=tz)
        late_yesterday = datetime.combine(today - timedelta(days=1), time(23, 30), tzinfo=tz)
        fresh = await items_service.create_lead(s, me, title="Fresh today", now=early_today)
        old = await items_service.create_lead(s, me, title="From yesterday", now=late_yesterday)
        fresh_id, old_id = fresh.id, old.id
    [page] = await bot.say(SALES_ID, "/leads")
    assert "2 found" in page.text
    await bot.press(SALES_ID, page, "Filter")
    await bot.press(SALES_ID, page, "Add condition")
    await bot.press(SALES_ID, page, "Created")
    await bot.press(SALES_ID, page, "Today")
    listed = bot.current(page)
    assert "Created: Today" in listed.text and "1 found" in listed.text
    assert refs_in(listed.text) == [f"L-{fresh_id}"]

    # Save the filter under a name and pin it.
    await bot.press(SALES_ID, listed, "Filter")
    await bot.press(SALES_ID, page, "Save as")
    assert "name" in bot.current(page).text
    [saved] = await bot.say(SALES_ID, "Fresh <leads>")
    assert "Filter «Fresh &lt;leads&gt;» saved" in saved.html or "Filter «Fresh <leads>» saved" in saved.text
    await bot.press(SALES_ID, saved, "Pin as default")
    assert "Unpin" in " ".join(b for row in bot.current(saved).inline_keyboard for b, _d, _u in row)
    async with bot.app.db.unit_of_work() as s:
        sf = await s.scalar(select(SavedFilter).where(SavedFilter.user_id == sales.id))
        assert sf is not None and sf.is_default and sf.name == "Fresh <leads>"

    # The pinned filter is used when the list opens.
    [reopened] = await bot.say(SALES_ID, "/leads")
    assert "Fresh <leads> 📌" in reopened.text and refs_in(reopened.text) == [f"L-{fresh_id}"]

    # A typed custom range: yesterday's local date only.
    await bot.press(SALES_ID, reopened, "Filter")
    await bot.press(SALES_ID, reopened, "Clear")
    await bot.press(SALES_ID, reopened, "Filter")
    await bot.press(SALES_ID, reopened, "Add condition")
    await bot.press(SALES_ID, reopened, "Created")
    await bot.press(SALES_ID, reopened, "Custom range")
    [bad] = await bot.say(SALES_ID, "last tuesday")
    assert "01.11.2026-15.11.2026" in bad.text
    day = late_yesterday.strftime("%d.%m.%Y")
    [ranged] = await bot.say(SALES_ID, f"{day}-{day}")
    shown = format_date(late_yesterday.date(), "en")  # the range reads as the user's locale writes dates
    assert refs_in(ranged.text) == [f"L-{old_id}"] and f"Created: {shown} – {shown}" in ranged.text

    # Another user's saved filter id is "not found" for this one.
    update = bot.tg.forge_callback(OTHER_ID, FlCB(action=FlAction.USE, t=ItemType.LEAD, v=str(sf.id)).pack())
    await bot.settle()
    assert "Not found" in answer_text(bot, update)
    update = bot.tg.forge_callback(OTHER_ID, FlCB(action=FlAction.PIN, t=ItemType.LEAD, v=str(sf.id)).pack())
    await bot.settle()
    assert "Not found" in answer_text(bot, update)


async def test_filter_by_stage_and_amount_in_russian(bot: Harness) -> None:
    _admin, sales, _other = await team(bot, lang="ru")
    stages = await stages_of(bot, ItemType.DEAL)
    await make_items(bot, sales, ItemType.DEAL, 3, prefix="Мелкая", amount="100")
    big = await make_items(bot, sales, ItemType.DEAL, 2, prefix="Крупная", amount="500000")
    [page] = await bot.say(SALES_ID, "/deals")
    await bot.press(SALES_ID, page, "Фильтр")
    await bot.press(SALES_ID, page, "Добавить условие")
    await bot.press(SALES_ID, page, "Сумма")
    await bot.press(SALES_ID, page, "не меньше")
    [bad] = await bot.say(SALES_ID, "много")
    assert "не похоже на сумму" in bad.text
    [listed] = await bot.say(SALES_ID, "100 000")
    assert "найдены 2 записи" in listed.text and sorted(refs_in(listed.text)) == sorted(f"D-{i}" for i in big)
    await bot.press(SALES_ID, listed, "Фильтр")
    await bot.press(SALES_ID, listed, "Добавить условие")
    await bot.press(SALES_ID, listed, "Стадия")
    await bot.press(SALES_ID, listed, named(stages[0], "ru"))
    assert (
        "найдены 2 записи" in bot.current(listed).text
        and f"Стадия: {named(stages[0], 'ru')}" in bot.current(listed).text
    )


async def test_bulk_stage_responsible_delete_and_forged(bot: Harness) -> None:
    _admin, sales, other = await team(bot)
    stages = await stages_of(bot, ItemType.LEAD)
    work = [s for s in stages if s.semantics == StageSemantics.PROCESS][1]
    ids = await make_items(bot, sales, ItemType.LEAD, 6, prefix="Bulk")
    [theirs] = await make_items(bot, other, ItemType.LEAD, 1, prefix="Theirs")
    [page] = await bot.say(SALES_ID, "/leads")
    # Actions need a selection first.
    await bot.press(SALES_ID, page, "Select")
    assert "Selection mode: 0 selected" in bot.current(page).text
    for ref in (f"L-{ids[0]}", f"L-{ids[1]}", f"L-{ids[2]}"):
        await bot.press(SALES_ID, bot.current(page), f"{ref} ")
    assert "3 selected" in bot.current(page).text
    await bot.press(SALES_ID, bot.current(page), "Stage…")
    assert "Move 3 selected" in bot.current(page).text
    await bot.press(SALES_ID, bot.current(page), named(work))
    report = bot.current(page)
    assert f"3 moved to «{named(work)}»" in report.text
    async with bot.app.db.unit_of_work() as s:
        rows = (await s.scalars(select(Lead).where(Lead.id.in_(ids)))).all()
        assert sorted(r.id for r in rows if r.stage_id == work.id) == sorted(ids[:3])

    # A forged toggle of someone else's lead is refused and not selected.
    update = bot.tg.forge_callback(
        SALES_ID, BkCB(action=BkAction.TOGGLE, t=ItemType.LEAD, id=theirs).pack(), message_id=page.message_id
    )
    await bot.settle()
    assert "Not found" in answer_text(bot, update)

    # Responsible for two, then delete two.
    await bot.press(SALES_ID, bot.current(page), "Select")
    await bot.press(SALES_ID, bot.current(page), f"L-{ids[3]} ")
    await bot.press(SALES_ID, bot.current(page), f"L-{ids[4]} ")
    await bot.press(SALES_ID, bot.current(page), "Responsible…")
    await bot.press(SALES_ID, bot.current(page), "Olga Other")
    assert "Olga Other is now responsible for 2 records" in bot.current(page).text
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Lead, ids[3])).responsible_id == other.id  # type: ignore[union-attr]
    # Those two are no longer Sam's: the list shows 4 now.
    assert "4 found" in bot.current(page).text

    await bot.press(SALES_ID, bot.current(page), "Select")
    await bot.press(SALES_ID, bot.current(page), f"L-{ids[5]} ")
    await bot.press(SALES_ID, bot.current(page), f"L-{ids[0]} ")
    await bot.press(SALES_ID, bot.current(page), "Delete…")
    assert "Move 2 selected to the trash" in bot.current(page).text
    await bot.press(SALES_ID, bot.current(page), "Yes, delete 2")
    assert "2 records moved to the trash" in bot.current(page).text and "2 found" in bot.current(page).text
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Lead, ids[5])).deleted_at is not None  # type: ignore[union-attr]
        assert (await s.get(Lead, theirs)).deleted_at is None  # type: ignore[union-attr]

    # A forged bulk action on a forged selection changes nothing: the selection is empty.
    update = bot.tg.forge_callback(
        SALES_ID, BkCB(action=BkAction.DELETE_YES, t=ItemType.LEAD).pack(), message_id=page.message_id
    )
    await bot.settle()
    assert "Select some items first" in answer_text(bot, update)
    # And a nonsense sort column is refused politely.
    update = bot.tg.forge_callback(
        SALES_ID, LsCB(action=LsAction.SET_SORT, t=ItemType.LEAD, v="password.a").pack()
    )
    await bot.settle()
    assert "does not look right" in answer_text(bot, update)


async def test_bulk_convert_reports_each_lead(bot: Harness) -> None:
    _admin, sales, _other = await team(bot)
    ids = await make_items(bot, sales, ItemType.LEAD, 2, prefix="Convert me")
    [page] = await bot.say(SALES_ID, "/leads")
    await bot.press(SALES_ID, page, "Select")
    await bot.press(SALES_ID, bot.current(page), "Select page")
    assert "2 selected" in bot.current(page).text
    await bot.press(SALES_ID, bot.current(page), "Convert…")
    await bot.press(SALES_ID, bot.current(page), "Deal")  # the first scheme: deal + contact + company
    report = bot.current(page)
    assert "Bulk conversion" in report.text, report.text
    for lead_id in ids:
        assert f"L-{lead_id}" in report.text
    async with bot.app.db.unit_of_work() as s:
        deals = (await s.scalars(select(Deal).where(Deal.lead_id.in_(ids)))).all()
    converted = int(re.search(r"(\d+) of 2 converted", report.text).group(1))  # type: ignore[union-attr]
    assert len(deals) == converted
    if converted:
        assert any(f"D-{d.id}" in report.text for d in deals)


def test_longest_list_callbacks_fit() -> None:
    assert (
        len(
            LsCB(action=LsAction.SET_SORT, t=ItemType.COMPANY, n=10**6, v="last_activity_at.d")
            .pack()
            .encode()
        )
        <= 64
    )
    assert (
        len(
            BkCB(action=BkAction.CONVERT, t=ItemType.LEAD, id=10**9, n=10**6, v="deal_contact_company")
            .pack()
            .encode()
        )
        <= 64
    )
    assert (
        len(
            FlCB(action=FlAction.VALUE, t=ItemType.COMPANY, f=99, o="preset", v="last_30_days")
            .pack()
            .encode()
        )
        <= 64
    )
    assert (
        len(FlCB(action=FlAction.UNPIN, t=ItemType.COMPANY, f=99, o="not_null", v=str(10**9)).pack().encode())
        <= 64
    )
