"""The item card as people use it: open by ref / deep link / button, fields, people, stages, trash,
and what a salesperson cannot do with someone else's item."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from crm_core.clock import utcnow
from crm_core.formatting import format_datetime
from crm_core.models import (
    Communication,
    Company,
    Deal,
    EventType,
    ItemObserver,
    ItemType,
    Lead,
    Stage,
    StageSemantics,
    TimelineEvent,
    User,
)
from crm_core.services import activities as activities_service
from crm_core.services import comments as comments_service
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import required_fields as required_service
from crm_core.services import trash as trash_service
from crm_core.services import users as users_service
from crm_core.services.conversion import convert_lead
from handlers.callbacks import CardAction, CardCB
from handlers.card_fields import FieldCB
from handlers.card_people import PeopleCB
from handlers.card_stages import StageCB
from handlers.card_trash import TrashCB
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2101
OTHER_ID = 2102


# --- arranging ------------------------------------------------------------------------------------


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, User]:
    # People do not send several messages a second; flood control has tests of its own.
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    return admin, sales, other


async def _create(bot: Harness, owner: User, kind: str, **fields: Any) -> int:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        item = await getattr(items_service, f"create_{kind}")(s, actor, **fields)
        return item.id


async def _load(bot: Harness, model: Any, item_id: int) -> Any:
    async with bot.app.db.unit_of_work() as s:
        return await s.get(model, item_id)


async def _events(
    bot: Harness, item_type: ItemType, item_id: int, event_type: EventType
) -> list[TimelineEvent]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(TimelineEvent).where(
                TimelineEvent.owner_type == item_type,
                TimelineEvent.owner_id == item_id,
                TimelineEvent.event_type == event_type,
            )
        )
        return list(rows)


def _plain(text: str) -> str:
    """Money is grouped with non-breaking spaces; compare with ordinary ones."""
    return text.replace("\u00a0", " ")


def _labels(message: Any) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


def _answer(bot: Harness, update: dict[str, Any]) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


# --- opening --------------------------------------------------------------------------------------


async def test_open_by_every_ref_form_and_deep_link(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Window order")
    deal_id = await _create(bot, sales, "deal", title="Big deal")
    contact_id = await _create(bot, sales, "contact", name="Ivan", last_name="Petrov")
    company_id = await _create(bot, sales, "company", title="Acme LLC")
    cases = [
        (f"L-{lead_id}", f"L-{lead_id}", "Window order"),
        (f"l{lead_id}", f"L-{lead_id}", "Window order"),
        (f"d-{deal_id}", f"D-{deal_id}", "Big deal"),
        (f"C-{contact_id}", f"C-{contact_id}", "Ivan Petrov"),
        (f"co{company_id}", f"CO-{company_id}", "Acme LLC"),
        (f"/start L-{lead_id}", f"L-{lead_id}", "Window order"),
        (f"/start D-{deal_id}", f"D-{deal_id}", "Big deal"),
    ]
    for typed, ref, title in cases:
        [card] = await bot.say(SALES_ID, typed)
        assert ref in card.text and title in card.text, (typed, card.text)
        labels = _labels(card)
        for word in ("Activity", "Comment", "Timeline", "Fields", "People", "More", "Menu"):
            assert any(word in label for label in labels), (word, labels)
        assert any("Stage" in label for label in labels) == ref.startswith(("L-", "D-"))
        assert any("Convert" in label for label in labels) == ref.startswith("L-")
    # A plain /start still shows the menu; an invite deep link is not taken for a ref.
    [menu] = await bot.say(SALES_ID, "/start")
    assert "Main menu" in menu.text
    [stale] = await bot.say(SALES_ID, "/start inv_nothing")
    assert "Main menu" in stale.text


async def test_card_header_shows_everything_a_salesperson_needs(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    contact_id = await _create(
        bot, sales, "contact", name="Ivan", last_name="Petrov", phones=["+7 999 000-11-22"]
    )
    company_id = await _create(bot, sales, "company", title="Acme <LLC>")
    # A known phone makes this a repeat lead, linked to the existing contact.
    lead_id = await _create(
        bot,
        sales,
        "lead",
        title="Windows & doors",
        amount="150000.50",
        phones=["+7 999 000-11-22"],
        emails=["ivan@example.com"],
        company_id=company_id,
        observer_ids=[other.id],
    )
    deadline = (utcnow() - timedelta(hours=2)).replace(second=0, microsecond=0)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        users_service.set_timezone(actor, "Asia/Vladivostok")  # UTC+10: the deadline is shown there
        await activities_service.create_activity(
            s,
            actor,
            owner_type=ItemType.LEAD,
            owner_id=lead_id,
            deadline=deadline,
            subject="Call back about the price",
        )
        await activities_service.create_activity(
            s,
            actor,
            owner_type=ItemType.LEAD,
            owner_id=lead_id,
            deadline=utcnow() + timedelta(days=2),
            subject="Later one",
        )
        comment = await comments_service.add_comment(s, actor, ItemType.LEAD, lead_id, "Prefers <b>email</b>")
        await comments_service.pin_comment(s, actor, comment.id)
        await comments_service.add_comment(s, actor, ItemType.LEAD, lead_id, "Not pinned remark")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    text = _plain(card.text)
    assert f"Lead L-{lead_id}" in text and "Windows & doors" in text
    assert "Repeat lead" in text
    assert "Stage: ●○○○ New" in text  # three process stages, the first one current
    assert f"Ivan Petrov (C-{contact_id})" in text and f"Acme <LLC> (CO-{company_id})" in text
    assert "Amount: ₽150,000.50" in text
    assert "Responsible: Sam Seller" in text and "Observers: Olga Other" in text
    assert "+7 999 000-11-22" in text and "ivan@example.com" in text
    assert "What needs to be done" in text and "Call back about the price" in text and "overdue" in text
    local = format_datetime(deadline, ZoneInfo("Asia/Vladivostok"), "en")
    assert local in text
    assert "Later one" not in text  # only the nearest one
    assert "Pinned" in text and "Prefers <b>email</b>" in text and "Not pinned remark" not in text


async def test_card_in_russian(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    deal_id = await _create(bot, sales, "deal", title="Поставка окон", amount="1234567.5")
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    assert f"Сделка D-{deal_id}" in card.text
    assert "Сумма: 1 234 567,50 ₽" in _plain(card.text)
    assert "Стадия: ●○○○○○ Новая" in card.text
    assert "Ответственный: Sam Seller" in card.text
    assert "Что нужно сделать: ничего не запланировано" in card.text
    labels = _labels(card)
    for word in ("Стадия", "Дело", "Комментарий", "История", "Поля", "Люди", "Ещё", "Меню"):
        assert any(word in label for label in labels), (word, labels)
    assert not any("Конвертировать" in label for label in labels)
    # Cyrillic "С" typed on a Russian keyboard is the contact prefix too.
    contact_id = await _create(bot, sales, "contact", name="Пётр")
    [card] = await bot.say(SALES_ID, f"с{contact_id}")
    assert f"Контакт C-{contact_id}" in card.text


async def test_converted_lead_offers_no_convert(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Done deal", name="Ivan")
    async with bot.app.db.unit_of_work() as s:
        await convert_lead(s, await s.get(User, sales.id), lead_id, "contact")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    labels = _labels(card)
    assert not any("Convert" in label for label in labels)
    assert any("Stage" in label for label in labels)
    assert "✅" in card.text  # converted: on the success stage


# --- stages ---------------------------------------------------------------------------------------


async def test_stage_move_updates_card_db_and_timeline(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Stage me")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [stages] = await bot.press(SALES_ID, card, "Stage")
    assert stages.message_id == card.message_id
    assert "In progress" in stages.text or "Choose the new stage" in stages.text
    labels = _labels(stages)
    assert "— In progress —" in labels and "— Won —" in labels and "— Lost —" in labels
    assert "● New" in labels  # the current stage is marked
    [moved] = await bot.press(SALES_ID, stages, "Processed")
    assert moved.message_id == card.message_id
    assert "Stage: ●●●○ Processed" in moved.text
    lead = await _load(bot, Lead, lead_id)
    async with bot.app.db.unit_of_work() as s:
        stage = await s.get(Stage, lead.stage_id)
    assert stage.code == "PROCESSED" and not lead.closed
    [event] = await _events(bot, ItemType.LEAD, lead_id, EventType.STAGE_CHANGED)
    assert (event.payload["to_code"], event.payload["to_name"]) == ("PROCESSED", None)
    # Lost: the lead is closed.
    [stages] = await bot.press(SALES_ID, moved, "Stage")
    [lost] = await bot.press(SALES_ID, stages, "Poor lead")
    assert "❌" in lost.text
    lead = await _load(bot, Lead, lead_id)
    assert lead.closed and not lead.won


async def test_stage_move_in_russian_and_won(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    deal_id = await _create(bot, sales, "deal", title="Сделка века")
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    [stages] = await bot.press(SALES_ID, card, "Стадия")
    assert "Выберите новую стадию" in stages.text
    assert "— Успех —" in _labels(stages)
    [won] = await bot.press(SALES_ID, stages, "Сделка успешна")
    assert "✅ Сделка успешна" in won.text
    deal = await _load(bot, Deal, deal_id)
    assert deal.closed and deal.won


async def test_deal_pipeline_change(bot: Harness) -> None:
    admin, sales, _other = await _team(bot)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, admin.id)
        pipeline = await pipelines_service.create_pipeline(s, actor, name="Wholesale")
        pipeline_id = pipeline.id
        first = await pipelines_service.first_stage(s, pipeline_id)
        first_id = first.id
    deal_id = await _create(bot, sales, "deal", title="Bulk order")
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    [stages] = await bot.press(SALES_ID, card, "Stage")
    [card] = await bot.press(SALES_ID, stages, "Final invoice")
    [more] = await bot.press(SALES_ID, card, "More")
    [pipes] = await bot.press(SALES_ID, more, "Pipeline")
    assert "● " in "".join(_labels(pipes))
    [moved] = await bot.press(SALES_ID, pipes, "Wholesale")
    assert "(Wholesale)" in moved.text and "●○○○○○ New" in moved.text
    deal = await _load(bot, Deal, deal_id)
    assert deal.pipeline_id == pipeline_id and deal.stage_id == first_id


async def test_stale_stage_keyboard_is_a_clear_conflict(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Contested", observer_ids=[other.id])
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [stages] = await bot.press(SALES_ID, card, "Stage")
    # Olga renames it in the meantime.
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        await items_service.update_item(s, await s.get(User, other.id), lead, {"title": "Contested (Olga)"})
    data = next(d for row in stages.inline_keyboard for (label, d, _u) in row if "Processed" in label)
    update = bot.tg.forge_callback(SALES_ID, data, message_id=stages.message_id)
    await bot.settle()
    assert "Someone changed this item" in _answer(bot, update)
    lead = await _load(bot, Lead, lead_id)
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Stage, lead.stage_id)).code == "NEW"
    assert "Contested (Olga)" in bot.current(card).text  # the fresh card is shown


async def test_a_row_changed_between_load_and_move_is_rolled_back_and_told(bot: Harness) -> None:
    """The race a stale button cannot show (another process writes the row after the card loaded
    it, on PostgreSQL): the move's version check matches no row; everything rolls back, and the
    press is answered with the conflict."""
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Raced")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [stages] = await bot.press(SALES_ID, card, "Stage")
    engine = bot.app.db.engine.sync_engine

    def another_writer(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> Any:
        if statement.startswith("UPDATE leads SET version"):
            # As if the row had moved on: the statement's expected version is no longer there.
            params = type(params)([*params[:-1], params[-1] + 100])
        return statement, params

    event.listen(engine, "before_cursor_execute", another_writer, retval=True)
    try:
        data = next(d for row in stages.inline_keyboard for (label, d, _u) in row if "Processed" in label)
        update = bot.tg.forge_callback(SALES_ID, data, message_id=stages.message_id)
        await bot.settle()
    finally:
        event.remove(engine, "before_cursor_execute", another_writer)
    assert "Someone changed this at the same time" in _answer(bot, update)
    lead = await _load(bot, Lead, lead_id)
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Stage, lead.stage_id)).code == "NEW"
        events = await s.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.owner_type == ItemType.LEAD, TimelineEvent.owner_id == lead_id)
        )
    assert events == 1  # created; the move's records rolled back with it


# --- fields ---------------------------------------------------------------------------------------


async def test_edit_title_amount_phone_with_validation(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Old title")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [fields] = await bot.press(SALES_ID, card, "Fields")
    assert "Title" in fields.text and "Old title" in fields.text
    [prompt] = await bot.press(SALES_ID, fields, "Title")
    assert "Send the new value" in prompt.text
    assert "Clear" not in "".join(_labels(prompt))  # a title is never cleared
    replies = await bot.say(SALES_ID, "New <title>")
    assert "New <title>" in replies[-1].text and f"L-{lead_id}" in replies[-1].text

    [fields] = await bot.press(SALES_ID, replies[-1], "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Amount")
    [error] = await bot.say(SALES_ID, "a lot")
    assert "not an amount" in error.text
    replies = await bot.say(SALES_ID, "150 000,50")
    assert "Amount: ₽150,000.50" in _plain(replies[-1].text)

    [fields] = await bot.press(SALES_ID, replies[-1], "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Phone")
    [error] = await bot.say(SALES_ID, "12")
    assert "«12» is not a phone number" in error.text
    replies = await bot.say(SALES_ID, "+7 (999) 555-44-33, 8 916 111 22 33")
    assert "+7 (999) 555-44-33" in replies[-1].text

    lead = await _load(bot, Lead, lead_id)
    assert lead.title == "New <title>" and lead.amount == Decimal("150000.50")
    async with bot.app.db.unit_of_work() as s:
        phones = list(
            await s.scalars(select(Communication.normalized).where(Communication.owner_id == lead_id))
        )
    assert sorted(phones) == ["+79161112233", "+79995554433"]
    changed = {
        e.payload["field"] for e in await _events(bot, ItemType.LEAD, lead_id, EventType.FIELD_CHANGED)
    }
    assert {"title", "amount", "phones"} <= changed

    # Clear, Cancel: the amount is cleared, a cancelled form changes nothing.
    [fields] = await bot.press(SALES_ID, replies[-1], "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Amount")
    await bot.press(SALES_ID, prompt, "Clear")
    assert (await _load(bot, Lead, lead_id)).amount is None
    [fields] = await bot.press(SALES_ID, bot.current(prompt), "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Email")
    [back] = await bot.press(SALES_ID, prompt, "Cancel")
    assert f"L-{lead_id}" in back.text
    # After a cancel a ref typed is a ref again, not a field value.
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "New <title>" in card.text


async def test_edit_deal_fields_in_russian(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    deal_id = await _create(bot, sales, "deal", title="Сделка")
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    [fields] = await bot.press(SALES_ID, card, "Поля")
    [prompt] = await bot.press(SALES_ID, fields, "Дата завершения")
    assert "Отправьте новое значение" in prompt.text
    [error] = await bot.say(SALES_ID, "когда-нибудь")  # "завтра" is a date now (the schema's parser)
    assert "не похоже на дату" in error.text
    await bot.say(SALES_ID, "31.12.2025")
    [fields] = await bot.press(SALES_ID, bot.tg.bot_messages(SALES_ID)[-1], "Поля")
    assert "31.12.2025" in fields.text
    [prompt] = await bot.press(SALES_ID, fields, "Сумма")
    replies = await bot.say(SALES_ID, "2 500 USD")
    assert "Сумма: 2 500 $" in _plain(replies[-1].text)
    deal = await _load(bot, Deal, deal_id)
    assert str(deal.close_date) == "2025-12-31" and deal.amount == Decimal("2500") and deal.currency == "USD"


async def test_required_fields_are_marked_asked_for_and_enforced(bot: Harness) -> None:
    admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Needs more")
    async with bot.app.db.unit_of_work() as s:
        await required_service.set_required_fields(
            s, await s.get(User, admin.id), ItemType.LEAD, ["amount", "phone"]
        )
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [fields] = await bot.press(SALES_ID, card, "Fields")
    assert "Amount*" in fields.text and "Phone*" in fields.text
    assert "Required fields are empty: Phone, Amount" in fields.text
    # Changing the title asks for each missing required field, then saves all at once.
    await bot.press(SALES_ID, fields, "Title")
    [ask] = await bot.say(SALES_ID, "Needs more, now")
    assert "Required fields are empty: Phone, Amount" in ask.text and "Phone" in ask.text
    assert "Clear" not in "".join(_labels(ask))
    assert (await _load(bot, Lead, lead_id)).title == "Needs more"  # nothing saved yet
    [ask] = await bot.say(SALES_ID, "+7 999 765-43-21")
    assert "Amount" in ask.text
    replies = await bot.say(SALES_ID, "5000")
    assert "Needs more, now" in replies[-1].text
    lead = await _load(bot, Lead, lead_id)
    assert lead.title == "Needs more, now" and lead.amount == Decimal("5000")
    # A required field cannot be cleared (no Clear button; a forged one is refused).
    [fields] = await bot.press(SALES_ID, replies[-1], "Fields")
    [prompt] = await bot.press(SALES_ID, fields, "Amount*")
    assert "Clear" not in "".join(_labels(prompt))
    marker = bot.tg.mark()
    bot.tg.forge_callback(
        SALES_ID, FieldCB(t=ItemType.LEAD, id=lead_id, f="amount", a="c").pack(), message_id=prompt.message_id
    )
    await bot.settle()
    assert any("is required" in m.text for m in bot.new_bot_messages(SALES_ID, marker))
    assert (await _load(bot, Lead, lead_id)).amount == Decimal("5000")


async def test_edit_conflict_is_shown_and_nothing_overwritten(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Shared", observer_ids=[other.id])
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [fields] = await bot.press(SALES_ID, card, "Fields")
    await bot.press(SALES_ID, fields, "Title")
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        await items_service.update_item(s, await s.get(User, other.id), lead, {"title": "Olga's title"})
    replies = await bot.say(SALES_ID, "Sam's title")
    assert any("Someone changed this item" in m.text for m in replies)
    assert "Olga's title" in replies[-1].text
    assert (await _load(bot, Lead, lead_id)).title == "Olga's title"


# --- people ----------------------------------------------------------------------------------------


async def test_responsible_and_observers(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Team work")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [people] = await bot.press(SALES_ID, card, "People")
    assert "Responsible: Sam Seller" in people.text
    [picker] = await bot.press(SALES_ID, people, "Observers")
    assert "Sam Seller" not in "".join(_labels(picker))  # the responsible is not offered
    [picker] = await bot.press(SALES_ID, picker, "Olga Other")
    assert "✓ Olga Other" in _labels(picker)
    async with bot.app.db.unit_of_work() as s:
        assert await s.get(ItemObserver, (ItemType.LEAD, lead_id, other.id)) is not None
    [people] = await bot.press(SALES_ID, picker, "Back")
    assert "Observers: Olga Other" in people.text
    [people] = await bot.press(SALES_ID, people, "Remove observer Olga")
    assert "Observers: —" in people.text
    async with bot.app.db.unit_of_work() as s:
        assert await s.get(ItemObserver, (ItemType.LEAD, lead_id, other.id)) is None
    assert len(await _events(bot, ItemType.LEAD, lead_id, EventType.OBSERVER_ADDED)) == 1
    assert len(await _events(bot, ItemType.LEAD, lead_id, EventType.OBSERVER_REMOVED)) == 1
    # Handing it over to Olga: Sam loses access, and is told so.
    [picker] = await bot.press(SALES_ID, people, "Change responsible")
    assert "✓ Sam Seller" in _labels(picker)
    [gone] = await bot.press(SALES_ID, picker, "Olga Other")
    assert "no longer have access" in gone.text
    assert (await _load(bot, Lead, lead_id)).responsible_id == other.id
    [refused] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Not found" in refused.text
    [card] = await bot.say(OTHER_ID, f"L-{lead_id}")
    assert "Responsible: Olga Other" in card.text


async def test_people_in_russian_with_paging(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    for n in range(9):
        await add_member(bot, 3100 + n, f"Коллега {n}", lang="ru")
    lead_id = await _create(bot, sales, "lead", title="Лид")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [people] = await bot.press(SALES_ID, card, "Люди")
    assert "Ответственный: Sam Seller" in people.text
    [picker] = await bot.press(SALES_ID, people, "Сменить ответственного")
    assert "Страница 1 из 2" in picker.text
    [picker] = await bot.press(SALES_ID, picker, "Далее")
    assert "Страница 2 из 2" in picker.text
    [picker] = await bot.press(SALES_ID, picker, "Назад")  # Prev
    assert "Страница 1 из 2" in picker.text
    [people] = await bot.press(SALES_ID, picker, "Коллега 0")
    async with bot.app.db.unit_of_work() as s:
        new_id = (await s.get(Lead, lead_id)).responsible_id
        assert (await s.get(User, new_id)).full_name == "Коллега 0"
    assert "нет доступа" in people.text
    [refused] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Не найдено" in refused.text


# --- trash ---------------------------------------------------------------------------------------


async def test_delete_to_trash_and_restore(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot)
    lead_id = await _create(bot, sales, "lead", title="Throw away")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [more] = await bot.press(SALES_ID, card, "More")
    [confirm] = await bot.press(SALES_ID, more, "Delete")
    assert "to the trash?" in confirm.text
    [deleted] = await bot.press(SALES_ID, confirm, "Yes, delete")
    assert "is in the trash" in deleted.text
    assert (await _load(bot, Lead, lead_id)).deleted_at is not None
    [gone] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Not found" in gone.text
    [trash] = await bot.say(SALES_ID, "/trash")
    assert f"L-{lead_id}" in trash.text and "Throw away" in trash.text
    [card] = await bot.press(SALES_ID, trash, f"Restore L-{lead_id}")
    assert "Throw away" in card.text and "Stage" in "".join(_labels(card))
    assert (await _load(bot, Lead, lead_id)).deleted_at is None
    assert len(await _events(bot, ItemType.LEAD, lead_id, EventType.RESTORED)) == 1
    [trash] = await bot.say(SALES_ID, "/trash")
    assert "empty" in trash.text


async def test_trash_in_russian_from_more(bot: Harness) -> None:
    _admin, sales, _other = await _team(bot, "ru")
    company_id = await _create(bot, sales, "company", title="ООО Ромашка")
    [card] = await bot.say(SALES_ID, f"CO-{company_id}")
    [more] = await bot.press(SALES_ID, card, "Ещё")
    [confirm] = await bot.press(SALES_ID, more, "Удалить")
    [deleted] = await bot.press(SALES_ID, confirm, "Да, удалить")
    assert "в корзине" in deleted.text
    [trash] = await bot.press(SALES_ID, deleted, "Корзина")
    assert "ООО Ромашка" in trash.text
    [card] = await bot.press(SALES_ID, trash, "Восстановить")
    assert "ООО Ромашка" in card.text
    assert (await _load(bot, Company, company_id)).deleted_at is None


# --- access ---------------------------------------------------------------------------------------


async def test_a_salesperson_cannot_open_or_touch_anothers_item(bot: Harness) -> None:
    _admin, sales, other = await _team(bot)
    lead_id = await _create(bot, other, "lead", title="Olga's secret", amount="100")
    deal_id = await _create(bot, other, "deal", title="Olga's deal")
    lead_before = await _load(bot, Lead, lead_id)
    # Typed refs and the deep link: the same polite answer as for an item that does not exist.
    [typed] = await bot.say(SALES_ID, f"L-{lead_id}")
    [missing] = await bot.say(SALES_ID, "L-99999")
    assert typed.text == missing.text and "Not found" in typed.text
    assert "Olga" not in typed.text
    [deep] = await bot.say(SALES_ID, f"/start D-{deal_id}")
    assert deep.text == missing.text

    [own] = await bot.say(SALES_ID, "/menu")
    async with bot.app.db.unit_of_work() as s:
        lost = await s.scalar(
            select(Stage).where(
                Stage.pipeline_id == lead_before.pipeline_id, Stage.semantics == StageSemantics.FAILURE
            )
        )
        lost_id = lost.id
    forged = [
        CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.OPEN).pack(),
        CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.STAGE).pack(),
        CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.FIELDS).pack(),
        CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.PEOPLE).pack(),
        CardCB(type=ItemType.LEAD, id=lead_id, action=CardAction.MORE).pack(),
        StageCB(t=ItemType.LEAD, id=lead_id, a="mv", v=lost_id).pack(),
        StageCB(t=ItemType.DEAL, id=deal_id, a="pp", v=1).pack(),
        StageCB(t=ItemType.DEAL, id=deal_id, a="mv", v=lost_id).pack(),
        FieldCB(t=ItemType.LEAD, id=lead_id, f="title").pack(),
        PeopleCB(t=ItemType.LEAD, id=lead_id, a="sr", v=sales.id).pack(),
        PeopleCB(t=ItemType.LEAD, id=lead_id, a="to", v=sales.id).pack(),
        TrashCB(a="ask", t="lead", id=lead_id).pack(),
        TrashCB(a="del", t="lead", id=lead_id).pack(),
        TrashCB(a="res", t="deal", id=deal_id).pack(),
    ]
    marker = bot.tg.mark()
    for data in forged:
        update = bot.tg.forge_callback(SALES_ID, data, message_id=own.message_id)
        await bot.settle()
        assert "Not found" in _answer(bot, update), data
    assert bot.new_bot_messages(SALES_ID, marker) == []
    assert "Main menu" in bot.current(own).text  # nothing was shown in its place
    lead = await _load(bot, Lead, lead_id)
    assert (lead.stage_id, lead.responsible_id, lead.title, lead.deleted_at, lead.version) == (
        lead_before.stage_id,
        other.id,
        "Olga's secret",
        None,
        lead_before.version,
    )
    async with bot.app.db.unit_of_work() as s:
        assert await s.get(ItemObserver, (ItemType.LEAD, lead_id, sales.id)) is None
        assert (
            await s.scalar(
                select(func.count())
                .select_from(TimelineEvent)
                .where(TimelineEvent.owner_id == lead_id, TimelineEvent.owner_type == ItemType.LEAD)
            )
            == 1
        )  # created only

    # On his own lead, a stage of another pipeline (a deal's) is refused too.
    own_lead_id = await _create(bot, sales, "lead", title="Mine")
    async with bot.app.db.unit_of_work() as s:
        deal_stage = await s.scalar(
            select(Stage).where(Stage.pipeline_id == (await s.get(Deal, deal_id)).pipeline_id)
        )
        deal_stage_id = deal_stage.id
    own_before = await _load(bot, Lead, own_lead_id)
    update = bot.tg.forge_callback(
        SALES_ID,
        StageCB(t=ItemType.LEAD, id=own_lead_id, a="mv", v=deal_stage_id).pack(),
        message_id=own.message_id,
    )
    await bot.settle()
    assert "Not found" in _answer(bot, update)
    assert (await _load(bot, Lead, own_lead_id)).stage_id == own_before.stage_id

    # Someone else's trash is invisible and cannot be restored.
    async with bot.app.db.unit_of_work() as s:
        await trash_service.delete_item(s, await s.get(User, other.id), await s.get(Deal, deal_id))
    [trash] = await bot.say(SALES_ID, "/trash")
    assert "Olga's deal" not in trash.text
    update = bot.tg.forge_callback(
        SALES_ID, TrashCB(a="res", t="deal", id=deal_id).pack(), message_id=trash.message_id
    )
    await bot.settle()
    assert "Not found" in _answer(bot, update)
    assert (await _load(bot, Deal, deal_id)).deleted_at is not None


async def test_refusal_in_russian(bot: Harness) -> None:
    _admin, _sales, other = await _team(bot, "ru")
    lead_id = await _create(bot, other, "lead", title="Чужой лид")
    [typed] = await bot.say(SALES_ID, f"l-{lead_id}")
    assert "Не найдено" in typed.text
    [card] = await bot.say(OTHER_ID, f"l-{lead_id}")
    assert "Чужой лид" in card.text


def test_callback_data_fits_64_bytes() -> None:
    big = 10**12 - 1
    longest = [
        CardCB(type=ItemType.COMPANY, id=big, action=CardAction.TIMELINE).pack(),
        FieldCB(t=ItemType.COMPANY, id=big, f="company_title", a="c").pack(),
        StageCB(t=ItemType.CONTACT, id=big, a="pp", v=big, ver=10**9).pack(),
        PeopleCB(t=ItemType.COMPANY, id=big, a="sr", v=big, p=9999).pack(),
        TrashCB(a="res", t="company", id=big, p=9999).pack(),
    ]
    for data in longest:
        assert len(data.encode()) <= 64, data
