"""Exporting a list through the bot: CSV (UTF-8 with a BOM, ";" in Russian, "," otherwise) and
XLSX (typed cells) of the list as filtered, only what the person sees; and the round trip: the
exported file, imported back, gives the same data."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import select

from crm_core.models import User
from crm_core.models.items import Communication, Deal, ItemType, Lead
from crm_core.models.users import Role
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import trash as trash_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, find_button
from tests.e2e.people import add_member, admin_user

SELLER_ID = 2501


def _documents(bot: Harness, user_id: int, marker: int) -> list:
    return [m for m in bot.new_bot_messages(user_id, marker) if "document" in m.content]


async def _export(bot: Harness, user_id: int, command: str, label: str) -> tuple[bytes, str]:
    """Press the export button: the file is built in the background and comes as a document, after
    a progress message that then says it was sent."""
    [page] = await bot.say(user_id, command)
    marker = bot.tg.mark()
    await bot.press(user_id, page, label)
    await bot.tg.wait_for(lambda: bool(_documents(bot, user_id, marker)), 20)
    [doc] = _documents(bot, user_id, marker)
    [note] = [m for m in bot.new_bot_messages(user_id, marker) if m.seq < doc.seq]
    await bot.tg.wait_for(lambda: "⏳" not in (bot.current(note).text or ""), 10)
    return bot.tg.file_bytes(doc.content["document"]["file_id"]), doc.content["document"]["file_name"]


async def test_export_runs_in_background_one_at_a_time(bot: Harness) -> None:
    """A big list is built outside the button's update; pressing again while it is being built
    starts nothing (one export per person at a time), and other people's updates go on."""
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        a = await s.get(User, admin.id)
        for i in range(1200):  # three pages
            await items_service.create_lead(s, a, title=f"Lead {i}", phones=[f"+7916{i:07d}"])
    [page] = await bot.say(ADMIN_ID, "/leads")
    marker = bot.tg.mark()
    first = bot.tg.press_button(ADMIN_ID, page.message_id, button_text=find_button(page, "CSV"))
    second = bot.tg.press_button(ADMIN_ID, page.message_id, button_text=find_button(page, "CSV"))
    await bot.settle()
    answers = [bot.tg.callback_answers[u["callback_query"]["id"]]["text"] for u in (first, second)]
    assert answers == ["Preparing the file…", "Your previous export is still being prepared: wait for it."]
    await bot.tg.wait_for(lambda: bool(_documents(bot, ADMIN_ID, marker)), 30)
    await asyncio.sleep(0.5)
    [doc] = _documents(bot, ADMIN_ID, marker)
    rows = list(
        csv.reader(io.StringIO(bot.tg.file_bytes(doc.content["document"]["file_id"]).decode("utf-8-sig")))
    )
    assert len(rows) == 1201 and len({r[0] for r in rows[1:]}) == 1200
    assert "1200 items" in (doc.caption or "")


async def _leads(bot: Harness, admin: User, seller: User) -> None:
    async with bot.app.db.unit_of_work() as s:
        a = await s.get(User, admin.id)
        stages = await pipelines_service.list_stages(
            s, (await pipelines_service.default_pipeline(s, ItemType.LEAD)).id
        )
        await items_service.create_lead(
            s, a, title="Сайт; заявка", name="Иван", amount=Decimal("1500.50"), currency="USD",
            phones=[("+79161234567", "mobile"), "+74951234567"], emails=["ivan@example.com"],
            source="Website", comment="line one\nline two", stage_id=stages[1].id, responsible_id=seller.id,
        )  # fmt: skip
        await items_service.create_lead(s, a, title="Second, with comma", company_title="ООО «Ромашка»")
        await items_service.create_lead(s, a, title="Admin's own")  # the seller does not see it
        await items_service.update_item(s, a, (await s.scalars(select(Lead))).first(), {})


def _snapshot_rows(leads: list[Lead], comms: dict[int, list[tuple]]) -> set[tuple]:
    return {
        (x.title, x.name, x.company_title, x.amount, x.currency, x.source, x.comment, x.stage_id,
         x.responsible_id, tuple(sorted(comms.get(x.id, []))))
        for x in leads
    }  # fmt: skip


