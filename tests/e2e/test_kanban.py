"""Kanban as people use it: boards with counts and sums matching the data, a stage paged, an item
moved from the board, won/lost on request, deals' pipelines, and forged buttons refused."""

from __future__ import annotations

from decimal import Decimal

from crm_core.models import Role, User
from crm_core.models.items import ItemType, Lead, Stage, StageSemantics
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import views as views_service
from handlers.card_render import format_money
from handlers.kanban import KbAction, KbCB
from handlers.texts import Translator
from handlers.texts.names import stage_name
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 3101
OTHER_ID = 3102


# --- helpers shared by the views' tests --------------------------------------------------------------


async def team(bot: Harness, lang: str = "en", other_lang: str = "en") -> tuple[User, User, User]:
    bot.tg.set_rate_limits(False)  # people do not type several commands a second
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=other_lang, role=Role.SALESPERSON)
    return admin, sales, other


def named(stage: Stage, language: str = "en") -> str:
    """A stage as the bot names it to a reader of `language`."""
    return stage_name(Translator(language), stage)


async def stages_of(bot: Harness, item_type: ItemType) -> list[Stage]:
    async with bot.app.db.unit_of_work() as s:
        pipeline = await pipelines_service.default_pipeline(s, item_type)
        return list(await pipelines_service.list_stages(s, pipeline.id))


async def make_items(
    bot: Harness, owner: User, item_type: ItemType, n: int, *, prefix: str = "Item", **fields: object
) -> list[int]:
    ids = []
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        create = {
            ItemType.LEAD: items_service.create_lead,
            ItemType.DEAL: items_service.create_deal,
            ItemType.CONTACT: items_service.create_contact,
            ItemType.COMPANY: items_service.create_company,
        }[item_type]
        for i in range(n):
            name_field = "name" if item_type == ItemType.CONTACT else "title"
            item = await create(s, actor, **{name_field: f"{prefix} {i + 1}"}, **fields)
            ids.append(item.id)
    return ids


async def move(bot: Harness, owner: User, item_type: ItemType, ids: list[int], stage_id: int) -> None:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        for item_id in ids:
            item = await items_service.get_item(s, actor, item_type, item_id)
            await pipelines_service.move_stage(s, actor, item, stage_id)  # type: ignore[arg-type]


def answer_text(bot: Harness, update: dict) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


def buttons(message: object) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _d, _u) in row]  # type: ignore[attr-defined]


# --- tests ---------------------------------------------------------------------------------------------


async def _arrange_leads(bot: Harness, sales: User, other: User) -> tuple[list[Stage], dict[int, list[int]]]:
    stages = await stages_of(bot, ItemType.LEAD)
    new, work, processed = [s for s in stages if s.semantics == StageSemantics.PROCESS][:3]
    junk = next(s for s in stages if s.semantics == StageSemantics.FAILURE)
    ids = await make_items(bot, sales, ItemType.LEAD, 10, prefix="Window", amount=Decimal("1000"))
    ids += await make_items(bot, sales, ItemType.LEAD, 4, prefix="Door", amount=Decimal("2500.50"))
    ids += await make_items(bot, sales, ItemType.LEAD, 3, prefix="Roof")  # 2 processed, 1 lost
    await move(bot, sales, ItemType.LEAD, ids[10:14], work.id)
    await move(bot, sales, ItemType.LEAD, ids[14:16], processed.id)
    await move(bot, sales, ItemType.LEAD, ids[16:], junk.id)
    # Another salesperson's leads never show up in Sam's counts.
    theirs = await make_items(bot, other, ItemType.LEAD, 3, prefix="Hidden", amount=Decimal("777"))
    by_stage = {new.id: ids[:10], work.id: ids[10:14], processed.id: ids[14:16], junk.id: ids[16:]}
    by_stage[-1] = theirs
    return stages, by_stage


