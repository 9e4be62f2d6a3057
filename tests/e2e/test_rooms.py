"""Deal rooms over HTTP, in English: binding by startgroup link (single-use token), the card pinned
and invite links sent, events summarised into the room, /c and replies as comments with their
authors, strangers and people without access refused with nothing changed, removal and migration."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from crm_core.models import Attachment, Comment, Deal, NotificationState, User
from crm_core.models.notifications import Notification, NotificationCategory
from crm_core.models.timeline import EventType
from crm_core.services import pipelines as pipelines_service
from handlers.card_stages import StageAction, StageCB
from tests.e2e.harness import Harness
from tests.e2e.rooms_helpers import (
    GROUP_ID,
    OBSERVER_ID,
    OUTSIDER_ID,
    SALES_ID,
    STRANGER_ID,
    WINDOW,
    bound_room,
    deal,
    events,
    open_offer,
    room_bot,
    room_of,
    startgroup_token,
    wait_in_chat,
)

__all__ = ["room_bot"]


async def test_bind_by_startgroup_link_pins_card_and_invites_team(room_bot: Harness) -> None:
    bot = room_bot
    used: list[str] = []
    people, item = await bound_room(bot, used)
    room = await room_of(bot, item.id)
    assert room is not None and room.chat_id == GROUP_ID and room.thread_id is None
    card = bot.tg.get_message(GROUP_ID, room.card_message_id or 0)
    assert card is not None and "ACME rollout" in (card.text or "")
    assert bot.tg.chats[GROUP_ID].pinned == [card.message_id]
    labels = [label for row in card.inline_keyboard for (label, _d, _u) in row]
    assert any("Stage" in label for label in labels) and not any("menu" in label.lower() for label in labels)
    # The responsible and the observer get an invite link in their private chats.
    links = [link["invite_link"] for link in bot.tg.invite_links if link["chat_id"] == GROUP_ID]
    assert len(links) == 1
    for person in (SALES_ID, OBSERVER_ID):
        [invite] = await wait_in_chat(bot, person, 0, lambda m: "invited to the room" in (m.text or ""))
        assert invite.inline_keyboard[0][0][2] == links[0]
    assert [e.payload["title"] for e in await events(bot, item.id, EventType.ROOM_BOUND)] == ["ACME team"]
    # The link's token is single-use: a second group with it is refused, nothing bound there.
    marker = bot.tg.mark()
    bot.tg.start_group(SALES_ID, used[0], GROUP_ID - 1, "Other")
    await bot.settle()
    [refused] = [m for m in bot.tg.bot_messages(GROUP_ID - 1) if m.seq > marker]
    assert "already used" in (refused.text or "")
    # A made-up token, or someone else's link, binds nothing either.
    for who, token in ((SALES_ID, "room_" + "x" * 24), (OBSERVER_ID, used[0])):
        marker = bot.tg.mark()
        bot.tg.start_group(who, token, GROUP_ID - 2, "Third")
        await bot.settle()
        [refused] = [m for m in bot.tg.bot_messages(GROUP_ID - 2) if m.seq > marker]
        assert "not valid" in (refused.text or "")
    assert (await room_of(bot, item.id)).chat_id == GROUP_ID  # type: ignore[union-attr]
    # A second deal's link in a group that already is a room: refused, and the link still works.
    second = await deal(bot, people["sales"], "Second", [])
    token = startgroup_token(await open_offer(bot, SALES_ID, second.ref, "Discuss in a group", "More"))
    replies_marker = bot.tg.mark()
    bot.tg.start_group(SALES_ID, token, GROUP_ID, "ACME team")
    await bot.settle()
    [refused] = [m for m in bot.tg.bot_messages(GROUP_ID) if m.seq > replies_marker]
    assert "another deal" in (refused.text or "") and await room_of(bot, second.id) is None
    bot.tg.start_group(SALES_ID, token, GROUP_ID - 3, "Second team")
    await bot.settle()
    assert (await room_of(bot, second.id)).chat_id == GROUP_ID - 3  # type: ignore[union-attr]


async def test_events_are_summarised_into_the_room_within_the_group_limit(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    marker = bot.tg.mark()
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, people["sales"].id)
        d = await s.get(Deal, item.id)
        stages = list(await pipelines_service.list_stages(s, d.pipeline_id))
        await pipelines_service.move_stage(s, actor, d, stages[1].id)
        await pipelines_service.move_stage(s, actor, d, stages[2].id)
        from crm_core.services import comments as comments_service

        await comments_service.add_comment(s, actor, "deal", item.id, "Sent the offer from my desk")
    [summary] = await wait_in_chat(bot, GROUP_ID, marker, lambda m: "3 changes" in (m.text or ""))
    assert "Sent the offer from my desk" in (summary.text or "") and "Sam" in (summary.text or "")
    # Bursts far apart are separate messages; none of them was refused by the group's limit.
    for n in range(4):
        async with bot.app.db.unit_of_work() as s:
            actor = await s.get(User, people["sales"].id)
            await comments_service.add_comment(s, actor, "deal", item.id, f"note {n}")
        await wait_in_chat(bot, GROUP_ID, marker, lambda m, n=n: f"note {n}" in (m.text or ""))
    assert not [r for r in bot.tg.requests if r.status == 429]

    async def states() -> set[NotificationState]:
        async with bot.app.db.sessionmaker() as s:
            rows = await s.scalars(
                select(Notification.state).where(Notification.category == NotificationCategory.ROOM_EVENT)
            )
            return set(rows)

    for _ in range(100):  # each is marked sent right after its message went out
        if await states() == {NotificationState.SENT}:
            break
        await asyncio.sleep(0.05)
    assert await states() == {NotificationState.SENT}


async def test_c_and_replies_become_comments_with_authors(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    bot.tg.privacy_mode = True  # the default: commands and replies reach the bot
    room = await room_of(bot, item.id)
    replies = await bot.say(OBSERVER_ID, "/c Client asked for a discount", GROUP_ID)
    assert replies and "Added to the timeline" in (replies[0].text or "")
    # A file with "/c ..." as its caption, and a photo replying to the bot: comments with their files.
    bot.tg.send_document(
        OBSERVER_ID, "contract.pdf", b"%PDF-1.4 x", "application/pdf", "/c signed", chat_id=GROUP_ID
    )
    await bot.settle()
    marker = bot.tg.mark()
    bot.tg.send_text(SALES_ID, "We agreed on 5%", GROUP_ID, reply_to_message_id=room.card_message_id)
    await bot.settle()
    # A plain message (not a reply, not a command) is not seen in privacy mode: not a comment.
    bot.tg.send_text(SALES_ID, "lunch anyone?", GROUP_ID)
    await bot.settle()
    async with bot.app.db.sessionmaker() as s:
        rows = list(
            await s.execute(select(Comment.text, Comment.author_id).where(Comment.owner_id == item.id))
        )
    assert sorted(rows) == sorted(
        [
            ("Client asked for a discount", people["observer"].id),
            ("signed", people["observer"].id),
            ("We agreed on 5%", people["sales"].id),
        ]
    )
    async with bot.app.db.sessionmaker() as s:
        files = list(await s.scalars(select(Attachment.name).where(Attachment.owner_id == item.id)))
    assert files == ["contract.pdf"]
    # Comments made in the room are not echoed back to it.
    await bot.settle()
    assert not [m for m in bot.tg.bot_messages(GROUP_ID) if m.seq > marker and "change" in (m.text or "")]


async def test_strangers_and_people_without_access_are_refused_and_nothing_changes(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    room = await room_of(bot, item.id)
    card_id = room.card_message_id
    bot.tg.chats[GROUP_ID].members.update({STRANGER_ID, OUTSIDER_ID})
    # A Telegram user who is not in the CRM presses the card's stage button: a private refusal.
    update = bot.tg.press_button(STRANGER_ID, card_id, button_text="📶 Stage", chat_id=GROUP_ID)
    await bot.settle()
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer and answer.get("show_alert") and answer.get("text")
    # A salesperson who may not see the deal: refused the same way, even with a forged move.
    async with bot.app.db.sessionmaker() as s:
        d = await s.get(Deal, item.id)
        stages = list(await pipelines_service.list_stages(s, d.pipeline_id))
        before = (d.stage_id, d.version)
    for data in (
        StageCB(t=d.ITEM_TYPE, id=d.id, a=StageAction.MOVE, v=stages[-1].id).pack(),
        bot.tg.get_message(GROUP_ID, card_id).inline_keyboard[0][0][1],
    ):
        update = bot.tg.forge_callback(OUTSIDER_ID, data, message_id=card_id, chat_id=GROUP_ID)
        await bot.settle()
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer and answer.get("show_alert") and answer.get("text")
    replies = await bot.say(OUTSIDER_ID, "/c let me in", GROUP_ID)
    assert "no access" in (replies[0].text or "")
    async with bot.app.db.sessionmaker() as s:
        d = await s.get(Deal, item.id)
        assert (d.stage_id, d.version) == before
        assert not list(await s.scalars(select(Comment).where(Comment.owner_id == item.id)))
    card = bot.tg.get_message(GROUP_ID, card_id)
    assert card.edit_count == 0  # nobody's screen replaced the card
    # Forged room buttons in private: the deal answers as if it did not exist; nothing is unbound.
    from handlers.rooms import RoomAction, RoomCB

    for action in (RoomAction.OFFER, RoomAction.PICK, RoomAction.FORUM, RoomAction.UNBIND):
        update = bot.tg.forge_callback(OUTSIDER_ID, RoomCB(a=action, t=d.ITEM_TYPE, id=d.id).pack())
        await bot.settle()
        answer = bot.tg.callback_answers[update["callback_query"]["id"]]
        assert answer and answer.get("show_alert") and "not found" in answer.get("text", "").lower()
    assert (await room_of(bot, item.id)) is not None


async def test_card_buttons_work_in_the_room_as_the_presser(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    room = await room_of(bot, item.id)
    card = bot.tg.get_message(GROUP_ID, room.card_message_id)
    await bot.press(OBSERVER_ID, card, "Stage", chat_id=GROUP_ID)
    await bot.press(OBSERVER_ID, card, "Preparing documents", chat_id=GROUP_ID)
    async with bot.app.db.sessionmaker() as s:
        d = await s.get(Deal, item.id)
        stage = await pipelines_service.get_stage(s, d.stage_id)
    assert stage.id != item.stage_id and "Preparing documents" in (bot.current(card).text or "")
    moved = await events(bot, item.id, EventType.STAGE_CHANGED)
    assert [e.author_id for e in moved] == [people["observer"].id]
    # The card's "Comment" asks in place; the answer is a reply (privacy mode), and the card returns.
    await bot.press(OBSERVER_ID, card, "Comment", chat_id=GROUP_ID)
    bot.tg.send_text(OBSERVER_ID, "Docs are ready", GROUP_ID, reply_to_message_id=card.message_id)
    await bot.settle()
    async with bot.app.db.sessionmaker() as s:
        rows = list(
            await s.execute(select(Comment.text, Comment.author_id).where(Comment.owner_id == item.id))
        )
    assert rows == [("Docs are ready", people["observer"].id)]
    assert "ACME rollout" in (bot.current(card).text or "") and bot.current(card).inline_keyboard
    replies = await bot.say(SALES_ID, "/card", GROUP_ID)
    assert replies and item.ref in (replies[0].text or "")


async def test_unbind_on_removal_and_by_command(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    replies = await bot.say(OBSERVER_ID, "/unbind", GROUP_ID)
    assert "Only the responsible" in (replies[0].text or "")
    assert await room_of(bot, item.id) is not None
    async with bot.app.db.unit_of_work() as s:
        from crm_core.services import comments as comments_service

        # Waiting for the summary window when the bot is removed: dropped, never sent into a 403.
        await comments_service.add_comment(
            s, await s.get(User, people["sales"].id), "deal", item.id, "queued"
        )
    bot.tg.kick_bot(GROUP_ID, SALES_ID)
    await bot.settle()
    assert await room_of(bot, item.id) is None
    [gone] = await events(bot, item.id, EventType.ROOM_UNBOUND)
    assert gone.payload["reason"] == "removed"
    # Nothing is sent to the group the bot left, and the card still opens in private.
    async with bot.app.db.unit_of_work() as s:
        await comments_service.add_comment(s, await s.get(User, people["sales"].id), "deal", item.id, "after")
    await asyncio.sleep(WINDOW * 3)
    await bot.settle()
    assert not [r for r in bot.tg.requests if r.chat_id == GROUP_ID and r.status == 403]


async def test_group_upgraded_to_supergroup_keeps_its_room(room_bot: Harness) -> None:
    bot = room_bot
    people, item = await bound_room(bot)
    bot.tg.migrate_group(GROUP_ID, -1009001)
    await bot.settle()
    room = await room_of(bot, item.id)
    assert room is not None and room.chat_id == -1009001
    marker = bot.tg.mark()
    async with bot.app.db.unit_of_work() as s:
        from crm_core.services import comments as comments_service

        await comments_service.add_comment(
            s, await s.get(User, people["sales"].id), "deal", item.id, "moved?"
        )
    await wait_in_chat(bot, -1009001, marker, lambda m: "moved?" in (m.text or ""))
    replies = await bot.say(SALES_ID, "/card", -1009001)
    assert replies and item.ref in (replies[0].text or "")


async def test_opt_ins_reminders_and_logging_plain_messages(room_bot: Harness) -> None:
    from datetime import timedelta

    from crm_core.clock import utcnow
    from crm_core.services import activities as activities_service

    bot = room_bot
    people, item = await bound_room(bot)
    bot.tg.chats[GROUP_ID].members.add(OUTSIDER_ID)
    # Privacy mode off (or the bot an admin): plain messages reach the bot, logged only once opted in.
    await bot.say(SALES_ID, "before opting in", GROUP_ID)
    replies = await bot.say(OBSERVER_ID, "/log on", GROUP_ID)
    assert "Only the responsible" in (replies[0].text or "")
    replies = await bot.say(SALES_ID, "/log on", GROUP_ID)
    assert "timeline as comments" in (replies[0].text or "")
    assert await bot.say(OBSERVER_ID, "the client called back", GROUP_ID) == []  # logged quietly
    await bot.say(OUTSIDER_ID, "not my deal", GROUP_ID)
    async with bot.app.db.sessionmaker() as s:
        rows = list(
            await s.execute(select(Comment.text, Comment.author_id).where(Comment.owner_id == item.id))
        )
    assert rows == [("the client called back", people["observer"].id)]
    # The deal's reminders come to the room once it opted in.
    replies = await bot.say(SALES_ID, "/reminders on", GROUP_ID)
    assert "reminders come to this room" in (replies[0].text or "")
    marker = bot.tg.mark()
    async with bot.app.db.unit_of_work() as s:
        actor = await s.get(User, people["sales"].id)
        await activities_service.create_activity(
            s,
            actor,
            owner_type="deal",
            owner_id=item.id,
            deadline=utcnow() + timedelta(seconds=1),
            subject="Call the client",
            reminder_offsets=[0],
        )
    bot.app.scheduler.engine.wake()  # type: ignore[union-attr]
    found = await wait_in_chat(
        bot, GROUP_ID, marker, lambda m: "Call the client" in (m.text or ""), timeout=15
    )
    await bot.tg.wait_for(
        lambda: (
            len(
                [
                    m
                    for m in bot.tg.bot_messages(GROUP_ID)
                    if m.seq > marker and "Call the client" in (m.text or "")
                ]
            )
            >= 2
        ),
        timeout=15,
    )
    assert found
    [private] = await wait_in_chat(bot, SALES_ID, marker, lambda m: "Call the client" in (m.text or ""))
    assert private.inline_keyboard
