"""`crm-bot`: run (default), migrate, sandbox, import, export."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from config import SettingsError, load_settings
from handlers.texts import DEFAULT_LANGUAGE, LANGUAGES


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crm-bot", description="A Telegram-first CRM bot.")
    sub = parser.add_subparsers(dest="command", metavar="{run,migrate,sandbox,import,export}")
    sub.add_parser(
        "run", help="run the bot (default): long polling, or a webhook with WEBHOOK_URL; needs BOT_TOKEN"
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    sandbox = sub.add_parser(
        "sandbox", help="chat with the bot in this terminal, offline, through a local fake Telegram"
    )
    sandbox.add_argument("--user-id", type=int, default=1, help="Telegram user id to act as (default 1)")
    sandbox.add_argument(
        "--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="the user's Telegram language"
    )
    sandbox.add_argument("--name", default=None, help="the user's first name")
    from bot.files_cli import add_parsers

    add_parsers(sub)
    return parser


def _run_fast(main: Coroutine[Any, Any, Any]) -> Any:
    """Run the bot on uvloop where it is installed (not on Windows): its event loop and sockets
    took less CPU per update than asyncio's own (bench/throughput.py)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
        if command == "run":
            settings.require_token()
    except SettingsError as exc:
        print(f"crm-bot: {exc}", file=sys.stderr)
        return 2
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.basicConfig(
        level=settings.log_level if command not in ("sandbox", "import", "export") else "WARNING",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if command == "migrate":
            from bot.maintenance import run_migrations

            asyncio.run(run_migrations(settings))
        elif command in ("import", "export"):
            from bot.files_cli import run_export_file, run_import_file

            run = run_import_file if command == "import" else run_export_file
            return asyncio.run(run(settings, args))
        elif command == "sandbox":
            from bot.sandbox import run_sandbox

            return asyncio.run(run_sandbox(settings, user_id=args.user_id, lang=args.lang, name=args.name))
        else:
            from aiogram.exceptions import TelegramNetworkError, TelegramUnauthorizedError

            from bot.app import run_bot

            try:
                _run_fast(run_bot(settings))
            except TelegramUnauthorizedError:
                print("crm-bot: Telegram rejected BOT_TOKEN (Unauthorized): check the token", file=sys.stderr)
                return 2
            except TelegramNetworkError as exc:
                print(
                    f"crm-bot: cannot reach TELEGRAM_API_URL {settings.telegram_api_url}: {exc}",
                    file=sys.stderr,
                )
                return 3
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
