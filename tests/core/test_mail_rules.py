"""Email's rules without a server: the typed mailbox form, recipients, "Re:", letters read into
text (HTML, quotes, cut, unreadable), the password box, the backoff."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
from cryptography.fernet import Fernet

from crm_core.errors import ValidationFailed
from crm_core.models.mail import TlsMode
from crm_core.services.mail.crypto import MailKeyMissing, PasswordBox
from crm_core.services.mail.parse import html_to_text, parse_letter, split_quote
from crm_core.services.mail.poll import BACKOFF_MAX, backoff
from crm_core.services.mail.rules import (
    BODY_MAX,
    INCOMING_ATTACHMENT_KEEP_MAX,
    parse_box_form,
    parse_recipients,
    reply_subject,
)


def test_the_box_form_reads_lines_with_tls_defaults_by_port() -> None:
    form = parse_box_form("Sales@Example.com\nimap.example.com 993\nsmtp.example.com:587\nsecret pass")
    assert form.address == "sales@example.com" and form.login == "sales@example.com"
    assert (form.imap.host, form.imap.port, form.imap.tls) == ("imap.example.com", 993, TlsMode.SSL)
    assert (form.smtp.port, form.smtp.tls) == (587, TlsMode.STARTTLS)
    assert form.password == "secret pass"
    assert "secret" not in repr(form)
    five = parse_box_form("a@b.example\nmail.local 1143 none\nmail.local 2525 none\nlogin-name\npw")
    assert five.login == "login-name" and five.imap.tls == TlsMode.NONE


@pytest.mark.parametrize(
    "text",
    [
        "a@b.example\nimap 993\nsmtp 465",  # 3 lines
        "not-an-email\nimap 993\nsmtp 465\npw",
        "a@b.example\nimap 1143\nsmtp 465\npw",  # no TLS mode for an unusual port
        "a@b.example\nimap 993 maybe\nsmtp 465\npw",
        "a@b.example\nimap port\nsmtp 465\npw",
        "a@b.example\nim<ap 993\nsmtp 465\npw",
    ],
)
def test_a_bad_form_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_box_form(text)


def test_recipients_and_reply_subjects() -> None:
    assert parse_recipients("A@x.example, b@y.example; a@x.example <c@z.example>") == [
        "a@x.example",
        "b@y.example",
        "c@z.example",
    ]
    with pytest.raises(ValidationFailed):
        parse_recipients("a@x.example, nobody")
    assert reply_subject("Question") == "Re: Question"
    assert reply_subject("RE: Re:  Question") == "Re: Question"
    assert reply_subject("Fwd: offer") == "Re: Fwd: offer"


def test_html_becomes_text_without_scripts_styles_or_tags() -> None:
    text = html_to_text(
        "<style>p{}</style><script>alert(1)</script><p>Hi &amp; <b>bye</b></p><div>&lt;i&gt;x</div>"
    )
    assert text == "Hi & bye\n\n<i>x"


def test_quotes_are_told_apart_from_the_fresh_text() -> None:
    fresh, quoted = split_quote("Yes, thanks.\n\nOn Mon, 1 Dec, Sam wrote:\n> offer\n> attached")
    assert fresh == "Yes, thanks." and quoted.startswith("On Mon") and "> attached" in quoted
    assert split_quote("Да.\nИван пишет:\n> вопрос")[0] == "Да."
    assert split_quote("no quote") == ("no quote", "")


def test_a_letter_is_read_cut_and_its_big_attachment_listed() -> None:
    msg = EmailMessage()
    msg["From"] = "Clara <CLARA@Client.Example>"
    msg["To"] = "a@x.example, B@y.example"
    msg["Subject"] = "Plans\x00"
    msg["Message-ID"] = "<m1@client.example>"
    msg["In-Reply-To"] = "<ours@x.example>"
    msg["References"] = "<first@x.example> <ours@x.example>"
    msg.set_content("x" * (BODY_MAX + 10))
    msg.add_attachment(
        b"0" * (INCOMING_ATTACHMENT_KEEP_MAX + 1), maintype="application", subtype="zip", filename="big.zip"
    )
    msg.add_attachment(b"ok", maintype="text", subtype="plain", filename="small.txt")
    letter = parse_letter(msg.as_bytes(), fallback_id="<f>")
    assert (letter.from_addr, letter.from_name, letter.subject) == ("clara@client.example", "Clara", "Plans")
    assert letter.to == ["a@x.example", "b@y.example"]
    assert letter.message_id == "<m1@client.example>" and letter.in_reply_to == "<ours@x.example>"
    assert letter.references == ["<first@x.example>", "<ours@x.example>"]
    assert len(letter.body) == BODY_MAX and letter.notes["body_cut"] > BODY_MAX
    assert [(a.name, a.data is None) for a in letter.attachments] == [("big.zip", True), ("small.txt", False)]
    assert letter.notes["attachments_cut"] == ["big.zip"] and letter.raw is None


def test_a_huge_letter_keeps_its_header_and_an_unreadable_one_is_kept_raw() -> None:
    header = b"From: a@b.example\r\nSubject: Huge\r\nMessage-ID: <h@b.example>\r\n\r\n"
    huge = parse_letter(header, fallback_id="<f>", header_only=True, size=50_000_000)
    assert huge.subject == "Huge" and huge.notes == {"too_big": 50_000_000} and huge.body == ""
    raw = b"From: a@b.example\r\nContent-Type: text/plain; charset=no-such-charset\r\n\r\nhello\x00"
    broken = parse_letter(raw, fallback_id="<box1.7.3@no-message-id.crm>")
    assert broken.notes["unparsable"] and broken.raw == raw
    assert broken.message_id == "<box1.7.3@no-message-id.crm>"
    assert "hello" in broken.body and "\x00" not in broken.body


def test_passwords_are_encrypted_with_the_key_and_need_it() -> None:
    key = Fernet.generate_key().decode()
    box = PasswordBox(key)
    token = box.encrypt("pa55")
    assert "pa55" not in token and box.decrypt(token) == "pa55"
    assert key not in repr(box)
    with pytest.raises(MailKeyMissing):
        PasswordBox(None)
    with pytest.raises(MailKeyMissing):
        PasswordBox("not a key")
    with pytest.raises(MailKeyMissing):
        PasswordBox(Fernet.generate_key().decode()).decrypt(token)


def test_backoff_doubles_up_to_a_limit() -> None:
    assert [backoff(n, 30) for n in (1, 2, 3)] == [timedelta(seconds=s) for s in (30, 60, 120)]
    assert backoff(40, 30) == BACKOFF_MAX
