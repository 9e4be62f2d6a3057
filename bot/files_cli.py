"""`crm-bot import FILE --type lead` and `crm-bot export --type lead --format csv --out FILE`: the
same import and export the bot runs, from the command line, as a CRM user (by Telegram id; the
first of ADMIN_IDS by default), in that user's language and timezone."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import select

from config import Settings
from crm_core import migrate
from crm_core.db import Database
from crm_core.errors import DomainError
from crm_core.fields import FieldContext
from crm_core.fields.phones import set_default_region
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import exports as exports_service
from crm_core.services import imports as imports_service
from crm_core.services.imports import ImportFileError, ImportJob, ImportResult, Policy
from handlers.errors import describe
from handlers.exports import XpAction, stage_names, write_export
from handlers.import_columns import label_aliases, stage_aliases, target_label
from handlers.imports import failed_rows_csv
from handlers.texts import Translator


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    types = [t.value for t in ItemType]
    imp = sub.add_parser("import", help="import a CSV/XLSX file of leads, deals, contacts or companies")
    imp.add_argument("file", type=Path)
    imp.add_argument("--type", choices=types, default="lead")
    imp.add_argument(
        "--policy", choices=[p.value for p in Policy], default="skip",
        help="a row matching an item (phone, e-mail, name + company): skip, update or create anyway",
    )  # fmt: skip
    imp.add_argument(
        "--as", dest="as_user", type=int, help="Telegram id of the CRM user (default: first ADMIN_IDS)"
    )
    exp = sub.add_parser("export", help="export leads, deals, contacts or companies as CSV or XLSX")
    exp.add_argument("--type", choices=types, default="lead")
    exp.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    exp.add_argument("--out", type=Path, required=True)
    exp.add_argument(
        "--as", dest="as_user", type=int, help="Telegram id of the CRM user (default: first ADMIN_IDS)"
    )


async def _actor(db: Database, settings: Settings, telegram_id: int | None) -> User:
    tg = telegram_id or (settings.admin_ids[0] if settings.admin_ids else None)
    if tg is None:
        raise SystemExit("crm-bot: give --as TELEGRAM_ID (or set ADMIN_IDS)")
    async with db.unit_of_work() as s:
        user = await s.scalar(select(User).where(User.telegram_id == tg))
    if user is None:
        raise SystemExit(f"crm-bot: no CRM user with Telegram id {tg} (they must /start the bot first)")
    return user


async def run_import_file(settings: Settings, args: argparse.Namespace) -> int:
    set_default_region(settings.default_region)
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
        actor = await _actor(db, settings, args.as_user)
        tr = Translator(actor.language)
        item_type = ItemType(args.type)
        try:
            imports_service.ensure_may_import(actor)
            table, mapping = imports_service.open_table(
                args.file.read_bytes(), args.file.name, item_type, label_aliases(item_type)
            )
        except ImportFileError as exc:
            print(f"crm-bot: {args.file}: {exc.reason}", file=sys.stderr)
            return 1
        except DomainError as exc:
            print(f"crm-bot: {describe(tr, exc)}", file=sys.stderr)
            return 1
        for col, target in zip(table.columns, mapping, strict=False):
            print(f"{col} -> {target_label(tr, target)}", file=sys.stderr)
        async with db.unit_of_work() as s:
            aliases = await stage_aliases(s, item_type)
        ctx = FieldContext.of(actor.language, actor.timezone, region=settings.default_region)
        job = ImportJob(item_type, mapping, Policy(args.policy), args.file.name, ctx, aliases)

        async def progress(r: ImportResult) -> None:
            print(f"\r{r.done} rows", end="", file=sys.stderr)

        result = await imports_service.run_import(db, actor.id, table, job, progress=progress)
        print(file=sys.stderr)
        print(f"created {result.created}, updated {result.updated}, skipped {result.skipped}, "
              f"failed {len(result.failed)}")  # fmt: skip
        for (what, name), count in sorted(result.unknown.items()):
            print(f"unknown {what} {name!r}: {count} rows")
        if result.failed:
            out = args.file.with_name(args.file.stem + ".failed.csv")
            out.write_bytes(failed_rows_csv(tr, result, table.columns))
            print(f"failed rows with reasons: {out}")
        return 0 if not result.failed else 1
    finally:
        await db.dispose()


async def run_export_file(settings: Settings, args: argparse.Namespace) -> int:
    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db.engine)
        actor = await _actor(db, settings, args.as_user)
        tr = Translator(actor.language)
        item_type = ItemType(args.type)
        rows = exports_service.export_rows_by_page(
            db.unit_of_work, actor.id, item_type, stage_name=stage_names(tr)
        )
        count = await write_export(rows, tr, item_type, XpAction(args.format), args.out)
        print(f"exported {count} rows to {args.out}")
        return 0
    finally:
        await db.dispose()
