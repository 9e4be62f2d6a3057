"""Exporting the list a person is looking at (its filter and sort, what they may see) as a CSV or
XLSX document, in the background: the file is written row by row to a temporary file, the items
read a page per short transaction, and sent from disk when ready."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import AsyncIterator, Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardButton
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow, zone_of
from crm_core.db import Database
from crm_core.errors import DomainError
from crm_core.models.items import ItemType, Stage
from crm_core.models.users import User
from crm_core.services import exports as exports_service
from crm_core.services.exports import Value
from handlers import import_jobs
from handlers.callbacks import Unpacked
from handlers.errors import describe
from handlers.import_columns import target_label
from handlers.list_view import load_view
from handlers.render import esc
from handlers.texts import Translator
from handlers.texts.names import stage_name

log = logging.getLogger(__name__)
router = Router(name="exports")


class XpAction(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class XpCB(Unpacked, CallbackData, prefix="xp"):
    action: XpAction
    t: ItemType


def export_buttons(tr: Translator, item_type: ItemType) -> list[InlineKeyboardButton]:
    """The list screen's export buttons."""
    return [
        InlineKeyboardButton(
            text=tr("xp.btn.csv"), callback_data=XpCB(action=XpAction.CSV, t=item_type).pack()
        ),
        InlineKeyboardButton(
            text=tr("xp.btn.xlsx"), callback_data=XpCB(action=XpAction.XLSX, t=item_type).pack()
        ),
    ]


async def write_export(
    rows: AsyncIterator[list[Value]], tr: Translator, item_type: ItemType, fmt: XpAction, path: Path
) -> int:
    """Write the rows of an export to `path`; returns the number of items."""
    header = [target_label(tr, c) for c in exports_service.export_columns(item_type)]
    if fmt == XpAction.XLSX:
        return await exports_service.write_xlsx(rows, header, path)
    with path.open("wb") as out:
        return await exports_service.write_csv(rows, header, out, tr.language)


def stage_names(tr: Translator) -> Callable[[Stage], str]:
    return lambda s: stage_name(tr, s)


@router.callback_query(XpCB.filter())
async def on_export(
    callback: CallbackQuery, callback_data: XpCB, bot: Bot, db: Database, session: AsyncSession, user: User,
    tr: Translator, state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    """The export is built in the background (a large one takes a while): a progress message now,
    the document when it is ready; a second press meanwhile starts nothing."""
    item_type = callback_data.t
    view = await load_view(state, session, user, item_type)
    if import_jobs.running_for(user.id, import_jobs.EXPORT) is not None:
        callback_answer.text = tr("xp.already_running")
        return
    day = utcnow().astimezone(zone_of(user.timezone)).date().isoformat()
    name = f"{item_type.value}s-{day}.{callback_data.action.value}"
    export = _Export(bot, db, user.id, user.telegram_id, tr, item_type, callback_data.action, name)
    export.job = import_jobs.start(
        user.id, export.run(view.filters(), view.sort), import_jobs.EXPORT
    )  # registered before any await: two quick presses start one export
    callback_answer.text = tr("xp.started")


class _Stopped(Exception):
    pass


class _Export:
    def __init__(self, bot: Bot, db: Database, user_id: int, chat_id: int, tr: Translator,
                 item_type: ItemType, fmt: XpAction, name: str) -> None:  # fmt: skip
        self.bot, self.db, self.user_id, self.chat_id, self.tr = bot, db, user_id, chat_id, tr
        self.item_type, self.fmt, self.name = item_type, fmt, name
        self.job: import_jobs.RunningImport | None = None

    async def _rows(self, rows: AsyncIterator[list[Value]]) -> AsyncIterator[list[Value]]:
        async for row in rows:
            if self.job is not None and self.job.cancelled:  # the bot is stopping
                raise _Stopped
            yield row

    async def run(self, filters: list[Any], sort: Any) -> None:
        tr = self.tr
        note = await self.bot.send_message(self.chat_id, tr("xp.preparing", file=esc(self.name)))
        rows = exports_service.export_rows_by_page(
            self.db.unit_of_work, self.user_id, self.item_type, filters=filters, sort=sort,
            stage_name=stage_names(tr),
        )  # fmt: skip
        try:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / self.name
                count = await write_export(self._rows(rows), tr, self.item_type, self.fmt, path)
                await self.bot.send_document(
                    self.chat_id, FSInputFile(path, filename=self.name), caption=tr("xp.caption", count=count)
                )
            text = tr("xp.sent")
        except _Stopped:
            text = tr("xp.stopped")
        except DomainError as exc:
            text = describe(tr, exc)
        except Exception:
            log.exception("export of %s failed", self.name)
            text = tr("xp.crashed")
        try:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=note.message_id)
        except TelegramAPIError:
            log.warning("could not finish the export message", exc_info=True)
