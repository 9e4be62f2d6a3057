"""Tasks from the card: the list, the "New task" form, status buttons, deadlines; the timeline shows
every change; forged buttons change nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_core.clock import utcnow
from crm_core.models import User
from crm_core.models.activities import Task, TaskStatus
from crm_core.models.items import ItemType
from crm_core.models.notifications import Notification
from crm_core.services import items as items_service
from crm_core.services import tasks as tasks_service
from handlers.tasks import TkAction, TkCB
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2501
OTHER_ID = 2502


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, User]:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    return admin, sales, other


async def _lead(bot: Harness, owner: User, title: str) -> int:
    async with bot.app.db.unit_of_work() as s:
        lead = await items_service.create_lead(s, await s.get(User, owner.id), title=title)
        return lead.id


async def _tasks(bot: Harness, lead_id: int) -> list[Task]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(Task).where(Task.owner_type == ItemType.LEAD, Task.owner_id == lead_id).order_by(Task.id)
        )
        return list(rows)


def _labels(message: Any) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


def _answer(bot: Harness, update: dict[str, Any]) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


async def test_create_task_change_status_and_deadline_in_english(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _lead(bot, sales, "Window order")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [tasks] = await bot.press(SALES_ID, card, "Task")
    assert "No tasks yet" in tasks.text
    [ask] = await bot.press(SALES_ID, tasks, "New task")
    assert "Send the title" in ask.text and "Cancel" in str(_labels(ask))
    [ask] = await bot.say(SALES_ID, "Prepare <the> offer")
    assert "Skip" in str(_labels(ask))
    [who] = await bot.press(SALES_ID, ask, "Skip")
    assert "Who is responsible?" in who.text
    assert "👤 Me (Sam Seller)" in _labels(who) and "Olga Other" in _labels(who)
    [when] = await bot.press(SALES_ID, who, "Olga Other")
    assert "Deadline?" in when.text and "Tomorrow 10:00" in _labels(when) and "No deadline" in _labels(when)
    [done] = await bot.press(SALES_ID, when, "Tomorrow 10:00")
    assert "Task created" in done.text and "Prepare &lt;the&gt; offer" not in done.text
    assert "Prepare <the> offer" in done.text and "New (not viewed)" in done.text
    [task] = await _tasks(bot, lead_id)
    assert task.title == "Prepare <the> offer" and task.description == ""
    assert task.responsible_id == other.id and task.created_by_id == sales.id
    assert task.deadline is not None and task.deadline > utcnow()
    async with bot.app.db.unit_of_work() as s:
        assigned = list(
            await s.scalars(
                select(Notification).where(
                    Notification.user_id == other.id, Notification.category == "task_assigned"
                )
            )
        )
    assert len(assigned) == 1

    # Open the task: the status buttons people set, all but the current one.
    [screen] = await bot.press(SALES_ID, done, "1. Prepare")
    assert "Status: 🆕 New (not viewed)" in screen.text and "Responsible: Olga Other" in screen.text
    assert {
        "👀 Viewed",
        "▶️ In progress",
        "⏸ Waiting",
        "🔎 Awaiting control",
        "📋 Has result",
        "✅ Completed",
    } <= set(_labels(screen))
    [screen] = await bot.press(SALES_ID, screen, "In progress")
    assert "Status: ▶️ In progress" in screen.text and "▶️ In progress" not in _labels(screen)
    assert (await _tasks(bot, lead_id))[0].status == TaskStatus.IN_PROGRESS

    # A typed deadline in the user's words.
    [ask] = await bot.press(SALES_ID, screen, "Deadline")
    assert (
        "Deadline of «Prepare &lt;the&gt; offer»" not in ask.text
        and "Deadline of «Prepare <the> offer»" in ask.text
    )
    [bad] = await bot.say(SALES_ID, "whenever")
    assert "could not read" in bad.text
    [saved] = await bot.say(SALES_ID, "28.11.2031 15:30")
    assert "Deadline saved" in saved.text and "11/28/2031 15:30" in saved.text  # English: month first
    assert "Status: 🗓 Deadline changed" in saved.text
    await bot.say(SALES_ID, "29.11.2031 15:30")  # the form ended: this is no deadline any more
    assert (await _tasks(bot, lead_id))[0].deadline.strftime("%d.%m.%Y %H:%M") == "28.11.2031 15:30"

    [screen] = await bot.press(SALES_ID, saved, "Completed")
    assert "Status: ✅ Completed" in screen.text
    [tasks] = await bot.press(SALES_ID, screen, "Back to tasks")
    assert "Completed" in tasks.text
    [card] = await bot.press(SALES_ID, tasks, "Back")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    assert "Task «Prepare &lt;the&gt; offer»" not in timeline.text
    assert "Task «Prepare <the> offer» for Olga Other" in timeline.text
    assert "New (not viewed) → In progress" in timeline.text
    assert "In progress → Deadline changed" in timeline.text
    assert "Deadline changed → Completed" in timeline.text


async def test_task_form_in_russian_with_description_and_cancel(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    lead_id = await _lead(bot, sales, "Окна")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [tasks] = await bot.press(SALES_ID, card, "Задача")
    assert "Задач пока нет" in tasks.text
    [ask] = await bot.press(SALES_ID, tasks, "Новая задача")
    [back] = await bot.press(SALES_ID, ask, "Отмена")
    assert "Задач пока нет" in back.text
    await bot.say(SALES_ID, "Это не название")  # the form was cancelled
    assert await _tasks(bot, lead_id) == []

    [ask] = await bot.press(SALES_ID, back, "Новая задача")
    [ask] = await bot.say(SALES_ID, "Отправить КП")
    assert "Пропустить" in str(_labels(ask))
    [who] = await bot.say(SALES_ID, "Коммерческое предложение на 3 окна")
    assert "Кто ответственный?" in who.text
    [when] = await bot.press(SALES_ID, who, "Я (Sam Seller)")
    assert "Крайний срок?" in when.text and "Без срока" in _labels(when)
    [done] = await bot.say(SALES_ID, "завтра 15:30")
    assert "Задача создана" in done.text and "Отправить КП" in done.text
    [task] = await _tasks(bot, lead_id)
    assert task.description == "Коммерческое предложение на 3 окна"
    assert task.responsible_id == sales.id and task.status == TaskStatus.VIEWED  # one's own task is seen
    [screen] = await bot.press(SALES_ID, done, "1. Отправить КП")
    assert "Статус: 👀 Просмотрена" in screen.text and "Коммерческое предложение" in screen.text
    [screen] = await bot.press(SALES_ID, screen, "Ждёт контроля")
    assert "Статус: 🔎 Ждёт контроля" in screen.text
    [ask] = await bot.press(SALES_ID, screen, "Крайний срок")
    [screen] = await bot.press(SALES_ID, ask, "Без срока")
    assert "Крайний срок: без срока" in screen.text
    [tasks] = await bot.press(SALES_ID, screen, "К задачам")
    [card] = await bot.press(SALES_ID, tasks, "Назад")
    [timeline] = await bot.press(SALES_ID, card, "История")
    assert "Задача «Отправить КП»: Просмотрена → Ждёт контроля" in timeline.text


async def test_forged_task_buttons_are_refused(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    hidden = await _lead(bot, other, "Olga's lead")
    own = await _lead(bot, sales, "Mine")
    async with bot.app.db.unit_of_work() as s:
        task = await tasks_service.create_task(
            s, await s.get(User, other.id), owner_type=ItemType.LEAD, owner_id=hidden, title="Secret task"
        )
        task_id = task.id
    [card] = await bot.say(SALES_ID, f"L-{own}")
    marker = bot.tg.mark()
    for data in (
        TkCB(action=TkAction.LIST, t="lead", id=hidden).pack(),
        TkCB(action=TkAction.NEW, t="lead", id=hidden).pack(),
        TkCB(action=TkAction.OPEN, id=task_id).pack(),
        TkCB(action=TkAction.STATUS, id=task_id, v="completed").pack(),
        TkCB(action=TkAction.DEADLINE, id=task_id).pack(),
        TkCB(action=TkAction.DEADLINE_NONE, id=task_id).pack(),
        TkCB(action=TkAction.DEADLINE_QUICK, id=task_id, v="tm10").pack(),
    ):
        update = bot.tg.forge_callback(SALES_ID, data, message_id=card.message_id)
        await bot.settle()
        answer = _answer(bot, update)
        assert "Not found" in answer, (data, answer)
    assert bot.new_bot_messages(SALES_ID, marker) == []
    [task] = await _tasks(bot, hidden)
    assert task.status == TaskStatus.VIEWED and task.deadline is None
    # A status only the system sets is refused even on one's own task.
    async with bot.app.db.unit_of_work() as s:
        mine = await tasks_service.create_task(
            s, await s.get(User, sales.id), owner_type=ItemType.LEAD, owner_id=own, title="Mine"
        )
        mine_id = mine.id
    update = bot.tg.forge_callback(
        SALES_ID, TkCB(action=TkAction.STATUS, id=mine_id, v="overdue").pack(), message_id=card.message_id
    )
    await bot.settle()
    assert "does not look right" in _answer(bot, update)
    assert (await _tasks(bot, own))[0].status == TaskStatus.VIEWED
    # Stale form buttons after the form ended.
    update = bot.tg.forge_callback(
        SALES_ID, TkCB(action=TkAction.RESPONSIBLE, v=str(sales.id)).pack(), message_id=card.message_id
    )
    await bot.settle()
    assert "out of date" in _answer(bot, update)


def test_callback_data_fits_64_bytes() -> None:
    big = 10**12 - 1
    for data in (
        TkCB(action=TkAction.STATUS, t="company", id=big, v="awaiting_control").pack(),
        TkCB(action=TkAction.NEW, t="company", id=big).pack(),
        TkCB(action=TkAction.RESPONSIBLE, v=str(big)).pack(),
    ):
        assert len(data.encode()) <= 64, data
