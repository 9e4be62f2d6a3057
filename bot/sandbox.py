"""`crm-bot sandbox`: the real bot against an in-process fake Telegram, chatted with in a terminal.

Lines that do not start with ':' are sent as the current user's messages. The bot's answers are
printed with numbered buttons; `:N` presses one. Piped input works line by line, ending at EOF.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
from dataclasses import dataclass, field
from typing import TextIO

from sqlalchemy import func, select

from bot.app import BotApp, create_bot
from bot.fake_telegram import FakeTelegram
from bot.fake_telegram.models import StoredMessage
from config import Settings
from crm_core import migrate
from crm_core.db import Database
from crm_core.models import ProcessedUpdate
from handlers.texts import DEFAULT_LANGUAGE, LANGUAGES

HELP = """Sandbox commands (everything else is sent to the bot as a message):
  :N                    press button N of the latest message with buttons
  :b TEXT               press the button whose label contains TEXT (latest message with buttons)
  :press MSG N          press button N of message MSG
  :user ID [ru|en] [NAME]  act as another Telegram user (created on first use)
  :group ID [TITLE]     talk in a group chat (created with the current user in it)
  :private              back to the private chat with the bot
  :forward NAME TEXT    forward a message written by NAME
  :contact PHONE NAME   share a contact
  :help                 this help
  :quit                 leave"""


@dataclass
class _Seen:
    edits: dict[int, int] = field(default_factory=dict)  # (message id -> edit count) per chat key
    deleted: set[int] = field(default_factory=set)


class Sandbox:
    def __init__(self, tg: FakeTelegram, app: BotApp, out: TextIO, *, echo: bool = False) -> None:
        self.tg = tg
        self.app = app
        self.out = out
        self.echo = echo  # piped input: show what "the user" typed, so the output reads as a chat
        self.user_id = 0
        self.chat_id = 0
        self.last_with_buttons: StoredMessage | None = None
        self._seen: dict[int, _Seen] = {}
        self._cursor = tg.mark()

    # --- people and chats

    def become(self, user_id: int, lang: str = "en", name: str | None = None) -> None:
        if user_id not in self.tg.users:
            self.tg.add_user(user_id, name or f"User {user_id}", language_code=lang)
        self.user_id = user_id
        self.chat_id = user_id
        self.last_with_buttons = None
        self.print(f"-- you are user {user_id} ({self.tg.users[user_id].full_name}), private chat")

    def enter_group(self, chat_id: int, title: str) -> None:
        if chat_id not in self.tg.chats:
            self.tg.add_group(chat_id, title, [self.user_id])
            self.tg.add_member_event(chat_id, self.user_id, [self.tg.bot_id])
        self.chat_id = chat_id
        self.last_with_buttons = None
        self.print(f"-- in group {chat_id} ({self.tg.chats[chat_id].title})")

    # --- one line of input

    async def handle(self, line: str) -> bool:
        """Process a line; False when the user asked to quit."""
        line = line.rstrip("\n")
        if not line.strip():
            return True
        if self.echo:
            self.print(f"> {line}")
        if line.startswith(":"):
            return await self._command(line[1:].strip())
        self.tg.send_text(self.user_id, line, None if self.chat_id == self.user_id else self.chat_id)
        await self.show_new()
        return True

    async def _command(self, text: str) -> bool:
        try:
            parts = shlex.split(text)
        except ValueError:
            parts = text.split()
        if not parts:
            return True
        cmd, args = parts[0].lower(), parts[1:]
        try:
            if cmd.isdigit():
                await self._press(self.last_with_buttons, int(cmd))
            elif cmd == "b" and args:
                await self._press_label(self.last_with_buttons, " ".join(args))
            elif cmd == "press" and len(args) == 2:
                msg = self.tg.get_message(self.chat_id, int(args[0]))
                await self._press(msg, int(args[1]))
            elif cmd == "user" and args:
                lang = args[1] if len(args) > 1 and args[1] in LANGUAGES else DEFAULT_LANGUAGE
                self.become(int(args[0]), lang, " ".join(args[2:]) or None)
            elif cmd == "group" and args:
                self.enter_group(int(args[0]), " ".join(args[1:]) or f"Group {args[0]}")
            elif cmd == "private":
                self.chat_id = self.user_id
                self.print("-- private chat")
            elif cmd == "forward" and len(args) >= 2:
                self.tg.forward_message(self.user_id, " ".join(args[1:]), origin_name=args[0])
                await self.show_new()
            elif cmd == "contact" and len(args) >= 2:
                self.tg.send_contact(self.user_id, args[0], args[1], " ".join(args[2:]) or None)
                await self.show_new()
            elif cmd in ("quit", "exit", "q"):
                return False
            else:
                self.print(HELP)
        except (LookupError, ValueError) as exc:
            self.print(f"-- {exc}")
        return True

    async def _press_label(self, message: StoredMessage | None, text: str) -> None:
        if message is None:
            raise LookupError("no message with buttons to press")
        current = self.tg.get_message(message.chat_id, message.message_id) or message
        labels = [b[0] for row in current.inline_keyboard for b in row]
        for number, label in enumerate(labels, 1):
            if text.casefold() in label.casefold():
                await self._press(current, number)
                return
        raise LookupError(f"no button with {text!r}")

    async def _press(self, message: StoredMessage | None, number: int) -> None:
        if message is None:
            raise LookupError("no message with buttons to press")
        current = self.tg.get_message(message.chat_id, message.message_id) or message
        buttons = [b for row in current.inline_keyboard for b in row]
        if not 1 <= number <= len(buttons):
            raise LookupError(f"there is no button {number}")
        label, data, url = buttons[number - 1]
        if data is None:
            self.print(f"-- button [{number}] opens {url}")
            return
        self.print(f"-- pressed [{number}] {label}")
        chat = None if current.chat_id == self.user_id else current.chat_id
        self.tg.press_button(self.user_id, current.message_id, data, chat_id=chat)
        await self.show_new()

    # --- output

    async def settle(self, timeout: float = 30.0) -> None:
        poller = self.app.poller
        await self.tg.wait_for(lambda: self.tg.pending_updates_count == 0 and poller.idle, timeout)

    async def show_new(self) -> None:
        await self.settle()
        for chat_id in list(self.tg.chats):
            seen = self._seen.setdefault(chat_id, _Seen())
            for msg in self.tg.bot_messages(chat_id, include_deleted=True):
                if msg.deleted:
                    if msg.message_id in seen.edits and msg.message_id not in seen.deleted:
                        seen.deleted.add(msg.message_id)
                        self.print(f"-- message #{msg.message_id} deleted")
                    continue
                known = seen.edits.get(msg.message_id)
                if known is not None and known == msg.edit_count:
                    continue
                seen.edits[msg.message_id] = msg.edit_count
                self.render(msg, edited=known is not None)

    def render(self, msg: StoredMessage, *, edited: bool) -> None:
        where = "" if msg.chat_id == self.chat_id else f" → chat {msg.chat_id}"
        head = f"[bot #{msg.message_id}{' edited' if edited else ''}{where}]"
        body = (
            msg.text if msg.text is not None else (msg.caption or f"<{', '.join(msg.content) or 'message'}>")
        )
        lines = [head, body]
        buttons = [b for row in msg.inline_keyboard for b in row]
        if buttons:
            n = 0
            for row in msg.inline_keyboard:
                cells = []
                for label, _data, url in row:
                    n += 1
                    cells.append(f"[{n}] {label}" + (f" ({url})" if url else ""))
                lines.append("   ".join(cells))
            if msg.chat_id == self.chat_id:
                self.last_with_buttons = msg
        self.print("\n".join(lines) + "\n")

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


async def _read_lines(stream: TextIO) -> asyncio.Queue[str | None]:
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def reader() -> None:
        for line in stream:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    loop.run_in_executor(None, reader)
    return queue


async def run_sandbox(
    settings: Settings,
    *,
    user_id: int,
    lang: str,
    name: str | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    stdin = stdin or sys.stdin
    out = stdout or sys.stdout
    db = Database(settings.database_url)
    await migrate.upgrade(db.engine)
    # Like Telegram, update ids keep growing across runs: the database remembers processed ones.
    async with db.unit_of_work() as session:
        last_update = await session.scalar(select(func.max(ProcessedUpdate.update_id)))
    # No flood control: scripted input would otherwise trip Telegram's per-chat limit.
    tg = FakeTelegram(
        rate_limits=False,
        bot_username="crm_sandbox_bot",
        bot_first_name="CRM",
        first_update_id=(last_update or 0) + 1,
    )
    await tg.start()
    app = BotApp(settings, create_bot(tg.token, tg.base_url), db, first_user_is_admin=True)
    runner = asyncio.create_task(app.run())
    try:
        await tg.wait_for(lambda: tg.calls("getUpdates") or runner.done(), timeout=60)
        if runner.done():
            runner.result()
        interactive = stdin.isatty()
        box = Sandbox(tg, app, out, echo=not interactive)
        box.print(f"CRM sandbox: the bot runs on {settings.database_url}. Type :help for sandbox commands.")
        box.become(user_id, lang, name)
        lines = await _read_lines(stdin)
        while True:
            if interactive:
                out.write("> ")
                out.flush()
            line = await lines.get()
            if line is None or not await box.handle(line):
                break
        return 0
    finally:
        polls = [i for i, r in enumerate(tg.requests) if r.method == "getUpdates"]
        app.stop()
        await asyncio.wait_for(runner, timeout=60)
        await tg.stop()
        # What Telegram would have refused is a bug to see, not to scroll past (429 is pacing; the
        # long poll abandoned by stopping is ended with a 409 no one waits for).
        abandoned = polls[-1] if polls else None
        for i, r in enumerate(tg.requests):
            if not r.ok and 400 <= r.status < 500 and r.status != 429 and i != abandoned:
                out.write(f"-- Telegram refused {r.method}: {r.status} {r.description}\n")
