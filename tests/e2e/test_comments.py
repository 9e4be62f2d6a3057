"""Comments as people use them: text with @mentions, files and photos, edit/delete own, pin 7."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_core.models import User
from crm_core.models.comments import Attachment, Comment
from crm_core.models.items import ItemType
from crm_core.models.notifications import Notification
from crm_core.models.timeline import TimelineEvent
from crm_core.services import comments as comments_service
from crm_core.services import items as items_service
from handlers.timeline import CmAction, CmCB, TlAction, TlCB
from tests.e2e.harness import Harness
from tests.e2e.people import add_member, admin_user

SALES_ID = 2301
OTHER_ID = 2302
STRANGER_ID = 2303


async def _team(bot: Harness, lang: str = "en") -> tuple[User, User, User, User]:
    bot.tg.set_rate_limits(False)  # people do not type several messages a second
    admin = await admin_user(bot, lang)
    sales = await add_member(bot, SALES_ID, "Sam Seller", lang=lang)
    other = await add_member(bot, OTHER_ID, "Olga Other", lang=lang)
    stranger = await add_member(bot, STRANGER_ID, "Stan Stranger", lang=lang)
    async with bot.app.db.unit_of_work() as s:
        for user, name in ((sales, "sam_s"), (other, "olga_o"), (stranger, "stan_x")):
            (await s.get(User, user.id)).username = name  # type: ignore[union-attr]
    return admin, sales, other, stranger


async def _lead(bot: Harness, owner: User, title: str, observers: list[int] = ()) -> int:  # type: ignore[assignment]
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, owner.id)
        lead = await items_service.create_lead(s, actor, title=title, observer_ids=list(observers))
        return lead.id


def _labels(message: Any) -> list[str]:
    return [label for row in message.inline_keyboard for (label, _data, _url) in row]


def _data(message: Any, label: str) -> str:
    for row in message.inline_keyboard:
        for text, data, _url in row:
            if text == label:
                return str(data)
    raise AssertionError(f"no button {label!r} among {_labels(message)}")


def _answer(bot: Harness, update: dict[str, Any]) -> str:
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None
    return str(answer.get("text", ""))


async def _comments(bot: Harness, lead_id: int) -> list[Comment]:
    async with bot.app.db.unit_of_work() as s:
        rows = await s.scalars(
            select(Comment)
            .where(Comment.owner_type == ItemType.LEAD, Comment.owner_id == lead_id)
            .order_by(Comment.id)
        )
        return list(rows)


async def _notifications(bot: Harness, user_id: int) -> list[Notification]:
    async with bot.app.db.unit_of_work() as s:
        return list(await s.scalars(select(Notification).where(Notification.user_id == user_id)))


async def _comment_via_card(bot: Harness, user_tg: int, lead_id: int, text: str) -> Any:
    [card] = await bot.say(user_tg, f"L-{lead_id}")
    [prompt] = await bot.press(user_tg, card, "Comment" if "Comment" in str(_labels(card)) else "Комментарий")
    return await bot.say(user_tg, text)


async def test_text_comment_with_mentions_in_english(bot: Harness) -> None:
    _admin, sales, other, stranger = await _team(bot)
    lead_id = await _lead(bot, sales, "Window order", observers=[other.id])
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [prompt] = await bot.press(SALES_ID, card, "Comment")
    assert "Send the text of the comment" in prompt.text
    assert "Cancel" in str(_labels(prompt))
    # Olga observes the lead; Stan may not see it; @nobody_here is no colleague at all.
    replies = await bot.say(SALES_ID, "Call back <tomorrow>, @olga_o please check. cc @stan_x @nobody_here")
    assert len(replies) == 1
    assert "Comment added" in replies[0].text
    assert "Window order" in replies[0].text and "Timeline" in str(_labels(replies[0]))
    [comment] = await _comments(bot, lead_id)
    assert comment.text == "Call back <tomorrow>, @olga_o please check. cc @stan_x @nobody_here"
    assert comment.author_id == sales.id
    mentions = [n for n in await _notifications(bot, other.id) if n.category == "mentioned"]
    assert len(mentions) == 1 and mentions[0].payload["comment_id"] == comment.id
    assert [n for n in await _notifications(bot, stranger.id) if n.category == "mentioned"] == []

    # A colleague picked without a username (a text_mention) is resolved by Telegram id.
    [card2] = await bot.say(SALES_ID, f"L-{lead_id}")
    await bot.press(SALES_ID, card2, "Comment")
    marker = bot.tg.mark()
    bot.tg._incoming(
        SALES_ID,
        None,
        text="Olga, the client agreed",
        content={
            "entities": [
                {
                    "type": "text_mention",
                    "offset": 0,
                    "length": 4,
                    "user": {"id": OTHER_ID, "is_bot": False, "first_name": "Olga"},
                }
            ]
        },
    )
    await bot.settle()
    assert any("Comment added" in m.text for m in bot.new_bot_messages(SALES_ID, marker))
    assert len([n for n in await _notifications(bot, other.id) if n.category == "mentioned"]) == 2

    # Cancel leaves without adding anything.
    [card3] = await bot.say(SALES_ID, f"L-{lead_id}")
    [prompt] = await bot.press(SALES_ID, card3, "Comment")
    [back] = await bot.press(SALES_ID, prompt, "Cancel")
    assert "Window order" in back.text and "Stage" in str(_labels(back))
    await bot.say(SALES_ID, "just chatting")  # not a comment any more
    assert len(await _comments(bot, lead_id)) == 2


async def test_document_and_photo_in_russian(bot: Harness) -> None:
    _admin, sales, _other, _stranger = await _team(bot, "ru")
    lead_id = await _lead(bot, sales, "Поставка окон")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [prompt] = await bot.press(SALES_ID, card, "Комментарий")
    assert "Отправьте текст комментария" in prompt.text
    marker = bot.tg.mark()
    bot.tg.send_document(
        SALES_ID, "offer.pdf", b"%PDF-1.4 offer" * 50, "application/pdf", caption="КП для клиента"
    )
    await bot.settle()
    [reply] = bot.new_bot_messages(SALES_ID, marker)
    assert "Комментарий с файлом добавлен" in reply.text

    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    await bot.press(SALES_ID, card, "Комментарий")
    marker = bot.tg.mark()
    bot.tg.send_photo(SALES_ID, b"\xff\xd8\xff\xe0 photo bytes")
    await bot.settle()
    [reply] = bot.new_bot_messages(SALES_ID, marker)
    assert "Комментарий с файлом добавлен" in reply.text

    comments = await _comments(bot, lead_id)
    assert [c.text for c in comments] == ["КП для клиента", ""]
    async with bot.app.db.unit_of_work() as s:
        files = list(
            await s.scalars(select(Attachment).where(Attachment.owner_id == lead_id).order_by(Attachment.id))
        )
    assert [(f.comment_id, f.name, f.mime) for f in files] == [
        (comments[0].id, "offer.pdf", "application/pdf"),
        (comments[1].id, files[1].name, "image/jpeg"),
    ]
    assert files[0].size == len(b"%PDF-1.4 offer" * 50) and files[0].file_unique_id
    assert files[1].name.startswith("photo_")

    # The timeline shows both; a comment's entry sends its file back by reference.
    [timeline] = await bot.press(SALES_ID, reply, "История")
    assert "offer.pdf" in timeline.text and "КП для клиента" in timeline.text
    entry_label = next(
        label for label in _labels(timeline) if label.startswith("💬") and label != "💬 Комментарий"
    )
    [entry] = await bot.press(SALES_ID, timeline, entry_label)
    marker = bot.tg.mark()
    bot.tg.press_button(SALES_ID, entry.message_id, button_text="📎 1")
    await bot.settle()
    [sent] = bot.new_bot_messages(SALES_ID, marker)
    assert sent.content.get("photo") or sent.content.get("document")


async def test_edit_and_delete_own_but_not_anothers(bot: Harness) -> None:
    admin, sales, other, _stranger = await _team(bot)
    lead_id = await _lead(bot, sales, "Window order", observers=[other.id])
    await _comment_via_card(bot, SALES_ID, lead_id, "First thought")
    async with bot.app.db.unit_of_work() as s:
        theirs = await comments_service.add_comment(
            s, await s.get(User, other.id), ItemType.LEAD, lead_id, "Olga's note"
        )
        theirs_id = theirs.id
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    assert "Olga's note" in timeline.text and "First thought" in timeline.text
    # Newest first: Olga's note is entry 1, mine entry 2.
    [mine] = await bot.press(SALES_ID, timeline, "💬 2")
    assert "First thought" in mine.text
    assert {"✏️ Edit", "🗑 Delete"} <= set(_labels(mine))
    [prompt] = await bot.press(SALES_ID, mine, "Edit")
    assert "Send the new text" in prompt.text
    [saved] = await bot.say(SALES_ID, "Second thought, @olga_o")
    assert "Comment saved" in saved.text and "Second thought" in saved.text and "(edited)" in saved.text
    comments = await _comments(bot, lead_id)
    assert comments[0].text == "Second thought, @olga_o" and comments[0].edited_at is not None
    assert any(n.category == "mentioned" for n in await _notifications(bot, other.id))

    [ask] = await bot.press(SALES_ID, saved, "Delete")
    assert "Delete this comment?" in ask.text
    [after] = await bot.press(SALES_ID, ask, "Yes, delete")
    assert "Timeline" in after.text and "comment deleted" in after.text
    comments = await _comments(bot, lead_id)
    assert comments[0].deleted_at is not None

    # Olga's comment: no Edit/Delete for Sam, and forged buttons change nothing.
    [timeline] = await bot.press(SALES_ID, after, "💬")
    assert "Olga's note" in timeline.text
    assert "✏️ Edit" not in _labels(timeline) and "🗑 Delete" not in _labels(timeline)
    for data in (
        CmCB(action=CmAction.DELETE, v=theirs_id).pack(),
        CmCB(action=CmAction.DELETE_ASK, v=theirs_id).pack(),
        CmCB(action=CmAction.EDIT, v=theirs_id).pack(),
    ):
        update = bot.tg.forge_callback(SALES_ID, data, message_id=timeline.message_id)
        await bot.settle()
        assert "no access" in _answer(bot, update), data
    assert (await _comments(bot, lead_id))[1].deleted_at is None
    await bot.say(SALES_ID, "I try to edit anyway")  # no edit form was opened
    assert (await _comments(bot, lead_id))[1].text == "Olga's note"

    # An admin may delete anyone's comment (but edits only their own).
    [card] = await bot.say(admin.telegram_id, f"L-{lead_id}")
    [timeline] = await bot.press(admin.telegram_id, card, "Timeline")
    [entry] = await bot.press(admin.telegram_id, timeline, "💬 3")
    assert "🗑 Delete" in _labels(entry) and "✏️ Edit" not in _labels(entry)
    [ask] = await bot.press(admin.telegram_id, entry, "Delete")
    await bot.press(admin.telegram_id, ask, "Yes, delete")
    assert (await _comments(bot, lead_id))[1].deleted_at is not None


async def test_pin_seven_then_the_eighth_is_refused(bot: Harness) -> None:
    _admin, sales, _other, _stranger = await _team(bot)
    lead_id = await _lead(bot, sales, "Window order")
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        for n in range(1, 9):
            await comments_service.add_comment(s, actor, ItemType.LEAD, lead_id, f"Note number {n}")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    # Pin from the page: after each pin the pinned one goes on top, so "📌 N" of the first
    # unpinned comment is always right after the pinned block.
    for pinned in range(7):
        label = f"📌 {pinned + 1}"
        assert label in _labels(timeline), (label, _labels(timeline))
        [timeline] = await bot.press(SALES_ID, timeline, label)
        assert "Pinned" in timeline.text
    async with bot.app.db.unit_of_work() as s:
        assert await comments_service.pinned_count(s, ItemType.LEAD, lead_id) == 7
    assert [f"Unpin {n}" for n in range(1, 8)] == [x for x in _labels(timeline) if x.startswith("Unpin")]
    before = timeline.text
    update_marker = bot.tg.mark()
    bot.tg.press_button(SALES_ID, timeline.message_id, button_text="📌 8")
    await bot.settle()
    answers = [a for a in bot.tg.callback_answers.values() if a and "At most 7" in str(a.get("text"))]
    assert answers and answers[-1].get("show_alert") is True
    assert bot.new_bot_messages(SALES_ID, update_marker) == []
    assert bot.current(timeline).text == before
    async with bot.app.db.unit_of_work() as s:
        assert await comments_service.pinned_count(s, ItemType.LEAD, lead_id) == 7

    # The card shows pinned comments; unpin one, then the 8th fits.
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    assert "Note number" in card.text
    [timeline] = await bot.press(SALES_ID, card, "Timeline")
    [timeline] = await bot.press(SALES_ID, timeline, "Unpin 1")
    async with bot.app.db.unit_of_work() as s:
        assert await comments_service.pinned_count(s, ItemType.LEAD, lead_id) == 6
    [timeline] = await bot.press(SALES_ID, timeline, "📌 7")
    async with bot.app.db.unit_of_work() as s:
        assert await comments_service.pinned_count(s, ItemType.LEAD, lead_id) == 7


async def test_pin_limit_in_russian_and_from_entry(bot: Harness) -> None:
    _admin, sales, _other, _stranger = await _team(bot, "ru")
    lead_id = await _lead(bot, sales, "Окна")
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, sales.id)
        ids = [
            (await comments_service.add_comment(s, actor, ItemType.LEAD, lead_id, f"Заметка {n}")).id
            for n in range(8)
        ]
        for cid in ids[:7]:
            await comments_service.pin_comment(s, actor, cid)
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    [timeline] = await bot.press(SALES_ID, card, "История")
    assert "Закреплённые" in timeline.text
    [entry] = await bot.press(SALES_ID, timeline, "💬 8")
    assert "Заметка 7" in entry.text
    marker = bot.tg.mark()
    bot.tg.press_button(SALES_ID, entry.message_id, button_text="📌 Закрепить")
    await bot.settle()
    assert bot.new_bot_messages(SALES_ID, marker) == []
    texts = [str(a.get("text")) for a in bot.tg.callback_answers.values() if a]
    assert any("не больше 7" in t for t in texts), texts
    [timeline] = await bot.press(SALES_ID, entry, "К истории")
    [entry] = await bot.press(SALES_ID, timeline, "💬 1")
    [entry] = await bot.press(SALES_ID, entry, "Открепить")
    assert "📌 Закрепить" in _labels(entry)


async def test_forged_comment_and_pin_callbacks_are_refused(bot: Harness) -> None:
    _admin, sales, other, _stranger = await _team(bot)
    hidden = await _lead(bot, other, "Olga's secret lead")
    own = await _lead(bot, sales, "Mine")
    async with bot.app.db.unit_of_work() as s:
        c = await comments_service.add_comment(
            s, await s.get(User, other.id), ItemType.LEAD, hidden, "secret"
        )
        hidden_comment, hidden_event = c.id, c.timeline_event_id
    [card] = await bot.say(SALES_ID, f"L-{own}")
    marker = bot.tg.mark()
    for data in (
        TlCB(action=TlAction.PIN, t="lead", id=own, v=hidden_event).pack(),
        TlCB(action=TlAction.UNPIN, t="lead", id=own, v=hidden_event).pack(),
        TlCB(action=TlAction.OPEN_COMMENT, t="lead", id=own, v=hidden_comment).pack(),
        TlCB(action=TlAction.VIEW, t="lead", id=hidden).pack(),
        TlCB(action=TlAction.FILTER_MENU, t="lead", id=hidden).pack(),
        TlCB(action=TlAction.SEND_FILE, t="lead", id=hidden, v=1).pack(),
        CmCB(action=CmAction.EDIT, v=hidden_comment).pack(),
        CmCB(action=CmAction.DELETE_ASK, v=hidden_comment).pack(),
        CmCB(action=CmAction.DELETE, v=hidden_comment).pack(),
        CmCB(action=CmAction.CANCEL_ADD, t="lead", id=hidden).pack(),
        TlCB(action=TlAction.VIEW, t="bogus", id=own).pack(),
    ):
        update = bot.tg.forge_callback(SALES_ID, data, message_id=card.message_id)
        await bot.settle()
        assert "Not found" in _answer(bot, update), data
    from handlers.callbacks import CardAction, CardCB

    for action in (CardAction.COMMENT, CardAction.TIMELINE):
        update = bot.tg.forge_callback(
            SALES_ID, CardCB(type=ItemType.LEAD, id=hidden, action=action).pack(), message_id=card.message_id
        )
        await bot.settle()
        assert "Not found" in _answer(bot, update)
    assert bot.new_bot_messages(SALES_ID, marker) == []
    async with bot.app.db.unit_of_work() as s:
        event = await s.get(TimelineEvent, hidden_event)
        comment = await s.get(Comment, hidden_comment)
        assert event is not None and not event.pinned
        assert comment is not None and comment.deleted_at is None and comment.text == "secret"
    # Nothing typed now becomes a comment on the hidden lead.
    await bot.say(SALES_ID, "sneaky")
    assert [c.text for c in await _comments(bot, hidden)] == ["secret"]


def test_callback_data_fits_64_bytes() -> None:
    big = 10**12 - 1
    for data in (
        TlCB(action=TlAction.PIN, t="company", id=big, f="fl", p=9999, v=big).pack(),
        CmCB(action=CmAction.DELETE, t="company", id=big, v=big, f="fl", p=9999).pack(),
    ):
        assert len(data.encode()) <= 64, data


async def test_album_of_photos_becomes_comments(bot: Harness) -> None:
    _admin, sales, _other, _stranger = await _team(bot)
    lead_id = await _lead(bot, sales, "Window order")
    [card] = await bot.say(SALES_ID, f"L-{lead_id}")
    await bot.press(SALES_ID, card, "Comment")
    marker = bot.tg.mark()
    for n in range(3):
        stored = bot.tg.store_file(b"\xff\xd8\xff\xe0 photo %d" % n, kind="photos", mime_type="image/jpeg")
        content = {"photo": bot.tg._photo_api(stored), "media_group_id": "13579"}
        bot.tg._incoming(SALES_ID, None, caption="Measurements" if n == 0 else None, content=content)
    await bot.settle()
    replies = bot.new_bot_messages(SALES_ID, marker)
    assert len(replies) == 1 and "Comment with the file added" in replies[0].text
    comments = await _comments(bot, lead_id)
    assert [c.text for c in comments] == ["Measurements", "", ""]
    async with bot.app.db.unit_of_work() as s:
        files = list(await s.scalars(select(Attachment).where(Attachment.owner_id == lead_id)))
    assert sorted(f.comment_id for f in files) == [c.id for c in comments]
    # A later photo outside the album is no comment.
    await bot.say(SALES_ID, "hello")
    assert len(await _comments(bot, lead_id)) == 3
