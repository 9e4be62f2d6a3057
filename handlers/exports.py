"""Exporting the list a person is looking at (its filter and sort, what they may see) as a CSV or
XLSX document. The file is written row by row to a temporary file and sent from disk."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path

from aiogram import Bot, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, FSInputFile, InlineKeyboardButton
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.clock import utcnow, zone_of
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import exports as exports_service
from handlers.import_columns import target_label
from handlers.list_view import load_view
from handlers.texts import Translator
from handlers.texts.names import stage_name

router = Router(name="exports")


class XpAction(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


class XpCB(CallbackData, prefix="xp"):
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
    session: AsyncSession, user: User, tr: Translator, item_type: ItemType, fmt: XpAction, path: Path,
    *, filters: list | None = None, sort: list | None = None,
) -> int:  # fmt: skip
    """Write the export of a view to `path`; returns the number of items."""
    header = [target_label(tr, c) for c in exports_service.export_columns(item_type)]
    rows = exports_service.export_rows(
        session, user, item_type, filters=filters or [], sort=sort, stage_name=lambda s: stage_name(tr, s)
    )
    if fmt == XpAction.XLSX:
        return await exports_service.write_xlsx(rows, header, path)
    with path.open("wb") as out:
        return await exports_service.write_csv(rows, header, out, tr.language)


@router.callback_query(XpCB.filter())
async def on_export(
    callback: CallbackQuery, callback_data: XpCB, bot: Bot, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    item_type = callback_data.t
    view = await load_view(state, session, user, item_type)
    day = utcnow().astimezone(zone_of(user.timezone)).date().isoformat()
    name = f"{item_type.value}s-{day}.{callback_data.action.value}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        count = await write_export(
            session, user, tr, item_type, callback_data.action, path, filters=view.filters(), sort=view.sort
        )
        await bot.send_document(
            user.telegram_id, FSInputFile(path, filename=name), caption=tr("xp.caption", count=count)
        )
    callback_answer.text = tr("xp.sent")