async def test_kanban_counts_sums_paging_and_move(bot: Harness) -> None:
    _admin, sales, other = await team(bot)
    stages, by_stage = await _arrange_leads(bot, sales, other)
    new, work, processed = [s for s in stages if s.semantics == StageSemantics.PROCESS][:3]

    [home] = await bot.say(SALES_ID, "/kanban")
    assert "Which board" in home.text
    await bot.press(SALES_ID, home, "Leads")
    board = bot.current(home)
    assert "Kanban · Leads" in board.text
    assert "16 leads in progress" in board.text
    assert f"New — 10 · {format_money(Decimal('10000'), 'RUB', 'en')}" in board.text
    assert f"In progress — 4 · {format_money(Decimal('10002'), 'RUB', 'en')}" in board.text
    assert "Processed — 2" in board.text or f"{named(processed)} — 2" in board.text
    assert "Hidden" not in board.text and "777" not in board.text
    # The board agrees with crm_core's own figures for this user.
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        columns = await views_service.kanban(s, me, new.pipeline_id)
    for col in columns:
        assert f"{named(col.stage)} · {col.count}" in " ".join(buttons(board))
    assert "Lost" not in board.text  # won/lost groups only on request

    # A stage paged: 8 per page, Next/Prev, each item once.
    await bot.press(SALES_ID, board, f"{named(new)} · 10")
    page1 = bot.current(home)
    assert "New — 10" in page1.text and "Page 1 of 2" in page1.text
    refs1 = {f"L-{i}" for i in by_stage[new.id] if f"L-{i} " in page1.text}
    assert len(refs1) == 8
    await bot.press(SALES_ID, page1, "Next")
    page2 = bot.current(home)
    refs2 = {f"L-{i}" for i in by_stage[new.id] if f"L-{i} " in page2.text}
    assert len(refs2) == 2 and not refs1 & refs2
    await bot.press(SALES_ID, page2, "Prev")
    assert "Page 1 of 2" in bot.current(home).text

    # Move the first item of the stage to "In progress": counts follow.
    first_row = bot.current(home).inline_keyboard[0]
    moved_ref = first_row[0][0].split()[1]
    moved_id = int(moved_ref.split("-")[1])
    await bot.press(SALES_ID, bot.current(home), "Move")
    chooser = bot.current(home)
    assert f"Move {moved_ref}" in chooser.text
    await bot.press(SALES_ID, chooser, named(work))
    after = bot.current(home)
    assert f"{moved_ref} moved to «{named(work)}»" in after.text
    assert "New — 9" in after.text
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Lead, moved_id)).stage_id == work.id  # type: ignore[union-attr]
    await bot.press(SALES_ID, after, "Back to the board")
    board = bot.current(home)
    assert "New — 9" in board.text and "In progress — 5" in board.text

    # Won/lost on request.
    await bot.press(SALES_ID, board, "Show won/lost")
    full = bot.current(home)
    junk = next(s for s in stages if s.semantics == StageSemantics.FAILURE)
    assert "Won" in full.text and "Lost" in full.text and f"{named(junk)} — 1" in full.text
    await bot.press(SALES_ID, full, "Hide won/lost")
    assert named(junk) not in bot.current(home).text


async def test_deal_pipelines_switch_and_russian(bot: Harness) -> None:
    admin, sales, _other = await team(bot, lang="ru")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, admin.id)
        extra = await pipelines_service.create_pipeline(s, me, name="Опт")
        extra_id = extra.id
        extra_first = (await pipelines_service.list_stages(s, extra_id))[0]
    await make_items(bot, sales, ItemType.DEAL, 3, prefix="Сделка", amount=Decimal("150000"))
    wholesale = await make_items(bot, sales, ItemType.DEAL, 2, prefix="Опт")
    await move(bot, sales, ItemType.DEAL, wholesale, extra_first.id)

    [home] = await bot.say(SALES_ID, "/kanban")
    assert "Какую доску" in home.text
    await bot.press(SALES_ID, home, "Сделки: Общая")
    board = bot.current(home)
    assert "Канбан · Сделки: Общая" in board.text
    assert (
        f"Новая — 3 · {format_money(Decimal('450000'), 'RUB', 'ru')}" in board.text or "— 3 ·" in board.text
    )
    assert "В работе 3 сделки" in board.text
    await bot.press(SALES_ID, board, "Другая воронка")
    await bot.press(SALES_ID, bot.current(home), "Сделки: Опт")
    board2 = bot.current(home)
    assert "Канбан · Сделки: Опт" in board2.text and "В работе 2 сделки" in board2.text
    await bot.press(SALES_ID, board2, "Показать успешные")
    assert "Успешные" in bot.current(home).text


async def test_forged_kanban_buttons_are_refused(bot: Harness) -> None:
    _admin, sales, other = await team(bot)
    stages = await stages_of(bot, ItemType.LEAD)
    new, work = stages[0], stages[1]
    [lead_id] = await make_items(bot, sales, ItemType.LEAD, 1, prefix="Secret")
    [menu] = await bot.say(OTHER_ID, "/kanban")
    for data in (
        KbCB(action=KbAction.MOVE, i=lead_id, s=work.id, f=new.id).pack(),
        KbCB(action=KbAction.MOVE_ITEM, i=lead_id, s=new.id).pack(),
    ):
        update = bot.tg.forge_callback(OTHER_ID, data, message_id=menu.message_id)
        await bot.settle()
        assert "Not found" in answer_text(bot, update)
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Lead, lead_id)).stage_id == new.id  # type: ignore[union-attr]
    # The other's board does not count Sam's lead, and the stage page does not list it.
    await bot.press(OTHER_ID, menu, "Leads")
    assert "0 leads in progress" in bot.current(menu).text
    update = bot.tg.forge_callback(
        OTHER_ID, KbCB(action=KbAction.STAGE, s=new.id).pack(), message_id=menu.message_id
    )
    await bot.settle()
    assert "Secret" not in bot.current(menu).text
    # Nonsense ids are a polite "not found", not an error.
    update = bot.tg.forge_callback(
        OTHER_ID, KbCB(action=KbAction.BOARD, p=99999).pack(), message_id=menu.message_id
    )
    await bot.settle()
    assert "Not found" in answer_text(bot, update)


def test_longest_kanban_callback_fits() -> None:
    # Item ids up to a billion, stages and offsets up to a million.
    assert len(KbCB(action=KbAction.MOVE, s=10**6, i=10**9, o=10**6, c=1, f=10**6).pack().encode()) <= 64
    assert len(KbCB(action=KbAction.STAGE, p=10**6, s=10**6, o=10**6, c=1).pack().encode()) <= 64