async def _snapshot(bot: Harness) -> set[tuple]:
    async with bot.app.db.unit_of_work() as s:
        leads = list(await s.scalars(select(Lead).where(Lead.deleted_at.is_(None))))
        comms: dict[int, list[tuple]] = {}
        for c in await s.scalars(select(Communication).where(Communication.owner_type == ItemType.LEAD)):
            comms.setdefault(c.owner_id, []).append((c.kind.value, c.normalized, c.value_type.value))
        return _snapshot_rows(leads, comms)


async def test_csv_in_russian_and_english_and_visibility(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, "ru")
    seller = await add_member(bot, SELLER_ID, "Sergey Petrov", lang="en")
    await _leads(bot, admin, seller)
    raw, name = await _export(bot, ADMIN_ID, "/leads", "CSV")
    assert raw.startswith(b"\xef\xbb\xbf") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Номер", "Название", "Имя"]
    assert len(rows) == 4
    by_title = {r[1]: r for r in rows[1:]}
    assert "1500,50" in by_title["Сайт; заявка"]  # a decimal comma for Russian Excel
    assert "line one\nline two" in by_title["Сайт; заявка"]

    raw, _ = await _export(bot, SELLER_ID, "/leads", "CSV")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=","))
    assert rows[0][:3] == ["Number", "Title", "First name"]
    assert [r[1] for r in rows[1:]] == ["Сайт; заявка"]  # only what the seller sees
    assert "1500.50" in rows[1]


async def test_xlsx_has_typed_cells(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    async with bot.app.db.unit_of_work() as s:
        await items_service.create_deal(
            s, await s.get(User, admin.id), title="Big deal", amount=Decimal("250000.75"),
            close_date=date(2026, 12, 31),
        )  # fmt: skip
    raw, name = await _export(bot, ADMIN_ID, "/deals", "Excel")
    assert name.endswith(".xlsx")
    ws = load_workbook(io.BytesIO(raw)).worksheets[0]
    header = [c.value for c in ws[1]]
    row = dict(zip(header, [c.value for c in ws[2]], strict=True))
    assert row["Title"] == "Big deal"
    assert row["Amount"] == 250000.75 and isinstance(row["Amount"], float)
    assert row["Close date"] == datetime(2026, 12, 31)  # a date cell (openpyxl reads it as a datetime)
    assert isinstance(row["Created"], datetime)
    assert isinstance(row["Number"], int)
    async with bot.app.db.unit_of_work() as s:
        assert (await s.scalar(select(Deal.title))) == "Big deal"


async def test_round_trip_csv_and_xlsx(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot, "ru")
    seller = await add_member(bot, SELLER_ID, "Sergey Petrov", role=Role.SALESPERSON)
    await _leads(bot, admin, seller)
    before = await _snapshot(bot)
    assert len(before) == 3
    for label in ("CSV", "Excel"):
        raw, name = await _export(bot, ADMIN_ID, "/leads", label)
        async with bot.app.db.unit_of_work() as s:
            a = await s.get(User, admin.id)
            for lead in list(await s.scalars(select(Lead).where(Lead.deleted_at.is_(None)))):
                await trash_service.delete_item(s, a, lead)
        assert await _snapshot(bot) == set()
        marker = bot.tg.mark()
        bot.tg.send_document(ADMIN_ID, name, raw)
        await bot.settle()
        [screen] = bot.new_bot_messages(ADMIN_ID, marker)
        assert "→ — не загружать —" not in (screen.text or "").split("Дата создания")[0]
        await bot.press(ADMIN_ID, screen, "Загрузить")
        await bot.tg.wait_for(lambda shown=screen: "завершена" in (bot.current(shown).text or ""), 30)
        await bot.settle()
        assert "создано 3, обновлено 0, пропущено 0, с ошибками 0" in (bot.current(screen).text or "")
        assert await _snapshot(bot) == before, label
