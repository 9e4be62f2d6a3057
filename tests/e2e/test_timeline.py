"""The timeline as people read it: paged newest first, filtered by type, each kind of record in the
reader's language and timezone, long comments trimmed so that a page always fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core.models import User
from crm_core.models.items import ItemType, Lead, StageSemantics
from crm_core.services import activities as activities_service
from crm_core.services import comments as comments_service
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import tasks as tasks_service
from handlers.timeline import TlAction, TlCB
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2401
OTHER_ID = 2402


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, User]:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    return admin, sales, other


def _labels(message: Any) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


def _answer(bot: Harness, update: dict[str, Any]) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


async def _busy_lead(bot: Harness, sales: User, other: User) -> int:
    """A lead with one record of each common kind, at known moments (UTC)."""
    t0 = datetime(2024, 3, 12, 4, 5, tzinfo=UTC)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        assert actor is not None
        lead = await items_service.create_lead(s, actor, title="Window order", now=t0)
        stages = list(await pipelines_service.list_stages(s, lead.pipeline_id))
        second = [st for st in stages if st.semantics == StageSemantics.PROCESS][1]
        await pipelines_service.move_stage(s, actor, lead, second.id, now=t0 + timedelta(minutes=1))
        await items_service.update_item(
            s, actor, lead, {"title": "Window order XL"}, now=t0 + timedelta(minutes=2)
        )
        await items_service.add_observer(s, actor, lead, other.id, now=t0 + timedelta(minutes=3))
        await activities_service.create_activity(
            s,
            actor,
            owner_type=ItemType.LEAD,
            owner_id=lead.id,
            deadline=datetime(2031, 3, 13, 4, 9, tzinfo=UTC),  # ahead: no reminder fires now
            subject="Call the client",
            now=t0 + timedelta(minutes=4),
        )
        task = await tasks_service.create_task(
            s,
            actor,
            owner_type=ItemType.LEAD,
            owner_id=lead.id,
            title="Send the offer",
            now=t0 + timedelta(minutes=5),
        )
        await tasks_service.change_task_status(
            s, actor, task.id, "in_progress", now=t0 + timedelta(minutes=6)
        )
        await tasks_service.change_task_deadline(
            s,
            actor,
            task.id,
            datetime(2031, 3, 14, 6, 0, tzinfo=UTC),
            now=t0 + timedelta(minutes=6, seconds=30),
        )
        await comments_service.add_comment(
            s,
            actor,
            ItemType.LEAD,
            lead.id,
            "Client <b>asked</b> for a discount",
            now=t0 + timedelta(minutes=7),
        )
        return lead.id


async def test_records_rendered_in_english_and_local_time(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    async with bot.app.db.unit_of_work() as s:
        (await s.get(User, sales.id)).timezone = "Asia/Vladivostok"  # type: ignore[union-attr]  # UTC+10
    lead_id = await _busy_lead(bot, sales, other)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    text = timeline.text
    assert "Timeline" in text and f"L-{lead_id}" in text
    # Newest first: the comment (14:12 local) above the creation (14:05 local).
    assert text.index("Client <b>asked</b> for a discount") < text.index("Title: Window order")
    # English dates as Babel writes them for "en" (month first).
    assert "3/12/2024 14:12" in text and "3/12/2024 14:07" in text
    assert "Title: Window order → Window order XL" in text
    assert "Observer added: Olga Other" in text
    assert "Planned 📞 call «Call the client» for 3/13/2031 14:09" in text
    assert "Task «Send the offer» for Sam Seller" in text
    assert "Task «Send the offer»: Viewed → In progress" in text
    assert "Sam Seller" in text
    assert "Task «Send the offer»: deadline — → 3/14/2031 16:00" in text
    assert "Task «Send the offer»: In progress → Deadline changed" in text
    # 11 records: a page of 8 and a Next button; the oldest are on page 2.
    assert "Next" in str(_labels(timeline)) and "Prev" not in str(_labels(timeline))
    [page2] = await bot.press(SALES_ID, timeline, "Next")
    assert "page 2" in page2.text and "Created: Window order" in page2.text and "Stage: New" in page2.text
    assert "Client <b>asked</b>" not in page2.text
    assert "Prev" in str(_labels(page2)) and "Next" not in str(_labels(page2))
    [page1] = await bot.press(SALES_ID, page2, "Prev")
    assert "page 1" in page1.text
    [back] = await bot.press(SALES_ID, page1, "Back")
    assert "Window order XL" in back.text and "Stage" in str(_labels(back))


async def test_type_filter_in_russian(bot: Harness) -> None:
    _admin, sales, other = await _team(bot, "ru")
    lead_id = await _busy_lead(bot, sales, other)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "История")
    assert "Задача «Send the offer»: Просмотрена → Выполняется" in timeline.text
    [menu] = await bot.press(SALES_ID, timeline, "🔎 Все записи")
    assert "Какие записи показать?" in menu.text
    assert {"Все записи", "Комментарии и файлы", "Смена стадий", "Дела", "Задачи", "Поля и люди"} <= {
        label.lstrip("• ") for label in _labels(menu)
    }
    [stages] = await bot.press(SALES_ID, menu, "Смена стадий")
    assert "Стадия: " in stages.text and " → " in stages.text, stages.text
    assert "Задача" not in stages.text and "asked" not in stages.text
    assert "Показано: Смена стадий" in stages.text
    [menu] = await bot.press(SALES_ID, stages, "🔎 Смена стадий")
    [tasks] = await bot.press(SALES_ID, menu, "Задачи")
    assert tasks.text.count("☑️ Задача") == 4 and "Стадия:" not in tasks.text
    [menu] = await bot.press(SALES_ID, tasks, "🔎")
    [comments] = await bot.press(SALES_ID, menu, "Комментарии")
    assert "asked" in comments.text and "Стадия:" not in comments.text
    [menu] = await bot.press(SALES_ID, comments, "🔎")
    [fields] = await bot.press(SALES_ID, menu, "Поля и люди")
    assert "Название: Window order → Window order XL" in fields.text
    assert "Добавлен наблюдатель: Olga Other" in fields.text and "Стадия:" not in fields.text
    [menu] = await bot.press(SALES_ID, fields, "🔎")
    [acts] = await bot.press(SALES_ID, menu, "Дела")
    assert "Запланировано: 📞 звонок «Call the client»" in acts.text
    # The filter survives paging and a pin, and an empty kind says so.
    async with bot.app.db.unit_of_work() as s:
        lead2 = await items_service.create_lead(s, await s.get(User, sales.id), title="Пустой")
    [card2] = await bot.say(SALES_ID, f"L-{lead2.id}")
    [tl2] = await bot.press(SALES_ID, card2, "История")
    [menu] = await bot.press(SALES_ID, tl2, "🔎")
    [empty] = await bot.press(SALES_ID, menu, "Задачи")
    assert "Таких записей здесь нет" in empty.text


async def test_paging_many_long_comments_fits(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        lead = await items_service.create_lead(s, actor, title="Long talk")
        lead_id = lead.id
        for n in range(20):
            await comments_service.add_comment(
                s, actor, ItemType.LEAD, lead_id, f"#{n:02d} " + "слово " * 1500
            )
        for n in range(7):
            await comments_service.pin_event(
                s,
                actor,
                (await comments_service.list_comments(s, actor, ItemType.LEAD, lead_id, limit=30))[
                    -1 - n
                ].timeline_event_id
                or 0,
            )
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    assert "Pinned" in timeline.text
    seen = []
    page = timeline
    for _ in range(10):
        seen += [n for n in range(20) if f"#{n:02d}" in page.text]
        if "Next" not in str(_labels(page)):
            break
        [page] = await bot.press(SALES_ID, page, "Next")
    # Every comment shown once (7 pinned on top of page 1, 13 in the stream) plus the creation.
    assert sorted(seen) == list(range(20))
    assert "Created: Long talk" in page.text


async def test_observer_sees_timeline_stranger_does_not(bot: Harness) -> None:
    admin, sales, other = await _team(bot)
    lead_id = await _busy_lead(bot, sales, other)  # Olga is an observer
    # Olga may also get the pushed "you were made an observer" notice: take the card.
    [card] = [m for m in await bot.say(OTHER_ID, f"L-{lead_id}") if "Timeline" in str(_labels(m))]
    [timeline] = await bot.press(OTHER_ID, card, "Timeline")
    assert "Window order" in timeline.text
    async with bot.app.db.unit_of_work() as s:
        hidden = await items_service.create_lead(s, await s.get(User, admin.id), title="Admin's own")
    for data in (
        TlCB(action=TlAction.VIEW, t="lead", id=hidden.id).pack(),
        TlCB(action=TlAction.VIEW, t="lead", id=hidden.id, f="tk", p=3).pack(),
    ):
        update = bot.tg.forge_callback(SALES_ID, data, message_id=None)
        await bot.settle()
        assert "Not found" in _answer(bot, update)
    lead = None
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, hidden.id)
    assert lead is not None and lead.deleted_at is None


async def test_author_and_period_filters(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _busy_lead(bot, sales, other)  # Sam's records of March 2024; Olga observes
    async with bot.app.db.unit_of_work() as s:
        await comments_service.add_comment(
            s, await s.get(User, other.id), ItemType.LEAD, lead_id, "Olga today"
        )
        await comments_service.add_comment(
            s, await s.get(User, sales.id), ItemType.LEAD, lead_id, "Sam today"
        )
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    [menu] = await bot.press(SALES_ID, timeline, "🔎 All records")
    assert "• 👥 Everyone's" in _labels(menu) and "• Any time" in _labels(menu)
    [mine] = await bot.press(SALES_ID, menu, "Only mine")
    assert "Showing: All records · mine" in mine.text
    assert "Sam today" in mine.text and "Olga today" not in mine.text
    [menu] = await bot.press(SALES_ID, mine, "🔎")
    assert "• 👤 Only mine" in _labels(menu)
    [recent] = await bot.press(SALES_ID, menu, "7 days")
    assert "Showing: All records · mine · last 7 days" in recent.text
    assert (
        "Sam today" in recent.text
        and "Olga today" not in recent.text
        and "Window order" not in recent.text.split("\n", 2)[2]
    )
    [menu] = await bot.press(SALES_ID, recent, "🔎")
    [everyone] = await bot.press(SALES_ID, menu, "Everyone's")
    assert "Showing: All records · last 7 days" in everyone.text
    assert "Sam today" in everyone.text and "Olga today" in everyone.text and "2024" not in everyone.text
    [menu] = await bot.press(SALES_ID, everyone, "🔎")
    [comments] = await bot.press(SALES_ID, menu, "Comments and files")
    assert "Showing: Comments and files · last 7 days" in comments.text
    # A forged filter string falls back to the defaults instead of failing.
    update = bot.tg.forge_callback(
        SALES_ID,
        TlCB(action=TlAction.VIEW, t="lead", id=lead_id, f="zz.q.999").pack(),
        message_id=comments.message_id,
    )
    await bot.settle()
    assert "Showing: All records · page 1" in bot.current(comments).text
    assert _answer(bot, update) == ""
