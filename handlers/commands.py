"""The bot's command list per language and chat scope, registered with setMyCommands."""

from __future__ import annotations

from aiogram.types import BotCommand

from handlers.texts import LANGUAGES, N_, Translator

# Issue 4's order: the day's work first, administration last. Command -> its description's id.
COMMAND_DESCRIPTIONS = {
    "start": N_("cmd.start"),
    "menu": N_("cmd.menu"),
    "new": N_("cmd.new"),
    "today": N_("cmd.today"),
    "find": N_("cmd.find"),
    "kanban": N_("cmd.kanban"),
    "leads": N_("cmd.leads"),
    "deals": N_("cmd.deals"),
    "contacts": N_("cmd.contacts"),
    "companies": N_("cmd.companies"),
    "trash": N_("cmd.trash"),
    "report": N_("cmd.report"),
    "settings": N_("cmd.settings"),
    "help": N_("cmd.help"),
    "cancel": N_("cmd.cancel"),
    "invite": N_("cmd.invite"),
    "duty": N_("clients.cmd.duty"),
    "admin": N_("cmd.admin"),
}
PRIVATE_COMMANDS = tuple(COMMAND_DESCRIPTIONS)
# In a group: what a deal room offers (handlers/rooms_group.py).
ROOM_COMMAND_DESCRIPTIONS = {
    "card": N_("cmd.room.card"),
    "c": N_("cmd.room.c"),
    "status": N_("cmd.room.status"),
    "reminders": N_("cmd.room.reminders"),
    "log": N_("cmd.room.log"),
    "unbind": N_("cmd.room.unbind"),
    "setforum": N_("cmd.room.setforum"),
}
GROUP_COMMANDS = ("help", *ROOM_COMMAND_DESCRIPTIONS)


def private_commands(language: str) -> list[BotCommand]:
    tr = Translator(language)
    return [BotCommand(command=c, description=tr(COMMAND_DESCRIPTIONS[c])) for c in PRIVATE_COMMANDS]


def group_commands(language: str) -> list[BotCommand]:
    tr = Translator(language)
    described = {**COMMAND_DESCRIPTIONS, **ROOM_COMMAND_DESCRIPTIONS}
    return [BotCommand(command=c, description=tr(described[c])) for c in GROUP_COMMANDS]


def help_lines(language: str) -> str:
    return "\n".join(f"/{c.command} — {c.description}" for c in private_commands(language))


__all__ = ["LANGUAGES", "group_commands", "help_lines", "private_commands"]
