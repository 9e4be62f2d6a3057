"""Importing a file through the bot: an admin sends a CSV/XLSX, checks the proposed mapping and
preview, changes a column and the duplicate policy, runs it, and gets a report and the failed rows
as a file; a malformed file imports nothing; a salesperson may not import; Stop stops cleanly."""

from __future__ import annotations

import asyncio
import csv
import io

from sqlalchemy import func, select

from crm_core.models import User
from crm_core.models.items import Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role
from crm_core.services import items as items_service
from handlers.imports import IpAction, IpCB
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SELLER_ID = 2401


def csv_file(rows: list[list[str]], sep: str = ";", encoding: str = "utf-8-sig") -> bytes:
    return ("\r\n".join(sep.join(r) for r in rows) + "\r\n").encode(encoding)


async def _send(bot: Harness, user_id: int, name: str, data: bytes):
    marker = bot.tg.mark()
    bot.tg.send_document(user_id, name, data, mime_type="text/csv")
    await bot.settle()
    return bot.new_bot_messages(user_id, marker)


async def _wait_report(bot: Harness, chat_id: int, screen, timeout: float = 30.0):
    await bot.tg.wait_for(lambda: "Import" in (bot.current(screen).text or "") and "⏳" not in
                          (bot.current(screen).text or ""), timeout)  # fmt: skip
    await bot.settle()
    return bot.current(screen)


async def _count(bot: Harness) -> int:
    async with bot.app.db.unit_of_work() as s:
        return int(await s.scalar(select(func.count()).select_from(Lead)) or 0)


async def test_bitrix_file_imports_with_report_and_failed_rows(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    admin = await admin_user(bot)
    seller = await add_member(bot, SELLER_ID, "Sergey Petrov")
    async with bot.app.db.unit_of_work() as s:
        existing = await items_service.create_lead(
            s, await s.get(User, admin.id), title="Known", phones=["+79160000001"]
        )
        existing_id = existing.id
    rows = [
        ["Название лида", "Имя", "Мобильный телефон", "Рабочий e-mail", "Сумма", "Статус", "Ответственный",
         "Примечание"],
        ["Сайт", "Иван", "8 916 123-45-67", "ivan@example.com", "1 500,50", "IN_PROCESS",
         "Sergey Petrov", "x"],
        ["Плохой", "Пётр", "не телефон", "", "", "", "", ""],
        ["Дубль", "Олег", "+7 916 000-00-01", "", "", "", "", ""],
        ["Плохая сумма", "Анна", "", "", "много", "", "", ""],
        ["Новый", "Ольга", "", "olga@example.com", "20000", "Nowhere", "", ""],
    ]  # fmt: skip
    [screen] = await _send(bot, ADMIN_ID, "bitrix_leads.csv", csv_file(rows, ";", "cp1251"))
    text = screen.text or ""
    assert "bitrix_leads.csv: 5 rows" in text
    # Bitrix24's Russian column names are mapped by themselves; the unknown one is skipped.
    assert "Название лида → Title" in text and "Мобильный телефон → Mobile phone" in text
    assert "Статус → Stage" in text and "Ответственный → Responsible" in text
    assert "Примечание → — skip —" in text
    # The preview shows values as they will be stored: the phone in E.164, the amount as a number.
    assert "+79161234567" in text and "Amount: 1500.5" in text
    assert "⚠️" in text  # the second row's phone is refused already in the preview

    # Map the unknown column to the comment, via its button and the target list.
    [screen] = await bot.press(ADMIN_ID, screen, "8. Примечание")
    assert "What does the column «Примечание» hold?" in (screen.text or "")
    [screen] = await bot.press(ADMIN_ID, screen, "Description")
    assert "Примечание → Description" in (screen.text or "")
    [screen] = await bot.press(ADMIN_ID, screen, "Duplicates: skip")
    assert "Duplicates: update the existing item" in str(screen.inline_keyboard)
    [screen] = await bot.press(ADMIN_ID, screen, "Duplicates: update")
    [screen] = await bot.press(ADMIN_ID, screen, "Duplicates: create")
    assert "Duplicates: skip them" in str(screen.inline_keyboard)

    marker = bot.tg.mark()
    await bot.press(ADMIN_ID, screen, "Import")
    report = await _wait_report(bot, ADMIN_ID, screen)
    assert "Import finished" in (report.text or "")
    assert "created 2, updated 0, skipped 1, failed 2" in (report.text or "")
    assert "Unknown stage «Nowhere» (1 row): put on the first stage." in (report.text or "")
    # The failed rows, row by row, with the file's own row numbers and the reason.
    docs = [m for m in bot.new_bot_messages(ADMIN_ID, marker) if "document" in m.content]
    assert len(docs) == 1 and "2 rows were not imported" in (docs[0].caption or "")
    raw = bot.tg.file_bytes(docs[0].content["document"]["file_id"])
    assert raw.startswith(b"\xef\xbb\xbf")
    failed = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=","))
    assert failed[0][:3] == ["Row", "Reason", "Название лида"]
    assert [r[0] for r in failed[1:]] == ["3", "5"]
    assert failed[1][1].startswith("Мобильный телефон:") and failed[1][2] == "Плохой"
    assert failed[2][1].startswith("Сумма:") and "amount" in failed[2][1] and failed[2][2] == "Плохая сумма"

    async with bot.app.db.unit_of_work() as s:
        leads = {lead.title: lead for lead in await s.scalars(select(Lead))}
        assert set(leads) == {"Known", "Сайт", "Новый"}
        assert leads["Сайт"].responsible_id == seller.id and leads["Сайт"].comment == "x"
        assert leads["Новый"].responsible_id == admin.id
        event = await s.scalar(
            select(TimelineEvent).where(
                TimelineEvent.owner_id == leads["Сайт"].id, TimelineEvent.event_type == EventType.CREATED
            )
        )
        assert event.payload["imported_from"] == "bitrix_leads.csv"
        assert leads["Known"].id == existing_id


