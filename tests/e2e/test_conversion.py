"""Lead conversion from the card, as a salesperson does it, in English and Russian."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from bot.fake_telegram.models import StoredMessage
from crm_core.models import User
from crm_core.models.items import Company, Contact, Deal, ItemType, Lead, Stage, StageSemantics
from crm_core.services import communications
from crm_core.services import items as items_service
from crm_core.services import pipelines as pipelines_service
from crm_core.services import required_fields as required_service
from crm_core.services.conversion import Scheme
from handlers.texts import TEXTS
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member as _add_member
from tests.e2e.people import admin_user

SALES_ID = 6001
OTHER_ID = 6002
FIRST_TAP = {Scheme.DEAL_CONTACT_COMPANY, Scheme.DEAL, Scheme.CONTACT, Scheme.COMPANY}


async def add_member(bot: Harness, telegram_id: int, name: str, **kwargs: object) -> User:
    if ADMIN_ID not in bot.tg.users:
        await admin_user(bot)
    bot.tg.set_rate_limits(False)  # people type slower than the fake's flood control allows
    return await _add_member(bot, telegram_id, name, **kwargs)  # type: ignore[arg-type]


def labels(message: StoredMessage) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


async def press_exact(bot: Harness, user_id: int, message: StoredMessage, label: str) -> list[StoredMessage]:
    before = {m.message_id: m.edit_count for m in bot.tg.bot_messages(user_id)}
    bot.tg.press_button(user_id, message.message_id, button_text=label)
    await bot.settle()
    return [m for m in bot.tg.bot_messages(user_id) if before.get(m.message_id) != m.edit_count]


async def make_lead(bot: Harness, owner: User, **fields: object) -> int:
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, owner.id)
        fields.setdefault("title", "Warehouse racks")
        lead = await items_service.create_lead(s, me, **fields)
        return lead.id


async def counts(bot: Harness) -> dict[str, int]:
    async with bot.app.db.unit_of_work() as s:
        return {
            m.__tablename__: int(await s.scalar(select(func.count(m.id))) or 0)
            for m in (Deal, Contact, Company)
        }


async def open_convert(bot: Harness, lead_id: int, lang: str) -> StoredMessage:
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [screen] = await press_exact(bot, SALES_ID, card, TEXTS[lang]["card.btn.convert"])
    assert screen.message_id == card.message_id  # edited in place
    return screen


async def choose(bot: Harness, screen: StoredMessage, scheme: Scheme, lang: str) -> StoredMessage:
    """At most two taps: the first screen, or "More…" and then the scheme."""
    label = TEXTS[lang][f"cv.s.{scheme.value}"]
    if scheme not in FIRST_TAP:
        [screen] = await press_exact(bot, SALES_ID, screen, TEXTS[lang]["cv.btn.more"])
    assert label in labels(screen)
    [result] = await press_exact(bot, SALES_ID, screen, label)
    return result


@pytest.mark.parametrize(
    ("scheme", "lang"),
    [
        (Scheme.DEAL_CONTACT_COMPANY, "en"),
        (Scheme.DEAL, "ru"),
        (Scheme.CONTACT, "en"),
        (Scheme.COMPANY, "ru"),
        (Scheme.CONTACT_COMPANY, "en"),
        (Scheme.DEAL_CONTACT, "ru"),
        (Scheme.DEAL_COMPANY, "en"),
    ],
)
async def test_every_scheme_is_reachable(bot: Harness, scheme: Scheme, lang: str) -> None:
    sales = await add_member(bot, SALES_ID, "Sam", lang=lang)
    lead_id = await make_lead(
        bot, sales, name="Ivan", last_name="Petrov", company_title="Racks & Co", phones=["+7 999 123-45-67"]
    )
    screen = await open_convert(bot, lead_id, lang)
    result = await choose(bot, screen, scheme, lang)
    done = TEXTS[lang]["cv.done"].format(ref=f"L-{lead_id}").replace("<b>", "").replace("</b>", "")
    assert done in result.text

    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        stage = await s.get(Stage, lead.stage_id)
        assert stage.semantics == StageSemantics.SUCCESS
        deal = await s.scalar(select(Deal).where(Deal.lead_id == lead_id))
        contact = await s.scalar(select(Contact).where(Contact.lead_id == lead_id))
        company = await s.scalar(select(Company).where(Company.lead_id == lead_id))
    wanted = scheme.targets
    assert (deal is not None) == (ItemType.DEAL in wanted)
    assert (contact is not None) == (ItemType.CONTACT in wanted)
    assert (company is not None) == (ItemType.COMPANY in wanted)
    if contact is not None:
        assert (contact.name, contact.last_name) == ("Ivan", "Petrov")
        assert lead.contact_id == contact.id
    if company is not None:
        assert company.title == "Racks & Co"
    if deal is not None:
        assert deal.title == "Warehouse racks" and deal.responsible_id == sales.id
        assert deal.contact_id == (contact.id if contact else None)
        assert deal.company_id == (company.id if company else None)
    # The result links to each new item; one tap opens its card.
    new = [x for x in (deal, contact, company) if x is not None]
    for item in new:
        assert any(item.ref in label for label in labels(result)), (item.ref, labels(result))
    first = new[0]
    [card] = await bot.press(SALES_ID, result, first.ref)
    assert first.ref in card.text
    # The lead's card no longer offers Convert.
    [lead_card] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert TEXTS[lang]["card.btn.convert"] not in labels(lead_card)
    assert bot.bad_requests() == []


async def test_repeat_lead_reuses_its_client(bot: Harness) -> None:
    sales = await add_member(bot, SALES_ID, "Sam")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, sales.id)
        known = await items_service.create_contact(s, me, name="Known", phones=["+7 999 000-00-01"])
        known_id = known.id
    lead_id = await make_lead(bot, sales, phones=["8 999 000 00 01"])
    screen = await open_convert(bot, lead_id, "en")
    result = await choose(bot, screen, Scheme.DEAL_CONTACT, "en")
    assert f"C-{known_id}" in result.text and "existing client" in result.text
    assert (await counts(bot))["contacts"] == 1
    async with bot.app.db.unit_of_work() as s:
        deal = await s.scalar(select(Deal).where(Deal.lead_id == lead_id))
        assert deal.contact_id == known_id


async def test_pipeline_is_chosen_when_there_are_several(bot: Harness) -> None:
    admin = await admin_user(bot, "ru")
    sales = await add_member(bot, SALES_ID, "Сэм", lang="ru")
    async with bot.app.db.unit_of_work() as s:
        pipeline = await pipelines_service.create_pipeline(s, await s.get(User, admin.id), name="Опт")
        pipeline_id = pipeline.id
    lead_id = await make_lead(bot, sales)
    screen = await open_convert(bot, lead_id, "ru")
    [pick] = await press_exact(bot, SALES_ID, screen, TEXTS["ru"]["cv.s.deal"])
    assert "В какую воронку" in pick.text and "Опт" in labels(pick)
    [result] = await press_exact(bot, SALES_ID, pick, "Опт")
    assert "сконвертирован" in result.text
    async with bot.app.db.unit_of_work() as s:
        deal = await s.scalar(select(Deal).where(Deal.lead_id == lead_id))
        assert deal is not None and deal.pipeline_id == pipeline_id
    # A forged pipeline id is refused and creates nothing.
    other_lead = await make_lead(bot, sales, title="Second")
    bot.tg.forge_callback(SALES_ID, f"cv:scheme:{other_lead}:deal:999999")
    await bot.settle()
    assert (await counts(bot))["deals"] == 1


async def test_missing_required_fields_are_asked_then_conversion_succeeds(bot: Harness) -> None:
    admin = await admin_user(bot)
    sales = await add_member(bot, SALES_ID, "Sam")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, admin.id)
        await required_service.set_required_fields(s, me, ItemType.DEAL, ["amount", "close_date"])
        await required_service.set_required_fields(s, me, ItemType.CONTACT, ["phone"])
    lead_id = await make_lead(bot, sales, name="Ivan")
    screen = await open_convert(bot, lead_id, "en")
    ask = await choose(bot, screen, Scheme.DEAL_CONTACT, "en")
    # Asked one by one, what the new contact needs first (its phone comes from the lead).
    assert "Contact → Phone" in ask.text and "3 left" in ask.text and labels(ask) == ["✖️ Cancel"]
    assert (await counts(bot))["deals"] == 0
    [ask] = await bot.say(SALES_ID, "not a phone")
    assert "does not look like a phone" in ask.text and "Contact → Phone" in ask.text
    [ask] = await bot.say(SALES_ID, "+7 916 000-11-22")
    assert "Deal → Amount" in ask.text and "2 left" in ask.text
    [ask] = await bot.say(SALES_ID, "lots")
    assert "the amount is not a number" in ask.text and "Deal → Amount" in ask.text
    [ask] = await bot.say(SALES_ID, "250 000")
    assert "Deal → Close date" in ask.text and "28.11.2025" in ask.text
    [ask] = await bot.say(SALES_ID, "31.02.2026")
    assert "the date is not valid" in ask.text and "Deal → Close date" in ask.text
    [result] = await bot.say(SALES_ID, "15.03.2026")
    assert "converted" in result.text
    async with bot.app.db.unit_of_work() as s:
        deal = await s.scalar(select(Deal).where(Deal.lead_id == lead_id))
        contact = await s.scalar(select(Contact).where(Contact.lead_id == lead_id))
        assert deal.amount == Decimal("250000.00") and deal.close_date.isoformat() == "2026-03-15"
        assert contact is not None and deal.contact_id == contact.id
    assert (await comms_of(bot, contact.id)) == ["+79160001122"]


async def comms_of(bot: Harness, contact_id: int) -> list[str]:
    async with bot.app.db.unit_of_work() as s:
        contact = await s.get(Contact, contact_id)
        return [c.normalized for c in await communications.phones_of(s, contact)]


async def test_required_link_cannot_be_typed_and_cancel_changes_nothing(bot: Harness) -> None:
    admin = await admin_user(bot, "ru")
    sales = await add_member(bot, SALES_ID, "Сэм", lang="ru")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, admin.id)
        await required_service.set_required_fields(s, me, ItemType.DEAL, ["company_id"])
        await required_service.set_required_fields(s, me, ItemType.COMPANY, ["industry"])
    lead_id = await make_lead(bot, sales, company_title="Склад-Сервис")
    # Deal alone needs a company it cannot get: a clear message, nothing created.
    screen = await open_convert(bot, lead_id, "ru")
    blocked = await choose(bot, screen, Scheme.DEAL, "ru")
    assert "не заполнены обязательные поля: Сделка → Клиент: компания" in blocked.text
    # Deal + company asks for the company's industry; Cancel leaves everything as it was.
    [card] = await press_exact(bot, SALES_ID, blocked, TEXTS["ru"]["cv.btn.back"])
    [screen] = await press_exact(bot, SALES_ID, card, TEXTS["ru"]["card.btn.convert"])
    ask = await choose(bot, screen, Scheme.DEAL_COMPANY, "ru")
    assert "Компания → Сфера деятельности" in ask.text
    [done] = await press_exact(bot, SALES_ID, ask, TEXTS["ru"]["cv.btn.cancel"])
    assert "ничего не изменено" in done.text
    assert await counts(bot) == {"deals": 0, "contacts": 0, "companies": 0}
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        assert (await s.get(Stage, lead.stage_id)).semantics == StageSemantics.PROCESS


async def test_a_salesperson_cannot_convert_anothers_lead(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Sam")
    other = await add_member(bot, OTHER_ID, "Olga")
    lead_id = await make_lead(bot, other, title="Not yours")
    for data in (
        f"c:lead:{lead_id}:convert",
        f"cv:more:{lead_id}::0",
        f"cv:scheme:{lead_id}:deal_contact_company:0",
        f"cv:scheme:{lead_id}:contact:0",
    ):
        bot.tg.forge_callback(SALES_ID, data)
    await bot.settle()
    answers = [a for a in bot.tg.callback_answers.values() if a]
    assert len(answers) == 4 and all("Not found" in (a.get("text") or "") for a in answers)
    assert await counts(bot) == {"deals": 0, "contacts": 0, "companies": 0}
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        assert (await s.get(Stage, lead.stage_id)).semantics == StageSemantics.PROCESS


async def test_converting_twice_is_refused_politely(bot: Harness) -> None:
    sales = await add_member(bot, SALES_ID, "Sam")
    lead_id = await make_lead(bot, sales)
    screen = await open_convert(bot, lead_id, "en")
    await choose(bot, screen, Scheme.DEAL, "en")
    # An old convert screen pressed again: nothing more is created.
    bot.tg.forge_callback(SALES_ID, f"cv:scheme:{lead_id}:deal:0", message_id=screen.message_id)
    bot.tg.forge_callback(SALES_ID, f"c:lead:{lead_id}:convert")
    await bot.settle()
    assert (await counts(bot))["deals"] == 1
    answers = [a.get("text") or "" for a in bot.tg.callback_answers.values() if a]
    assert any("already been converted" in a for a in answers)
    assert "already been converted" in bot.current(screen).text


def test_callback_data_fits_telegram() -> None:
    from handlers.client_field import ClientAction, ClientCB
    from handlers.conversion import ConvAction, ConvCB

    longest = ConvCB(
        action=ConvAction.SCHEME, lead=10**12, s=Scheme.DEAL_CONTACT_COMPANY.value, p=10**9
    ).pack()
    assert len(longest.encode()) <= 64
    longest = ClientCB(
        action=ClientAction.UNLINK, it=ItemType.COMPANY, iid=10**12, ct="company", cid=10**12
    ).pack()
    assert len(longest.encode()) <= 64


async def test_a_lead_without_a_company_asks_for_its_name_then_converts(bot: Harness) -> None:
    """The issue's lead: the contact is the person, the company is asked for, nobody is the title."""
    await add_member(bot, SALES_ID, "Сэм", lang="ru")
    [card] = await bot.say(SALES_ID, "/new Иван Петров, замена котла, +7 916 123-45-67")
    async with bot.app.db.unit_of_work() as s:
        lead = await s.scalar(select(Lead))
        lead_id = lead.id
    [screen] = await press_exact(bot, SALES_ID, card, TEXTS["ru"]["card.btn.convert"])
    ask = await choose(bot, screen, Scheme.DEAL_CONTACT_COMPANY, "ru")
    assert "нет названия компании" in ask.text and labels(ask) == [TEXTS["ru"]["cv.btn.cancel"]]
    assert await counts(bot) == {"deals": 0, "contacts": 0, "companies": 0}
    [result] = await bot.say(SALES_ID, "ООО «Тепло»")
    assert "сконвертирован" in result.text
    async with bot.app.db.unit_of_work() as s:
        contact = await s.scalar(select(Contact).where(Contact.lead_id == lead_id))
        company = await s.scalar(select(Company).where(Company.lead_id == lead_id))
        deal = await s.scalar(select(Deal).where(Deal.lead_id == lead_id))
        assert (contact.name, contact.last_name) == ("Иван", "Петров")
        assert company.title == "ООО «Тепло»" and deal.title == "замена котла"
    assert "Иван Петров" in result.text and "ООО «Тепло»" in result.text
    assert (await comms_of(bot, contact.id)) == ["+79161234567"]


