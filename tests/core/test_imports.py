"""Import: reading files in every encoding/separator, the header, Bitrix24's layout, the field
schema's parsers, duplicate policies, failed rows, cancel."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_core.fields import FieldContext
from crm_core.models.items import CommKind, Communication, Contact, ItemType, Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.models.users import Role
from crm_core.services import imports
from crm_core.services.imports import ImportFileError, ImportJob, Policy, read_table, run_import
from tests.core.factories import make_admin, make_lead, make_user

CTX = FieldContext.of("ru", "Europe/Moscow", region="RU")

SAMPLE = [
    ["Title", "Name", "Phone", "Email", "Amount"],
    ["Сайт", "Иван", "+7 916 123-45-67", "ivan@example.com", "1 500,50"],
    ["Звонок", "Пётр", "8 (916) 765-43-21", "", "20000"],
]


def csv_bytes(rows: list[list[str]], sep: str, encoding: str) -> bytes:
    text = "\r\n".join(sep.join(r) for r in rows) + "\r\n"
    return text.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1251"])
@pytest.mark.parametrize("sep", [";", ",", "\t"])
def test_reads_each_encoding_and_separator(encoding: str, sep: str) -> None:
    rows = [[c.replace(",", ".") if sep == "," else c for c in r] for r in SAMPLE]
    table = read_table(csv_bytes(rows, sep, encoding), "leads.csv")
    assert table.separator == sep
    assert table.has_header and table.columns == SAMPLE[0]
    data = list(table.rows())
    assert data[0][1] == "Иван" and data[1][1] == "Пётр" and len(data) == 2


def test_headerless_file_and_xlsx() -> None:
    table = read_table(csv_bytes(SAMPLE[1:], ";", "utf-8"), "x.csv")
    assert not table.has_header and table.columns == ["1", "2", "3", "4", "5"]
    assert table.count() == 2

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["TITLE", "OPPORTUNITY", "CLOSEDATE"])
    ws.append(["Deal A", 1500.5, date(2026, 12, 1)])
    buf = io.BytesIO()
    wb.save(buf)
    table = read_table(buf.getvalue(), "deals.xlsx")
    assert table.columns == ["TITLE", "OPPORTUNITY", "CLOSEDATE"]
    assert list(table.rows())[0][:2] == ["Deal A", 1500.5]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\x00\x01\x02\x03\x04\x05\x06\x07" * 50 + b"\xff\xfe\x00", "binary"),
        (b"PK\x03\x04broken zip", "xlsx_broken"),
        (b"Title;Name\r\n", "no_rows"),
    ],
)
def test_malformed_files_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ImportFileError) as info:
        table = read_table(data, "f.xlsx" if data.startswith(b"PK") else "f.csv")
        list(table.rows())
    assert info.value.reason == reason


def test_bitrix_layout_maps_itself() -> None:
    en = [
        "TITLE",
        "NAME",
        "LAST_NAME",
        "COMPANY_TITLE",
        "PHONE_WORK",
        "PHONE_MOBILE",
        "EMAIL_WORK",
        "STATUS_ID",
        "SOURCE_ID",
        "OPPORTUNITY",
        "CURRENCY_ID",
        "ASSIGNED_BY_ID",
        "COMMENTS",
        "UF_CRM_X",
    ]
    index = imports.alias_index(ItemType.LEAD)
    assert imports.propose_mapping(en, index) == [
        "title", "name", "last_name", "company_title", "phone", "phone.mobile", "email", "stage", "source",
        "amount", "currency", "responsible", "comment", "",
    ]  # fmt: skip
    ru = [
        "Название лида",
        "Имя",
        "Фамилия",
        "Название компании",
        "Рабочий телефон",
        "Мобильный телефон",
        "Рабочий e-mail",
        "Статус",
        "Источник",
        "Сумма",
        "Валюта",
        "Ответственный",
        "Комментарий",
    ]
    assert imports.propose_mapping(ru, index) == [
        "title", "name", "last_name", "company_title", "phone", "phone.mobile", "email", "stage", "source",
        "amount", "currency", "responsible", "comment",
    ]  # fmt: skip
    company = imports.propose_mapping(["Название компании", "Телефон"], imports.alias_index(ItemType.COMPANY))
    assert company == ["title", "phone"]


async def _import(db, actor_id, data: bytes, item_type=ItemType.LEAD, policy=Policy.SKIP, **kw):
    table, mapping = imports.open_table(data, "leads.csv", item_type)
    job = ImportJob(item_type, mapping, policy, "leads.csv", CTX)
    return await run_import(db, actor_id, table, job, **kw)


async def test_import_creates_parses_and_marks_the_timeline(db) -> None:
    async with db.unit_of_work() as s:
        admin = await make_admin(s, name="Anna Admin")
        seller = await make_user(s, Role.SALESPERSON, name="Сергей Петров")
        admin_id, seller_id = admin.id, seller.id
    rows = [
        ["TITLE", "NAME", "PHONE_MOBILE", "EMAIL_WORK", "OPPORTUNITY", "STATUS_ID", "ASSIGNED_BY_ID",
         "SOURCE_ID"],
        ["Сайт", "Иван", "8 916 123-45-67", "IVAN@example.com", "1 500,50", "IN_PROCESS", "Петров Сергей",
         "WEB"],
        ["Bad", "Пётр", "not a phone", "", "", "", "", ""],
        ["Третий", "Ольга", "", "olga@example.com", "20 000 USD", "Nonexistent", "Nobody", ""],
    ]  # fmt: skip
    result = await _import(db, admin_id, csv_bytes(rows, ";", "cp1251"))
    assert (result.created, result.updated, result.skipped, len(result.failed)) == (2, 0, 0, 1)
    assert result.failed[0].number == 3 and result.failed[0].column == "PHONE_MOBILE"
    assert result.unknown[("stage", "Nonexistent")] == 1 and result.unknown[("responsible", "Nobody")] == 1
    async with db.unit_of_work() as s:
        leads = list(await s.scalars(select(Lead).order_by(Lead.id)))
        assert [lead.title for lead in leads] == ["Сайт", "Третий"]
        first, third = leads
        assert first.amount == Decimal("1500.50") and first.responsible_id == seller_id
        assert (
            third.amount == Decimal("20000") and third.currency == "USD" and third.responsible_id == admin_id
        )
        phones = list(await s.scalars(select(Communication).where(Communication.owner_id == first.id)))
        assert {(c.kind, c.normalized, c.value_type) for c in phones} == {
            (CommKind.PHONE, "+79161234567", "mobile"),
            (CommKind.EMAIL, "ivan@example.com", "work"),
        }
        event = await s.scalar(
            select(TimelineEvent).where(
                TimelineEvent.owner_id == first.id, TimelineEvent.event_type == EventType.CREATED
            )
        )
        assert event.payload["imported_from"] == "leads.csv"


async def test_duplicate_policies(db) -> None:
    async with db.unit_of_work() as s:
        admin = await make_admin(s)
        lead = await make_lead(s, admin, title="Old", name="Ivan", phones=["+79161234567"])
        admin_id, lead_id = admin.id, lead.id
    rows = [["Title", "Name", "Phone"], ["New title", "Ivan", "8 916 123 45 67"]]
    data = csv_bytes(rows, ",", "utf-8")
    result = await _import(db, admin_id, data, policy=Policy.SKIP)
    assert (result.created, result.skipped) == (0, 1)
    result = await _import(db, admin_id, data, policy=Policy.UPDATE)
    assert (result.created, result.updated) == (0, 1)
    async with db.unit_of_work() as s:
        assert (await s.get(Lead, lead_id)).title == "New title"
    result = await _import(db, admin_id, data, policy=Policy.CREATE)
    assert result.created == 1
    # A number from another system (Bitrix24's ID) matches only with the same title.
    other = csv_bytes(
        [["ID", "TITLE"], [str(lead_id), "Unrelated"], [str(lead_id), "new title"]], ",", "utf-8"
    )
    result = await _import(db, admin_id, other, policy=Policy.SKIP)
    assert (result.created, result.skipped) == (1, 1)
    # name + company for contacts: name and last name
    rows = [["Name", "Last name", "Email"], ["Anna", "Smirnova", "a@x.ru"], ["anna", "SMIRNOVA", ""]]
    result = await _import(db, admin_id, csv_bytes(rows, ",", "utf-8"), item_type=ItemType.CONTACT)
    assert (result.created, result.skipped) == (1, 1)
    async with db.unit_of_work() as s:
        assert len(list(await s.scalars(select(Contact)))) == 1


async def test_cancel_stops_between_chunks(db) -> None:
    async with db.unit_of_work() as s:
        admin_id = (await make_admin(s)).id
    rows = [["Title", "Phone"]] + [
        [f"Lead {i}", f"+7 916 000-{i // 100:02d}-{i % 100:02d}"] for i in range(500)
    ]
    seen = []

    def cancelled() -> bool:  # the Cancel button pressed while the first chunk runs
        seen.append(1)
        return len(seen) > 1

    result = await _import(db, admin_id, csv_bytes(rows, ",", "utf-8"), cancelled=cancelled)
    assert result.cancelled and 0 < result.created == result.total < 500
    async with db.unit_of_work() as s:
        assert len(list(await s.scalars(select(Lead)))) == result.created
        # every stored lead whole: its phone and its "imported" record
        phones = await s.scalars(select(Communication).where(Communication.kind == CommKind.PHONE))
        events = await s.scalars(select(TimelineEvent).where(TimelineEvent.event_type == EventType.CREATED))
        assert len(list(phones)) == len(list(events)) == result.created


async def test_salesperson_may_not_import(db) -> None:
    async with db.unit_of_work() as s:
        seller_id = (await make_user(s, Role.SALESPERSON)).id
    from crm_core.errors import AccessDenied

    with pytest.raises(AccessDenied):
        await _import(db, seller_id, csv_bytes([["Title"], ["x"]], ",", "utf-8"))


async def test_chunk_repeats_required_fields_and_rules_of_a_new_lead(db) -> None:
    """Rows go in chunks: a row repeating an earlier row of the file (same phone) is matched to the
    lead that row made; a row missing a required field fails alone with nothing of it stored; a new
    lead is linked to a known client, its responsible is told, as when a lead is created by hand."""
    from crm_core.models.notifications import Notification, NotificationCategory
    from crm_core.services.required_fields import set_required_fields
    from tests.core.factories import make_contact

    async with db.unit_of_work() as s:
        admin = await make_admin(s)
        seller = await make_user(s, Role.SALESPERSON, name="Sergey Petrov")
        client = await make_contact(s, admin, name="Known", phones=["+79160000007"])
        await set_required_fields(s, admin, ItemType.LEAD, ["name"])
        admin_id, seller_id, client_id = admin.id, seller.id, client.id
    rows = [["Title", "Name", "Phone", "Responsible"]]
    for i in range(120):
        name = "" if i % 40 == 13 else f"Name {i}"  # rows 15, 55, 95 of the file miss the name
        phone = f"+7 916 000-00-{i % 60:02d}"  # rows 62.. repeat the phones of rows 2..
        rows.append([f"Lead {i}", name, phone, "Sergey Petrov" if i == 7 else ""])
    result = await _import(db, admin_id, csv_bytes(rows, ",", "utf-8"))
    # row 95 repeats row 35 (skipped before it is checked); rows 75 and 115 repeat failed rows
    assert [f.number for f in result.failed] == [15, 55]
    assert {type(f.error).__name__ for f in result.failed} == {"RequiredFieldsMissing"}
    assert (result.total, result.created, result.skipped) == (120, 60, 58)
    async with db.unit_of_work() as s:
        leads = {lead.title: lead for lead in await s.scalars(select(Lead))}
        assert len(leads) == 60 and "Lead 13" not in leads and "Lead 73" in leads and "Lead 93" not in leads
        assert leads["Lead 7"].contact_id == client_id and leads["Lead 7"].is_return_customer
        assert leads["Lead 7"].responsible_id == seller_id and not leads["Lead 8"].is_return_customer
        told = list(await s.scalars(select(Notification).where(Notification.user_id == seller_id)))
        assert [(n.category, n.payload["owner_id"]) for n in told] == [
            (NotificationCategory.LEAD_ASSIGNED, leads["Lead 7"].id)
        ]
        phones = await s.scalars(select(Communication).where(Communication.owner_type == ItemType.LEAD))
        assert len(list(phones)) == 60
    again = await _import(db, admin_id, csv_bytes(rows, ",", "utf-8"), policy=Policy.UPDATE)
    assert (again.created, again.updated, len(again.failed)) == (0, 120, 0)
