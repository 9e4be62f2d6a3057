"""The bot's command list per language and chat scope, registered with setMyCommands."""

from __future__ import annotations

from aiogram.types import BotCommand

from handlers.texts import LANGUAGES, Translator

# Issue 4's order: the day's work first, administration last.
PRIVATE_COMMANDS = (
    "start",
    "menu",
    "new",
    "today",
    "find",
    "kanban",
    "leads",
    "deals",
    "contacts",
    "companies",
    "trash",
    "settings",
    "help",
    "cancel",
    "invite",
    "admin",
)
GROUP_COMMANDS = ("help",)


def private_commands(language: str) -> list[BotCommand]:
    tr = Translator(language)
    return [BotCommand(command=c, description=tr(f"cmd.{c}")) for c in PRIVATE_COMMANDS]


def group_commands(language: str) -> list[BotCommand]:
    tr = Translator(language)
    return [BotCommand(command=c, description=tr(f"cmd.{c}")) for c in GROUP_COMMANDS]


def help_lines(language: str) -> str:
    return "\n".join(f"/{c.command} — {c.description}" for c in private_commands(language))


__all__ = ["LANGUAGES", "group_commands", "help_lines", "private_commands"]