async def test_a_nameless_lead_asks_for_the_contacts_full_name_and_a_command_leaves(bot: Harness) -> None:
    sales = await add_member(bot, SALES_ID, "Sam")
    lead_id = await make_lead(bot, sales, title="boiler replacement")
    screen = await open_convert(bot, lead_id, "en")
    ask = await choose(bot, screen, Scheme.CONTACT, "en")
    assert "no person's name" in ask.text
    # A command is not a name: it leaves the form and nothing is created.
    await bot.say(SALES_ID, "/cancel")
    await bot.say(SALES_ID, "Petrov Ivan")
    assert await counts(bot) == {"deals": 0, "contacts": 0, "companies": 0}
    # Asked again: one message is the whole name, split in its parts.
    screen = await open_convert(bot, lead_id, "en")
    ask = await choose(bot, screen, Scheme.CONTACT, "en")
    [result] = await bot.say(SALES_ID, "Петров Иван Сергеевич")
    assert "converted" in result.text
    async with bot.app.db.unit_of_work() as s:
        contact = await s.scalar(select(Contact).where(Contact.lead_id == lead_id))
        assert (contact.name, contact.second_name, contact.last_name) == ("Иван", "Сергеевич", "Петров")
    assert await counts(bot) == {"deals": 0, "contacts": 1, "companies": 0}
