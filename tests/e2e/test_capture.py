"""Capturing leads as a salesperson does it: /new (form and one message), forwarding a message,
sharing a contact; and the client field of a lead. English and Russian, over the fake Bot API."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from bot.fake_telegram.models import StoredMessage
from crm_core.models import User
from crm_core.models.comments import Comment
from crm_core.models.items import Communication, Company, Contact, Deal, ItemType, Lead
from crm_core.services import items as items_service
from crm_core.services import required_fields as required_service
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness
from tests.e2e.people import add_member as _add_member
from tests.e2e.people import admin_user

SALES_ID = 5001
OTHER_ID = 5002


async def add_member(bot: Harness, telegram_id: int, name: str, **kwargs: object) -> User:
    """A member invited by an admin who has started the bot (so that the admin can be told)."""
    if ADMIN_ID not in bot.tg.users:
        await admin_user(bot)
    # People type slower than Telegram's 1 message/s per chat that the fake enforces.
    bot.tg.set_rate_limits(False)
    return await _add_member(bot, telegram_id, name, **kwargs)  # type: ignore[arg-type]


def labels(message: StoredMessage) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


async def press_exact(bot: Harness, user_id: int, message: StoredMessage, label: str) -> list[StoredMessage]:
    """Press the button with exactly this label (substrings are ambiguous: "Deal" vs "Deal + …")."""
    chat = user_id
    before = {m.message_id: m.edit_count for m in bot.tg.bot_messages(chat)}
    bot.tg.press_button(user_id, message.message_id, button_text=label)
    await bot.settle()
    return [m for m in bot.tg.bot_messages(chat) if before.get(m.message_id) != m.edit_count]


async def leads(bot: Harness) -> list[Lead]:
    async with bot.app.db.unit_of_work() as s:
        return list(await s.scalars(select(Lead).order_by(Lead.id)))


async def comms(bot: Harness, item_type: ItemType, item_id: int) -> list[tuple[str, str]]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(Communication)
            .where(Communication.owner_type == item_type, Communication.owner_id == item_id)
            .order_by(Communication.kind, Communication.sort)
        )
        return [(str(r.kind), r.normalized) for r in rows]


async def db_user(bot: Harness, user_id: int) -> User:
    async with bot.app.db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.id == user_id))
        assert user is not None
        return user


# --- /new <free text> ------------------------------------------------------------------------------


async def test_lead_from_one_message_with_phone_and_email(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    text = "/new Ivan Petrov +7 (999) 123-45-67 IVAN@example.com wants plastic windows\nCall after 18:00"
    [card] = await bot.say(SALES_ID, text)
    assert "Lead L-1 created" in card.text
    # The name is the client's, apart from the title.
    assert "wants plastic windows" in card.text and "Ivan Petrov" in card.text
    assert any("Convert" in label for label in labels(card))
    [lead] = await leads(bot)
    assert lead.title == "wants plastic windows"
    assert (lead.name, lead.last_name, lead.company_title) == ("Ivan", "Petrov", None)
    assert lead.source == "manual"
    assert lead.comment == text.removeprefix("/new ")
    assert await comms(bot, ItemType.LEAD, lead.id) == [
        ("email", "ivan@example.com"),
        ("phone", "+79991234567"),
    ]
    assert not lead.is_return_customer


async def test_lead_from_one_message_in_russian(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    [card] = await bot.say(SALES_ID, "/new Окна в офис, тел. 8 912 000-00-00")
    assert "Лид L-1 создан" in card.text
    assert any("Конвертировать" in label for label in labels(card))
    [lead] = await leads(bot)
    assert lead.title == "Окна в офис, тел."
    assert await comms(bot, ItemType.LEAD, lead.id) == [("phone", "+79120000000")]


async def test_the_issues_lead_keeps_name_and_title_apart(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    [card] = await bot.say(SALES_ID, "/new Иван Петров, замена котла, +7 916 123-45-67")
    assert "Лид L-1 создан" in card.text
    [lead] = await leads(bot)
    assert (lead.title, lead.name, lead.last_name, lead.second_name) == (
        "замена котла",
        "Иван",
        "Петров",
        None,
    )
    assert lead.company_title is None
    assert await comms(bot, ItemType.LEAD, lead.id) == [("phone", "+79161234567")]


async def test_company_and_patronymic_from_one_message(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    await bot.say(SALES_ID, "/new ООО «Ромашка», Петров Иван Сергеевич, поставка бумаги")
    [lead] = await leads(bot)
    assert lead.title == "поставка бумаги" and lead.company_title == "ООО «Ромашка»"
    assert (lead.name, lead.second_name, lead.last_name) == ("Иван", "Сергеевич", "Петров")


async def test_nothing_but_a_name_is_titled_after_the_person(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    [card] = await bot.say(SALES_ID, "/new John Smith +1 650 253 00 00")
    assert "Lead L-1 created" in card.text
    [lead] = await leads(bot)
    assert (lead.title, lead.name, lead.last_name) == ("John Smith", "John", "Smith")


async def test_only_a_phone_is_still_a_lead(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    [card] = await bot.say(SALES_ID, "/new +7 999 123 45 67")
    [lead] = await leads(bot)
    assert lead.title == "+7 999 123 45 67"
    assert "L-1" in card.text


# --- /new: the form ------------------------------------------------------------------------------


async def test_new_form_with_skips_and_a_bad_email(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    [ask] = await bot.say(SALES_ID, "/new")
    assert "title" in ask.text and labels(ask) == ["✖️ Cancel"]
    [ask] = await bot.say(SALES_ID, "Office chairs <b>x20</b>")
    assert "name" in ask.text and any("Skip" in label for label in labels(ask))
    [ask] = await bot.press(SALES_ID, ask, "Skip")  # no name: edited in place into the next question
    assert "Phone" in ask.text
    [ask] = await bot.say(SALES_ID, "12")
    assert "does not look like a phone" in ask.text and "Phone" in ask.text
    [ask] = await bot.say(SALES_ID, "+7 999 765-43-21")
    assert "Email" in ask.text
    [ask] = await bot.say(SALES_ID, "boris-at-example")
    assert "does not look like an email" in ask.text and "«boris-at-example»" in ask.text
    assert "Email" in ask.text
    [card] = await bot.press(SALES_ID, ask, "Skip")
    assert "Lead L-1 created" in card.text and "Office chairs &lt;b&gt;x20&lt;/b&gt;" not in card.text
    assert "Office chairs <b>x20</b>" in card.text  # shown as typed, not as markup
    [lead] = await leads(bot)
    assert lead.title == "Office chairs <b>x20</b>" and lead.name is None and lead.source == "manual"
    assert await comms(bot, ItemType.LEAD, lead.id) == [("phone", "+79997654321")]


async def test_new_form_from_the_menu_in_russian_every_field(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    [menu] = await bot.say(SALES_ID, "/menu")
    [ask] = await bot.press(SALES_ID, menu, "Новый лид")
    assert "Новый лид" in ask.text and "название" in ask.text
    [ask] = await bot.say(SALES_ID, "Ремонт склада")
    assert "Как зовут" in ask.text and "⏭ Пропустить" in labels(ask)
    [ask] = await bot.say(SALES_ID, "Мария")
    [ask] = await bot.say(SALES_ID, "8 (912) 345-67-89")
    [ask] = await bot.say(SALES_ID, "мария@")
    assert "не похоже на адрес e-mail" in ask.text and "E-mail?" in ask.text
    [card] = await bot.say(SALES_ID, "Maria@Example.COM")
    assert "Лид L-1 создан" in card.text and "Мария" in card.text
    [lead] = await leads(bot)
    assert (lead.title, lead.name) == ("Ремонт склада", "Мария")
    assert await comms(bot, ItemType.LEAD, lead.id) == [
        ("email", "maria@example.com"),
        ("phone", "+79123456789"),
    ]


async def test_new_form_refuses_a_title_over_its_limit_instead_of_cutting_it(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    await bot.say(SALES_ID, "/new")
    [ask] = await bot.say(SALES_ID, "x" * 256)
    assert "at most 255 characters" in ask.text  # the schema's limit, said, and asked again
    assert await leads(bot) == []
    [ask] = await bot.say(SALES_ID, "y" * 255)  # exactly the limit is taken whole
    [ask] = await bot.say(SALES_ID, "N" * 101)
    assert "at most 100 characters" in ask.text
    await bot.press(SALES_ID, ask, "Skip")
    [ask] = await bot.press(SALES_ID, bot.tg.last_bot_message(SALES_ID), "Skip")
    await bot.press(SALES_ID, ask, "Skip")
    [lead] = await leads(bot)
    assert lead.title == "y" * 255 and lead.name is None


async def test_new_form_cancel_creates_nothing(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    await bot.say(SALES_ID, "/new")
    [ask] = await bot.say(SALES_ID, "Something")
    [done] = await bot.press(SALES_ID, ask, "Cancel")
    assert "no lead was created" in done.text and done.inline_keyboard == []
    assert await leads(bot) == []
    # The form is over: text is no longer taken as an answer.
    [reply] = await bot.say(SALES_ID, "Something else")
    assert "don't know what to do" in reply.text
    # A stale Skip/Cancel does nothing harmful.
    bot.tg.forge_callback(SALES_ID, "nw:skip", message_id=ask.message_id)
    await bot.settle()
    assert await leads(bot) == []


async def test_required_lead_fields_are_asked_in_the_form(bot: Harness) -> None:
    admin = await admin_user(bot)
    await add_member(bot, SALES_ID, "Boris")
    async with bot.app.db.unit_of_work() as s:
        await required_service.set_required_fields(s, await s.get(User, admin.id), ItemType.LEAD, ["amount"])
    [ask] = await bot.say(SALES_ID, "/new Server room cooling +7 999 111 22 33")
    assert "required" in ask.text and "Amount" in ask.text and "Skip" not in " ".join(labels(ask))
    [ask] = await bot.say(SALES_ID, "a lot")
    assert "the amount is not a number" in ask.text and "Amount" in ask.text
    [card] = await bot.say(SALES_ID, "150 000,50")
    assert "Lead L-1 created" in card.text
    [lead] = await leads(bot)
    assert lead.amount == Decimal("150000.50") and lead.title == "Server room cooling"


async def test_a_required_client_blocks_capture_with_a_clear_message(bot: Harness) -> None:
    admin = await admin_user(bot)
    await add_member(bot, SALES_ID, "Boris", lang="ru")
    async with bot.app.db.unit_of_work() as s:
        await required_service.set_required_fields(
            s, await s.get(User, admin.id), ItemType.LEAD, ["company_id"]
        )
    [reply] = await bot.say(SALES_ID, "/new Лид без клиента")
    assert "обязательные поля: Клиент: компания" in reply.text
    assert await leads(bot) == []


# --- forwarded messages --------------------------------------------------------------------------


async def test_forward_from_a_user_offers_a_lead(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Boris")
    bot.tg.add_user(7777, "Ivan", "Sokolov", language_code="ru")
    marker = bot.tg.mark()
    bot.tg.forward_message(SALES_ID, "Hello! Need 5 <desks>, my phone +7 999 000-11-22", origin_user=7777)
    await bot.settle()
    [offer] = bot.new_bot_messages(SALES_ID, marker)
    assert "Create a lead from this message?" in offer.text
    assert "From: Ivan Sokolov" in offer.text and "+7 999 000-11-22" in offer.text
    assert "Need 5 <desks>" in offer.text
    assert await leads(bot) == []  # nothing until confirmed
    # Meanwhile the user can do other things: a ref still works (no form is holding the chat).
    [card] = await press_exact(bot, SALES_ID, offer, "✅ Create lead")
    assert card.message_id == offer.message_id and "Lead L-1 created" in card.text
    [lead] = await leads(bot)
    assert (lead.name, lead.last_name, lead.source) == ("Ivan", "Sokolov", "telegram")
    assert lead.title == "Hello! Need 5 <desks>, my phone"
    assert await comms(bot, ItemType.LEAD, lead.id) == [("phone", "+79990001122")]
    async with bot.app.db.unit_of_work() as s:
        [comment] = list(await s.scalars(select(Comment).where(Comment.owner_id == lead.id)))
    assert comment.text == "Hello! Need 5 <desks>, my phone +7 999 000-11-22"
    # The offer is used up: a second tap (a forged replay) changes nothing.
    bot.tg.forge_callback(SALES_ID, "nw:create", message_id=offer.message_id)
    await bot.settle()
    assert len(await leads(bot)) == 1


async def test_forward_from_a_hidden_user_in_russian_and_cancel(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    marker = bot.tg.mark()
    bot.tg.forward_message(SALES_ID, "Нужна доставка в Казань", origin_name="Мария Иванова")
    bot.tg.forward_message(SALES_ID, "Пишите: anna@example.org", origin_name="Анна")
    await bot.settle()
    first, second = bot.new_bot_messages(SALES_ID, marker)
    assert "Создать лид из этого сообщения?" in first.text and "От: Мария Иванова" in first.text
    [done] = await press_exact(bot, SALES_ID, second, "✖️ Отмена")
    assert "лид не создан" in done.text
    # The other offer is still there to confirm.
    [card] = await press_exact(bot, SALES_ID, first, "✅ Создать лид")
    assert "Лид L-1 создан" in card.text
    [lead] = await leads(bot)
    assert lead.name == "Мария Иванова" and lead.title == "Нужна доставка в Казань"


async def test_forward_from_a_known_contact_is_a_repeat_lead(bot: Harness) -> None:
    boris = await add_member(bot, SALES_ID, "Boris")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, boris.id)
        contact = await items_service.create_contact(s, me, name="Ivan", last_name="Sokolov")
        contact_id = contact.id
    bot.tg.add_user(7777, "Ivan", "Sokolov")
    marker = bot.tg.mark()
    bot.tg.forward_message(SALES_ID, "Again interested", origin_user=7777)
    await bot.settle()
    [offer] = bot.new_bot_messages(SALES_ID, marker)
    assert "known contact" in offer.text
    [card] = await press_exact(bot, SALES_ID, offer, "✅ Create lead")
    assert "Repeat lead" in card.text
    [lead] = await leads(bot)
    assert lead.contact_id == contact_id and lead.is_return_customer


# --- shared contacts -----------------------------------------------------------------------------


async def test_shared_contact_creates_a_lead_and_a_known_phone_a_repeat_lead(bot: Harness) -> None:
    boris = await add_member(bot, SALES_ID, "Boris")
    marker = bot.tg.mark()
    bot.tg.send_contact(SALES_ID, "79991234567", "Oleg", "Sidorov", contact_user_id=8888)
    await bot.settle()
    [card] = bot.new_bot_messages(SALES_ID, marker)
    assert "Lead L-1 created" in card.text and "Oleg Sidorov" in card.text
    assert "Repeat lead" not in card.text
    [first] = await leads(bot)
    assert (first.name, first.last_name, first.title) == ("Oleg", "Sidorov", "Oleg Sidorov")
    assert await comms(bot, ItemType.LEAD, first.id) == [("phone", "+79991234567")]
    assert not first.is_return_customer

    # The same phone again, while only a lead has it: a new lead, told about the earlier one.
    marker = bot.tg.mark()
    bot.tg.send_contact(SALES_ID, "+7 999 123-45-67", "Oleg")
    await bot.settle()
    [card] = bot.new_bot_messages(SALES_ID, marker)
    assert "Lead L-2 created" in card.text and "Same phone or email as L-1" in card.text

    # Once the person is a contact (here: the first lead converted), sharing them again gives a
    # repeat lead linked to that contact.
    from crm_core.services import conversion as conversion_service

    async with bot.app.db.unit_of_work() as s:
        result = await conversion_service.convert_lead(s, await s.get(User, boris.id), first.id, "contact")
        contact_id = result.contact.id  # type: ignore[union-attr]
    marker = bot.tg.mark()
    bot.tg.send_contact(SALES_ID, "79991234567", "Oleg", "Sidorov")
    await bot.settle()
    [card] = bot.new_bot_messages(SALES_ID, marker)
    assert "Repeat lead" in card.text and f"C-{contact_id}" in card.text
    third = (await leads(bot))[-1]
    assert third.contact_id == contact_id and third.is_return_customer


async def test_shared_contact_in_russian(bot: Harness) -> None:
    await add_member(bot, SALES_ID, "Борис", lang="ru")
    marker = bot.tg.mark()
    bot.tg.send_contact(SALES_ID, "+79120000000", "Пётр")
    await bot.settle()
    [card] = bot.new_bot_messages(SALES_ID, marker)
    assert "Лид L-1 создан" in card.text and "Пётр" in card.text


# --- the client field ----------------------------------------------------------------------------


async def _lead_card(bot: Harness, user_id: int, ref: str) -> StoredMessage:
    [card] = await bot.say(user_id, ref)
    assert ref in card.text
    return card


async def test_client_field_search_choose_and_create(bot: Harness) -> None:
    boris = await add_member(bot, SALES_ID, "Boris")
    async with bot.app.db.unit_of_work() as s:
        me = await s.get(User, boris.id)
        company = await items_service.create_company(s, me, title="Acme Ltd", phones=["+7 495 123-45-67"])
        lead = await items_service.create_lead(s, me, title="Office move")
        company_id, lead_id = company.id, lead.id
    card = await _lead_card(bot, SALES_ID, f"L-{lead_id}")
    [prompt] = await bot.press(SALES_ID, card, "Client")
    assert prompt.message_id == card.message_id and "No client yet" in prompt.text
    # Search by phone typed any way.
    [found] = await bot.say(SALES_ID, "8 495 1234567")
    assert "found for" in found.text
    assert any(f"Acme Ltd · CO-{company_id}" in label for label in labels(found))
    [card2] = await bot.press(SALES_ID, found, "Acme Ltd")
    assert "Client: Acme Ltd" in card2.text and "Repeat lead" in card2.text
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        assert lead.company_id == company_id and lead.is_return_customer

    # A new contact from what was typed: name and phone.
    [prompt] = await bot.press(SALES_ID, card2, "Client")
    assert "Acme Ltd" in prompt.text
    [found] = await bot.say(SALES_ID, "Olga Smirnova +7 916 555-44-33")
    assert "Nothing found" in found.text
    [card3] = await bot.press(SALES_ID, found, "Create contact")
    async with bot.app.db.unit_of_work() as s:
        contact = await s.scalar(select(Contact))
        lead = await s.get(Lead, lead_id)
        assert contact is not None and (contact.name, contact.last_name) == ("Olga", "Smirnova")
        assert lead.contact_id == contact.id and lead.company_id == company_id
    assert await comms(bot, ItemType.CONTACT, contact.id) == [("phone", "+79165554433")]
    assert f"C-{contact.id} created" in card3.text

    # Remove the company again: the lead is no longer tied to it.
    [prompt] = await bot.press(SALES_ID, card3, "Client")
    [prompt] = await bot.press(SALES_ID, prompt, "Remove the company")
    assert "Acme Ltd" not in prompt.text
    [back] = await bot.press(SALES_ID, prompt, "Back")
    assert f"L-{lead_id}" in back.text
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, lead_id)
        assert lead.company_id is None and lead.contact_id == contact.id
    # Back ended the typing: a typed ref opens the card again instead of searching.
    [again] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Office move" in again.text


async def test_client_field_create_company_in_russian_on_a_deal(bot: Harness) -> None:
    boris = await add_member(bot, SALES_ID, "Борис", lang="ru")
    async with bot.app.db.unit_of_work() as s:
        deal = await items_service.create_deal(s, await s.get(User, boris.id), title="Поставка")
        deal_id = deal.id
    card = await _lead_card(bot, SALES_ID, f"D-{deal_id}")
    [prompt] = await bot.press(SALES_ID, card, "Клиент")
    assert "Клиент пока не выбран" in prompt.text
    [found] = await bot.say(SALES_ID, "ООО «Ромашка» info@romashka.ru")
    [card2] = await bot.press(SALES_ID, found, "Создать компанию")
    async with bot.app.db.unit_of_work() as s:
        company = await s.scalar(select(Company))
        deal = await s.get(Deal, deal_id)
        assert company is not None and company.title == "ООО «Ромашка»"
        assert deal.company_id == company.id
    assert await comms(bot, ItemType.COMPANY, company.id) == [("email", "info@romashka.ru")]
    assert "Ромашка" in card2.text


async def test_client_field_refuses_what_the_user_cannot_see(bot: Harness) -> None:
    boris = await add_member(bot, SALES_ID, "Boris")
    other = await add_member(bot, OTHER_ID, "Olga")
    async with bot.app.db.unit_of_work() as s:
        mine = await items_service.create_lead(s, await s.get(User, boris.id), title="Mine")
        theirs = await items_service.create_lead(s, await s.get(User, other.id), title="Theirs")
        secret = await items_service.create_contact(s, await s.get(User, other.id), name="Secret Person")
        mine_id, theirs_id, secret_id = mine.id, theirs.id, secret.id
    # Another's lead: the client field does not open.
    bot.tg.forge_callback(SALES_ID, f"c:lead:{theirs_id}:client")
    await bot.settle()
    # Another's contact cannot be linked to my lead, nor found by name.
    card = await _lead_card(bot, SALES_ID, f"L-{mine_id}")
    [prompt] = await bot.press(SALES_ID, card, "Client")
    [found] = await bot.say(SALES_ID, "Secret")
    assert not any("Secret Person" in label for label in labels(found))
    forged = f"cl:pick:lead:{mine_id}:contact:{secret_id}"
    bot.tg.forge_callback(SALES_ID, forged, message_id=found.message_id)
    bot.tg.forge_callback(SALES_ID, f"cl:pick:lead:{theirs_id}:contact:{secret_id}")
    await bot.settle()
    answers = [a for a in bot.tg.callback_answers.values() if a]
    assert sum("Not found" in (a.get("text") or "") for a in answers) == 3
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Lead, mine_id)).contact_id is None
        assert (await s.get(Lead, theirs_id)).contact_id is None