async def test_malformed_file_imports_nothing(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    await admin_user(bot)
    [reply] = await _send(bot, ADMIN_ID, "broken.xlsx", b"PK\x03\x04 this is not a workbook")
    assert "damaged" in (reply.text or "")
    [reply] = await _send(bot, ADMIN_ID, "empty.csv", b"Title;Name\r\n")
    assert "no rows" in (reply.text or "")
    [reply] = await _send(bot, ADMIN_ID, "photo.csv", bytes(range(256)) * 20)
    assert "not a CSV or XLSX" in (reply.text or "")
    assert await _count(bot) == 0


async def test_salesperson_may_not_import_even_with_forged_buttons(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    await admin_user(bot)
    await add_member(bot, SELLER_ID, "Sam Seller", role=Role.SALESPERSON)
    head = await add_member(bot, SELLER_ID + 1, "Hanna Head", role=Role.HEAD, department="Sales")
    [reply] = await _send(bot, SELLER_ID, "leads.csv", csv_file([["Title"], ["A"]]))
    assert "Only admins and heads" in (reply.text or "")
    update = bot.tg.forge_callback(SELLER_ID, IpCB(action=IpAction.START).pack(), message_id=reply.message_id)
    await bot.settle()
    assert "over" in _answer(bot, update)
    # A head prepares an import, then is made a salesperson: the Import button is refused.
    [screen] = await _send(bot, head.telegram_id, "leads.csv", csv_file([["Title"], ["A"]]))
    assert "leads.csv: 1 row" in (screen.text or "")
    async with bot.app.db.unit_of_work() as s:
        (await s.get(User, head.id)).role = Role.SALESPERSON  # type: ignore[union-attr]
    update = bot.tg.forge_callback(
        head.telegram_id, IpCB(action=IpAction.START).pack(), message_id=screen.message_id
    )
    await bot.settle()
    assert _answer(bot, update) == "You have no access to this."
    assert await _count(bot) == 0


def _answer(bot: Harness, update: dict) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


async def test_stop_leaves_whole_rows(bot: Harness) -> None:
    bot.tg.set_rate_limits(False)
    await admin_user(bot)
    # Enough rows that the import is still running when Stop arrives: 3,000 could all be in
    # before the press on a fast machine (the test then failed, the stop having come too late).
    total = 20_000
    rows = [["Title", "Phone"]] + [[f"Lead {i}", f"+7916{i:07d}"] for i in range(total)]
    [screen] = await _send(bot, ADMIN_ID, "big.csv", csv_file(rows, ",", "utf-8"))
    await bot.press(ADMIN_ID, screen, "Import")
    await bot.tg.wait_for(lambda: "⏳" in (bot.current(screen).text or ""), 10)
    await asyncio.sleep(0.5)
    await bot.press(ADMIN_ID, screen, "Stop")
    report = await _wait_report(bot, ADMIN_ID, screen)
    assert "Import stopped" in (report.text or "")
    created = int((report.text or "").split("created ")[1].split(",")[0])
    assert 0 < created < total
    assert await _count(bot) == created  # every created lead is whole: it has its phone
    async with bot.app.db.unit_of_work() as s:
        from crm_core.models.items import Communication

        phones = await s.scalar(select(func.count()).select_from(Communication))
    assert phones == created
