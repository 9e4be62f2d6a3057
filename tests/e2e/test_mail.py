"""Email in the CRM against real servers: Dovecot (IMAP) holding the box's letters, aiosmtpd (SMTP)
receiving ours; the bot runs for real against the fake Bot API, its mail job polling the box."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from crm_core.models import Activity, ActivityDirection, Letter, LetterAttachment, Mailbox, Notification, User
from crm_core.models.items import Contact, ItemType, Lead
from crm_core.models.timeline import EventType, TimelineEvent
from crm_core.services import items as items_service
from crm_core.services.mail import boxes
from crm_core.services.mail.rules import parse_box_form
from handlers.texts import t
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness, check_clean_run, find_button, running_bot
from tests.e2e.people import add_member, admin_user
from tests.mail_servers import BOX_LOGIN, BOX_PASSWORD, Dovecot, SmtpSink, box_form, free_port

# The test SMTP server asks for a login over plain TCP on 127.0.0.1: aiosmtpd warns, rightly elsewhere.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
KEY = Fernet.generate_key().decode()
SALES_ID = 4101


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def mailbot(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Harness]:
    async with running_bot(
        database_url, admin_ids=[ADMIN_ID], secret_key=KEY, mail_poll_seconds=0.2, mail_retry_seconds=0.2
    ) as harness:
        harness.tg.set_rate_limits(False)
        yield harness
    check_clean_run(harness, request.node)


async def wait_until(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.1)


async def connect_team_box(
    bot: Harness, dovecot: Dovecot, smtp: SmtpSink, *, unknown_to_lead: bool = True
) -> int:
    async with bot.app.db.unit_of_work() as s:
        admin = await s.scalar(select(User).where(User.telegram_id == ADMIN_ID))
        assert admin is not None
        box = await boxes.connect_box(
            s, admin, parse_box_form(box_form(dovecot.port, smtp.port)), KEY, team=True
        )
        box.unknown_to_lead = unknown_to_lead
        return box.id


async def letters(bot: Harness) -> list[Letter]:
    async with bot.app.db.unit_of_work() as s:
        return list(await s.scalars(select(Letter).order_by(Letter.id)))


def letter(sender: str, subject: str, text: str = "", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = BOX_LOGIN
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", make_msgid(domain="client.example"))
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text or "Hello")
    return msg


async def team(bot: Harness) -> tuple[User, User]:
    admin = await admin_user(bot)
    sales = await add_member(bot, SALES_ID, "Sam Seller")
    return admin, sales


async def contact_with_deal(bot: Harness, owner: User, email: str) -> tuple[int, int]:
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        contact = await items_service.create_contact(
            s, actor, name="Clara", last_name="Client", emails=[email]
        )
        deal = await items_service.create_deal(s, actor, title="Windows for Clara", contact_id=contact.id)
        return contact.id, deal.id


def last(bot: Harness, chat_id: int) -> Any:
    found = bot.tg.last_bot_message(chat_id)
    assert found is not None
    return found


# --- connecting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en"])
async def test_admin_connects_a_team_box_and_failures_are_explained(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink, lang: str
) -> None:
    bot = mailbot
    await admin_user(bot, lang)
    [home] = await bot.say(ADMIN_ID, "/admin")
    [boxes_screen] = await bot.press(ADMIN_ID, home, "Mail")
    assert "No team mailbox yet" in boxes_screen.text
    [ask] = await bot.press(ADMIN_ID, boxes_screen, "Connect a team mailbox")
    assert "one per line" in ask.text

    async def typed(form: str) -> str:
        replies = await bot.say(ADMIN_ID, form)
        mine = [m for m in bot.tg.messages(ADMIN_ID, include_deleted=True) if not m.from_bot]
        assert mine[-1].deleted, "the message with the password stays in the chat"
        return "\n".join(m.text or "" for m in replies)

    wrong = await typed(box_form(dovecot.port, smtp.port, password="not-the-password"))
    assert "Not connected" in wrong and "refused the login or password" in wrong and "IMAP" in wrong
    closed = free_port()
    unreachable = await typed(
        f"{BOX_LOGIN}\n127.0.0.1 {closed} none\n127.0.0.1 {smtp.port} none\n{BOX_PASSWORD}"
    )
    assert "cannot be reached" in unreachable
    mismatch = await typed(
        f"{BOX_LOGIN}\n127.0.0.1 {dovecot.port} ssl\n127.0.0.1 {smtp.port} none\n{BOX_PASSWORD}"
    )
    assert "TLS mode does not match" in mismatch
    smtp_wrong = await typed(
        f"{BOX_LOGIN}\n127.0.0.1 {dovecot.port} none\n127.0.0.1 {dovecot.port} none\n{BOX_PASSWORD}"
    )
    assert "SMTP" in smtp_wrong and "Not connected" in smtp_wrong
    malformed = await typed("sales@example.com\nimap.example.com\n")
    assert "4 or 5 lines" in malformed
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(func.count()).select_from(Mailbox)) == 0

    ok = await typed(box_form(dovecot.port, smtp.port))
    assert "is connected" in ok and BOX_LOGIN in ok
    async with bot.app.db.unit_of_work() as s:
        [box] = list(await s.scalars(select(Mailbox)))
        assert box.owner_id is None and box.active
        assert BOX_PASSWORD not in box.password_encrypted
        assert Fernet(KEY.encode()).decrypt(box.password_encrypted.encode()).decode() == BOX_PASSWORD
    everything = " ".join((m.text or "") for m in bot.tg.bot_messages(ADMIN_ID))
    assert BOX_PASSWORD not in everything and "not-the-password" not in everything


async def test_a_salesperson_connects_their_own_box_in_settings(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    [settings] = await bot.say(SALES_ID, "/settings")
    [own] = await bot.press(SALES_ID, settings, "My mailbox")
    assert "not connected" in own.text
    await bot.press(SALES_ID, own, "Connect my mailbox")
    replies = await bot.say(SALES_ID, box_form(dovecot.port, smtp.port))
    assert "is connected" in replies[-1].text
    async with bot.app.db.unit_of_work() as s:
        [box] = list(await s.scalars(select(Mailbox)))
        assert box.owner_id == sales.id
    # A forged button for a team box's screen: salespeople have none.
    forged = bot.tg.forge_callback(SALES_ID, "mbx:tm:0")
    await bot.settle()
    answer = bot.tg.callback_answers[forged["callback_query"]["id"]]
    assert answer is not None and answer.get("text") == t("en", "error.access_denied")


# --- sending ------------------------------------------------------------------------------------


async def test_send_from_a_card_with_an_attachment_a_failure_keeps_the_draft(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    _contact_id, deal_id = await contact_with_deal(bot, sales, "Clara@Client.Example")
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    [screen] = await bot.press(SALES_ID, card, "Email")
    assert "No letters yet" in screen.text
    [ask] = await bot.press(SALES_ID, screen, "Write a letter")
    [subject_ask] = await bot.press(SALES_ID, ask, "clara@client.example")
    assert "subject" in subject_ask.text
    await bot.say(SALES_ID, "Offer <for> windows")
    [draft] = await bot.say(SALES_ID, "Dear Clara,\nplease find the offer attached.")
    assert "Offer &lt;for&gt; windows" in (draft.source or "")
    pdf = b"%PDF-1.4 offer " + bytes(range(256)) * 100
    marker = bot.tg.mark()
    bot.tg.send_document(SALES_ID, "offer.pdf", pdf, "application/pdf")
    await bot.settle()
    [with_file] = bot.new_bot_messages(SALES_ID, marker)
    assert "offer.pdf" in with_file.text

    # The SMTP server is down: the letter is not sent, the reason is said, the draft stays.
    port = smtp.port
    smtp.stop()
    [failed] = await bot.press(SALES_ID, with_file, "Send")
    assert "Not sent" in failed.text and "cannot be reached" in failed.text and "offer.pdf" in failed.text
    assert await letters(bot) == []
    smtp.port = port
    smtp.start()
    [sent] = await bot.press(SALES_ID, failed, "Send again")
    assert "Sent to clara@client.example" in sent.text

    [received] = smtp.received
    msg = received.message
    assert received.rcpt_tos == ["clara@client.example"]
    assert msg["Subject"] == "Offer <for> windows" and msg["From"] == BOX_LOGIN
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "offer.pdf" and attachment.get_content() == pdf
    [out] = await letters(bot)
    assert out.message_id == msg["Message-ID"] and (out.owner_type, out.owner_id) == (ItemType.DEAL, deal_id)
    async with bot.app.db.unit_of_work() as s:
        event = await s.scalar(
            select(TimelineEvent).where(
                TimelineEvent.owner_id == deal_id, TimelineEvent.event_type == EventType.MESSAGE_OUT
            )
        )
        assert event is not None and "offer.pdf" in event.payload["text"] and event.author_id == sales.id
    [card] = await bot.say(SALES_ID, f"D-{deal_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    assert "Offer <for> windows" in timeline.text and "offer.pdf" in timeline.text


# --- incoming -----------------------------------------------------------------------------------


async def test_letter_from_a_known_contact_and_a_reply_that_keeps_the_thread(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    contact_id, _deal_id = await contact_with_deal(bot, sales, "clara@client.example")
    first = letter(
        "Clara Client <CLARA@client.example>",
        "Question about windows",
        "Do you have white frames?\n\nOn Mon, Sam wrote:\n> our offer\n> is attached",
    )
    dovecot.append(first)
    [incoming] = await wait_until(lambda: letters(bot))
    assert (incoming.owner_type, incoming.owner_id) == (ItemType.CONTACT, contact_id)
    await bot.settle()
    note = last(bot, SALES_ID)
    assert "New email" in note.text and "Question about windows" in note.text
    assert "white frames" in note.text and "expandable_blockquote" in str(note.entities)
    for label in ("Reply", "C-", "Done"):
        find_button(note, label)
    async with bot.app.db.unit_of_work() as s:
        activity = await s.get(Activity, incoming.activity_id)
        assert activity is not None and activity.direction == ActivityDirection.INCOMING
        assert activity.type == "email" and activity.responsible_id == sales.id and not activity.completed

    # Reply from the notification: threaded, "Re:".
    [ask] = await bot.press(SALES_ID, note, "Reply")
    assert "Re: Question about windows" in ask.text
    [draft] = await bot.say(SALES_ID, "Yes, white frames are in stock.")
    await bot.press(SALES_ID, draft, "Send")
    [received] = smtp.received
    assert received.message["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in received.message["References"]
    assert received.message["Subject"] == "Re: Question about windows"
    assert received.rcpt_tos == ["clara@client.example"]
    async with bot.app.db.unit_of_work() as s:
        answered = await s.get(Activity, incoming.activity_id)
        assert answered is not None and answered.completed  # the reply did what it asked

    # The client answers our letter from another address: it lands on the same item.
    ours = received.message["Message-ID"]
    dovecot.append(
        letter(
            "Clara at home <clara.home@mail.example>",
            "Re: Re: Question about windows",
            "Great, I will order.",
            In_Reply_To=ours,
            References=f"{first['Message-ID']} {ours}",
        )
    )
    await wait_until(lambda: _count_in(bot, 2))
    answer = (await letters(bot))[-1]
    assert (answer.owner_type, answer.owner_id) == (ItemType.CONTACT, contact_id)
    await bot.settle()
    note2 = last(bot, SALES_ID)
    assert "I will order" in note2.text
    [_done] = await bot.press(SALES_ID, note2, "Done")
    async with bot.app.db.unit_of_work() as s:
        activity = await s.get(Activity, answer.activity_id)
        assert activity is not None and activity.completed


async def _count_in(bot: Harness, n: int) -> bool:
    return len([x for x in await letters(bot) if x.direction == "in"]) >= n


async def test_unknown_sender_makes_a_lead_or_waits_unsorted(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    admin, _sales = await team(bot)
    box_id = await connect_team_box(bot, dovecot, smtp)
    dovecot.append(letter("New Person <new.person@somewhere.example>", "Need a quote"))
    [first] = await wait_until(lambda: letters(bot))
    async with bot.app.db.unit_of_work() as s:
        lead = await s.get(Lead, first.owner_id)
        assert first.owner_type == ItemType.LEAD and lead is not None
        assert lead.source == "EMAIL" and lead.responsible_id == admin.id and lead.title == "Need a quote"
    await bot.settle()
    assert "Need a quote" in last(bot, ADMIN_ID).text

    # The box's setting says "unsorted": the letter waits for an admin.
    [home] = await bot.say(ADMIN_ID, "/admin")
    [screen] = await bot.press(ADMIN_ID, home, "Mail")
    [box_screen] = await bot.press(ADMIN_ID, screen, BOX_LOGIN)
    [box_screen] = await bot.press(ADMIN_ID, box_screen, "Unknown senders")
    assert "waits in the unsorted list" in box_screen.text
    async with bot.app.db.unit_of_work() as s:
        assert (await s.get(Mailbox, box_id)).unknown_to_lead is False  # type: ignore[union-attr]
    dovecot.append(letter("stranger@else.example", "Who are you"))
    dovecot.append(letter("other@else.example", "Partnership"))
    await wait_until(lambda: _count_in(bot, 3))
    [_l, waiting, other] = await letters(bot)
    assert waiting.owner_id is None and other.owner_id is None
    await bot.settle()
    # The admin who connected the box hears of each, with the ways to sort it.
    pushed = [m for m in bot.tg.bot_messages(ADMIN_ID) if "waits to be sorted" in (m.text or "")]
    assert {("Who are you" in m.text, "Partnership" in m.text) for m in pushed} == {
        (True, False),
        (False, True),
    }
    for m in pushed:
        find_button(m, "New lead")
        find_button(m, "To an item")
    [screen] = await bot.say(ADMIN_ID, "/admin")
    [mail] = await bot.press(ADMIN_ID, screen, "Mail")
    [unsorted] = await bot.press(ADMIN_ID, mail, "Unsorted letters (2)")
    assert "Who are you" in unsorted.text and "Partnership" in unsorted.text
    # One becomes a lead, the other goes to a contact typed by its ref.
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, admin.id)
        contact = await items_service.create_contact(s, actor, name="Known")
        contact_id = contact.id
    label = [lbl for row in unsorted.inline_keyboard for (lbl, _d, _u) in row if "To an item" in lbl]
    assert len(label) == 2
    await bot.press(ADMIN_ID, unsorted, "To an item")
    # The newest first: "Partnership" goes to the contact (whose responsible, the admin, hears of it).
    replies = await bot.say(ADMIN_ID, f"C-{contact_id}")
    assert f"The letter is on C-{contact_id}" in replies[0].text
    assert "New email" in replies[1].text and "Partnership" in replies[1].text
    [screen] = await bot.say(ADMIN_ID, "/admin")
    [mail] = await bot.press(ADMIN_ID, screen, "Mail")
    [unsorted] = await bot.press(ADMIN_ID, mail, "Unsorted letters (1)")
    await bot.press(ADMIN_ID, unsorted, "New lead")
    async with bot.app.db.unit_of_work() as s:
        rows = {x.subject: x for x in await s.scalars(select(Letter))}
        assert (rows["Partnership"].owner_type, rows["Partnership"].owner_id) == (
            ItemType.CONTACT,
            contact_id,
        )
        assert rows["Who are you"].owner_type == ItemType.LEAD
        new_lead = await s.get(Lead, rows["Who are you"].owner_id)
        assert new_lead is not None and new_lead.source == "EMAIL" and new_lead.title == "Who are you"
        assert rows["Who are you"].activity_id is not None


async def test_html_only_letter_with_hostile_markup_reaches_telegram_as_text(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    await contact_with_deal(bot, sales, "clara@client.example")
    msg = EmailMessage()
    msg["From"] = "clara@client.example"
    msg["To"] = BOX_LOGIN
    msg["Subject"] = "<b>Bold</b> & <i>subject</i>"
    msg["Message-ID"] = make_msgid(domain="client.example")
    html = (
        "<html><head><style>p{color:red}</style><script>alert('x')</script></head><body>"
        "<p>Hello &amp; welcome</p><p>Look: &lt;b&gt;not bold&lt;/b&gt; "
        "<a href='javascript:alert(1)'>link</a></p>"
        "<img src=x onerror=alert(1)><div>Line <tg-spoiler>two</tg-spoiler></div></blockquote></body></html>"
    )
    msg.set_content(html, subtype="html")
    dovecot.append(msg)
    [got] = await wait_until(lambda: letters(bot))
    assert "alert" not in got.body and "color:red" not in got.body
    assert "Hello & welcome" in got.body and "<b>not bold</b>" in got.body
    await bot.settle()
    note = last(bot, SALES_ID)
    assert "<b>not bold</b>" in note.text and "<b>Bold</b> & <i>subject</i>" in note.text
    assert "alert" not in note.text
    # No piece of the letter became formatting: the only entities are the bot's own.
    letter_part = note.text[note.text.index("Hello") :]
    offset = len(note.text[: note.text.index("Hello")].encode("utf-16-le")) // 2
    own = [e for e in note.entities if _offset(e) >= offset and _kind(e) != "expandable_blockquote"]
    assert own == [], (letter_part, own)


def _offset(entity: Any) -> int:
    return int(entity["offset"] if isinstance(entity, dict) else entity.offset)


def _kind(entity: Any) -> str:
    return str(entity["type"] if isinstance(entity, dict) else entity.type)


async def test_a_20_mb_attachment_is_cut_with_a_note_small_ones_are_sent_on_request(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    await contact_with_deal(bot, sales, "clara@client.example")
    msg = letter("clara@client.example", "Plans and photos", "See the files.")
    msg.add_attachment(
        b"\x00\x01" * (10 * 1024 * 1024), maintype="application", subtype="zip", filename="plans.zip"
    )
    msg.add_attachment(b"small file", maintype="text", subtype="plain", filename="notes.txt")
    dovecot.append(msg)
    [got] = await wait_until(lambda: letters(bot), timeout=60)
    async with bot.app.db.unit_of_work() as s:
        files = {a.name: a for a in await s.scalars(select(LetterAttachment))}
    assert files["plans.zip"].size == 20 * 1024 * 1024 and files["plans.zip"].data is None
    assert files["notes.txt"].data == b"small file"
    assert got.notes["attachments_cut"] == ["plans.zip"]
    await bot.settle()
    note = last(bot, SALES_ID)
    assert "plans.zip: over the size limit" in note.text
    [files_screen] = await bot.press(SALES_ID, note, "Attachments (1)")
    marker = bot.tg.mark()
    await bot.press(SALES_ID, files_screen, "notes.txt")
    [document] = bot.new_bot_messages(SALES_ID, marker)
    file_id = document.content["document"]["file_id"]
    assert bot.tg.file_bytes(file_id) == b"small file"


async def test_the_same_letter_twice_is_recorded_once(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    contact_id, _ = await contact_with_deal(bot, sales, "clara@client.example")
    same = letter("clara@client.example", "Once only", "Hello")
    dovecot.append(same)
    dovecot.append(same)
    dovecot.append(letter("clara@client.example", "After", "the last one"))
    await wait_until(lambda: _count_in(bot, 2))
    async with bot.app.db.unit_of_work() as s:
        box = await s.scalar(select(Mailbox))
        assert box is not None and box.last_uid == 3  # all three read
        subjects = [x.subject for x in await s.scalars(select(Letter).order_by(Letter.id))]
        assert subjects == ["Once only", "After"]
        activities = await s.scalar(
            select(func.count()).select_from(Activity).where(Activity.owner_id == contact_id)
        )
        assert activities == 2
        notes = await s.scalar(
            select(func.count()).select_from(Notification).where(Notification.category == "mail_in")
        )
        assert notes == 2


async def test_server_down_and_back(mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    box_id = await connect_team_box(bot, dovecot, smtp)
    contact_id, _ = await contact_with_deal(bot, sales, "clara@client.example")
    dovecot.stop()

    async def failed_twice() -> bool:
        async with bot.app.db.unit_of_work() as s:
            box = await s.get(Mailbox, box_id)
            return box is not None and box.failures >= 2 and bool(box.last_error)

    await wait_until(failed_twice)
    async with bot.app.db.unit_of_work() as s:
        box = await s.get(Mailbox, box_id)
        assert box is not None and "unreachable" in (box.last_error or "")
        assert box.next_poll_at is not None
    dovecot.start()
    dovecot.append(letter("clara@client.example", "While you were down", "Hi"))
    [got] = await wait_until(lambda: letters(bot), timeout=30)
    assert (got.owner_type, got.owner_id) == (ItemType.CONTACT, contact_id)

    async def recovered() -> bool:
        async with bot.app.db.unit_of_work() as s:
            box = await s.get(Mailbox, box_id)
            return box is not None and box.failures == 0 and box.last_error is None

    # The poll commits each letter, then the box's recovery: under load the letter shows first.
    await wait_until(recovered)
    await bot.settle()
    assert "While you were down" in last(bot, SALES_ID).text


async def test_contacts_email_is_matched_normalised(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    await connect_team_box(bot, dovecot, smtp)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        contact = await items_service.create_contact(
            s, actor, name="Mixed", emails=["  Mixed.Case@Example.COM "]
        )
        contact_id = contact.id
    dovecot.append(letter("MIXED.case@example.com", "Case"))
    [got] = await wait_until(lambda: letters(bot))
    assert (got.owner_type, got.owner_id) == (ItemType.CONTACT, contact_id)
    async with bot.app.db.unit_of_work() as s:
        assert await s.get(Contact, contact_id) is not None


async def test_own_box_letters_from_strangers_are_sorted_by_its_owner(
    mailbot: Harness, dovecot: Dovecot, smtp: SmtpSink
) -> None:
    bot = mailbot
    _admin, sales = await team(bot)
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        box = await boxes.connect_box(
            s, actor, parse_box_form(box_form(dovecot.port, smtp.port)), KEY, team=False
        )
        box.unknown_to_lead = False
    dovecot.append(letter("someone@new.example", "Hello Sam"))
    [got] = await wait_until(lambda: letters(bot))
    assert got.owner_id is None
    await bot.settle()
    note = last(bot, SALES_ID)
    assert "waits to be sorted" in note.text and "Hello Sam" in note.text
    await bot.press(SALES_ID, note, "New lead")
    async with bot.app.db.unit_of_work() as s:
        sorted_letter = await s.get(Letter, got.id)
        assert sorted_letter is not None and sorted_letter.owner_type == ItemType.LEAD
        lead = await s.get(Lead, sorted_letter.owner_id)
        assert lead is not None and lead.responsible_id == sales.id and lead.source == "EMAIL"
