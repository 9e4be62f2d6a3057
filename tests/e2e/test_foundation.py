"""The foundation as a person uses it, over HTTP against the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from crm_core.models import Invite, Role, User
from handlers.texts import TEXTS
from tests.e2e.conftest import ADMIN_ID
from tests.e2e.harness import Harness


async def test_unknown_user_is_refused_politely(bot: Harness) -> None:
    bot.tg.add_user(2002, "Stranger", language_code="en")
    replies = await bot.say(2002, "/start")
    assert len(replies) == 1
    assert "invite" in replies[0].text.lower()
    assert replies[0].inline_keyboard == []
    # Nothing else works either.
    replies = await bot.say(2002, "/menu")
    assert "invite" in replies[0].text.lower()
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(func.count(User.id))) == 0
    assert bot.bad_requests() == []


async def test_admin_start_shows_main_menu(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    replies = await bot.say(ADMIN_ID, "/start")
    assert len(replies) == 1
    menu = replies[0]
    assert "Anna" in menu.text and "Main menu" in menu.text
    labels = [b[0] for row in menu.inline_keyboard for b in row]
    assert any("Invite" in label for label in labels)
    assert bot.bad_requests() == []


async def _invite_link(bot: Harness, role_label: str = "Salesperson") -> str:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    [prompt] = await bot.say(ADMIN_ID, "/invite")
    assert "role" in prompt.text.lower()
    [shown] = await bot.press(ADMIN_ID, prompt, role_label)
    assert shown.message_id == prompt.message_id  # the screen is edited in place
    links = [word for word in shown.text.split() if word.startswith("https://t.me/")]
    assert len(links) == 1, shown.text
    return links[0]


async def test_invite_link_registers_a_salesperson_once(bot: Harness) -> None:
    link = await _invite_link(bot)
    assert link.startswith(f"https://t.me/{bot.tg.bot_username}?start=inv_")
    payload = link.split("?start=", 1)[1]

    bot.tg.add_user(3003, "Boris", language_code="en")
    replies = await bot.say(3003, f"/start {payload}")
    assert "salesperson" in replies[0].text
    assert any("Main menu" in m.text for m in replies)
    # The inviter hears about it.
    assert any("Boris" in m.text and "joined" in m.text for m in bot.tg.bot_messages(ADMIN_ID))
    async with bot.app.db.unit_of_work() as s:
        boris = await s.scalar(select(User).where(User.telegram_id == 3003))
        assert boris is not None and boris.role == Role.SALESPERSON
        invite = await s.scalar(select(Invite))
        assert invite.used_by_id == boris.id

    # Single use: a second person cannot reuse it.
    bot.tg.add_user(4004, "Carl", language_code="en")
    replies = await bot.say(4004, f"/start {payload}")
    assert "already been used" in replies[0].text
    replies = await bot.say(4004, "/menu")
    assert "invite" in replies[0].text.lower()
    # A salesperson may not invite.
    replies = await bot.say(3003, "/invite")
    assert "Only an administrator" in replies[0].text
    assert bot.bad_requests() == []


async def test_language_follows_telegram_language_code(bot: Harness) -> None:
    link = await _invite_link(bot)
    payload = link.split("?start=", 1)[1]
    bot.tg.add_user(5005, "Дарья", language_code="ru")
    replies = await bot.say(5005, f"/start {payload}")
    assert "Добро пожаловать" in replies[0].text
    menu = replies[-1]
    assert "Главное меню" in menu.text
    labels = [b[0] for row in menu.inline_keyboard for b in row]
    assert any("Настройки" in label for label in labels)
    # She switches to English in settings; it sticks although Telegram still says ru.
    [settings] = await bot.press(5005, menu, "Настройки")
    await bot.press(5005, settings, "English")
    assert "Settings" in bot.current(settings).text
    replies = await bot.say(5005, "/menu")
    assert "Main menu" in replies[0].text
    assert bot.bad_requests() == []


async def test_hostile_name_is_rendered_as_text(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "<b>&x</b>", last_name="<i>", language_code="en")
    [menu] = await bot.say(ADMIN_ID, "/start")
    assert "<b>&x</b> <i>" in menu.text  # shown literally, not as markup
    assert bot.bad_requests() == []


async def test_five_thousand_characters_of_input_cause_no_telegram_error(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    await bot.say(ADMIN_ID, "/start")
    huge = "<&>" + "x" * 4997
    replies = await bot.say(ADMIN_ID, huge)
    assert len(replies) == 1
    assert "<&>xxx" in replies[0].text and len(replies[0].text) < 4096
    assert bot.bad_requests() == []


async def test_forged_button_from_a_stranger_changes_nothing(bot: Harness) -> None:
    bot.tg.add_user(6006, "Mallory", language_code="en")
    [refusal] = await bot.say(6006, "/start")
    marker = bot.tg.mark()
    # Mallory's client sends the data of the admin's "invite an admin" button.
    update = bot.tg.forge_callback(6006, "inv:admin", message_id=refusal.message_id)
    await bot.settle()
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None and "invite" in answer.get("text", "").lower()
    assert bot.new_bot_messages(6006, marker) == []
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(func.count(Invite.id))) == 0
        assert await s.scalar(select(func.count(User.id))) == 0
    assert bot.bad_requests() == []


async def test_every_button_press_is_answered(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    [menu] = await bot.say(ADMIN_ID, "/start")
    [helped] = await bot.press(ADMIN_ID, menu, "Help")
    await bot.press(ADMIN_ID, helped, "Back")
    # The same button pressed on a screen that already shows it: "not modified" is no error.
    await bot.press(ADMIN_ID, bot.current(menu), "Settings")
    update = bot.tg.forge_callback(ADMIN_ID, "zz:unknown", message_id=menu.message_id)
    await bot.settle()
    assert bot.tg.callback_answers[update["callback_query"]["id"]] is not None
    assert all(answer is not None for answer in bot.tg.callback_answers.values())
    assert [e.description for e in bot.bad_requests()] == []


async def test_command_menus_per_language_and_chat_type(bot: Harness) -> None:
    private_ru = bot.tg.commands_for({"type": "all_private_chats"}, "ru")
    private_en = bot.tg.commands_for({"type": "all_private_chats"}, "en")
    groups_en = bot.tg.commands_for({"type": "all_group_chats"}, "en")
    assert [c["command"] for c in private_en] == [c["command"] for c in private_ru]
    assert {"start", "menu", "help", "cancel"} <= {c["command"] for c in private_en}
    assert private_ru[0]["description"] != private_en[0]["description"]  # translated
    # Groups get /help and what a deal room offers (handlers/rooms_group.py), not the private menu.
    room_commands = {"card", "c", "status", "reminders", "log", "unbind", "setforum"}
    assert {c["command"] for c in groups_en} == {"help"} | room_commands
    assert not room_commands & {c["command"] for c in private_en}
    # Without a language, users see English.
    assert bot.tg.commands_for({"type": "all_private_chats"}, "") == private_en


async def test_a_repeated_update_is_not_processed_twice(bot: Harness) -> None:
    from aiogram.types import Update

    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    raw = bot.tg.send_text(ADMIN_ID, "/help")
    await bot.settle()
    assert len(bot.tg.bot_messages(ADMIN_ID)) == 1
    # Telegram redelivers an update it was not told about (e.g. after a crash): it is skipped.
    update = Update.model_validate(raw, context={"bot": bot.app.bot})
    await bot.app.dp.feed_update(bot.app.bot, update)
    assert len(bot.tg.bot_messages(ADMIN_ID)) == 1


async def test_cancel_leaves_nothing_behind_when_idle(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="ru")
    [reply] = await bot.say(ADMIN_ID, "/cancel")
    assert reply.text == "Отменять нечего."


async def test_unauthorized_token_is_one_line(database_url: str) -> None:
    import asyncio
    import os
    import sys

    from bot.fake_telegram import FakeTelegram

    async with FakeTelegram() as tg:
        env = dict(os.environ, BOT_TOKEN="999:WRONG", TELEGRAM_API_URL=tg.base_url, DATABASE_URL=database_url)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            env=env,
            stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert (
        err.decode().strip().splitlines()[-1]
        == "crm-bot: Telegram rejected BOT_TOKEN (Unauthorized): check the token"
    )
    assert "Traceback" not in err.decode()


async def test_a_reply_that_hits_flood_control_waits_and_arrives(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    bot.tg.fail_next("sendMessage", retry_after=1, chat_id=ADMIN_ID)
    [reply] = await bot.say(ADMIN_ID, "/help")
    assert "Commands" in reply.text
    sends = bot.tg.calls("sendMessage")
    assert [r.status for r in sends] == [429, 200]
    assert sends[1].time - sends[0].time >= 1.0  # not before retry_after
    assert bot.tg.early_retries == []


async def test_invite_button_with_a_forged_role_is_stale(bot: Harness) -> None:
    bot.tg.add_user(ADMIN_ID, "Anna", language_code="en")
    [menu] = await bot.say(ADMIN_ID, "/start")
    marker = bot.tg.mark()
    # InviteCB carries a Role: a value that is none does not unpack, so no handler acts on it.
    update = bot.tg.forge_callback(ADMIN_ID, "inv:owner", message_id=menu.message_id)
    await bot.settle()
    answer = bot.tg.callback_answers[update["callback_query"]["id"]]
    assert answer is not None and answer.get("text") == TEXTS["en"]["error.stale_button"]
    assert bot.new_bot_messages(ADMIN_ID, marker) == []
    async with bot.app.db.unit_of_work() as s:
        assert await s.scalar(select(func.count(Invite.id))) == 0
    # The real button still packs the same data and works.
    await _invite_link(bot, "Admin")
    async with bot.app.db.unit_of_work() as s:
        assert (await s.scalar(select(Invite))).role == Role.ADMIN
