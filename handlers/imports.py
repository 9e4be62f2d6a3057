"""Importing a CSV/XLSX file an admin or a head sends to the bot: the proposed mapping of its
columns (a button per column to change it), a preview of the first rows as they will be stored,
the duplicate policy, then a background run with a progress message and a report with the failed
rows as a CSV file. The rules are crm_core.services.imports'."""

from __future__ import annotations

import asyncio
import html
import io
import logging
import time
from enum import StrEnum
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.db import Database
from crm_core.errors import DomainError
from crm_core.fields import FieldContext
from crm_core.models.items import ItemType
from crm_core.models.users import User
from crm_core.services import imports as imports_service
from crm_core.services.exports import csv_separator
from crm_core.services.imports import ImportFileError, ImportJob, ImportResult, Names, Policy, Table
from crm_core.services.imports.cells import cell_text
from handlers import import_jobs
from handlers.callbacks import Unpacked
from handlers.context import HandlerOptions
from handlers.errors import describe
from handlers.import_columns import label_aliases, stage_aliases, target_label
from handlers.render import esc, truncate
from handlers.texts import N_, Translator
from handlers.texts.names import ITEM_TYPE_NAMES

log = logging.getLogger(__name__)
router = Router(name="imports")

MAX_FILE = 20 * 1024 * 1024  # what a bot may download from Telegram
PROGRESS_EVERY = 3.0  # seconds between two edits of the progress message
PREVIEW_ROWS = 3
SHOWN_COLUMNS = 30  # buttons for the first columns; the rest keep their proposed mapping
SHOWN_UNKNOWN = 8
POLICY_NAMES = {
    Policy.SKIP: N_("imp.policy.skip"),
    Policy.UPDATE: N_("imp.policy.update"),
    Policy.CREATE: N_("imp.policy.create"),
}
FILE_ERRORS = {
    "empty": N_("imp.error.empty"),
    "binary": N_("imp.error.binary"),
    "xlsx_broken": N_("imp.error.xlsx_broken"),
    "no_rows": N_("imp.error.no_rows"),
    "too_many_columns": N_("imp.error.too_many_columns"),
}
UNKNOWN_TEXTS = {
    "stage": N_("imp.unknown.stage"),
    "responsible": N_("imp.unknown.responsible"),
    "source": N_("imp.unknown.source"),
}


class IpAction(StrEnum):
    TYPE = "t"  # import as item type v
    COLUMN = "c"  # choose the target of column n
    TARGET = "s"  # column n -> target v
    BACK = "b"  # back to the mapping screen
    POLICY = "p"  # the next duplicate policy
    START = "go"
    CANCEL = "x"  # forget the file
    STOP = "st"  # stop the running import n


class IpCB(Unpacked, CallbackData, prefix="ip"):
    action: IpAction
    n: int = 0
    v: str = ""


def _btn(text: str, **data: Any) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=IpCB(**data).pack())


# --- reading the file ----------------------------------------------------------------------------------


async def _load(bot: Bot, data: dict[str, Any]) -> tuple[Table, list[str]]:
    buf = await bot.download(data["f"])
    raw = buf.read() if buf else b""
    item_type = ItemType(data["t"])
    return await asyncio.to_thread(
        imports_service.open_table, raw, data["n"], item_type, label_aliases(item_type)
    )


def _ctx(user: User, options: HandlerOptions) -> FieldContext:
    return FieldContext.of(user.language, user.timezone, region=options.phone_region)


@router.message(StateFilter(None), F.chat.type == "private", F.document)
async def on_document(
    message: Message, bot: Bot, session: AsyncSession, user: User, tr: Translator, state: FSMContext,
    options: HandlerOptions,
) -> None:  # fmt: skip
    doc = message.document
    assert doc is not None
    if not imports_service.may_import(user):
        await message.answer(tr("imp.not_allowed"))
        return
    name = doc.file_name or "file.csv"
    if not name.lower().endswith((".csv", ".txt", ".xlsx", ".xlsm", ".tsv")):
        await message.answer(tr("imp.not_a_table"))
        return
    if (doc.file_size or 0) > MAX_FILE:
        await message.answer(tr("imp.too_big"))
        return
    data = {"f": doc.file_id, "n": name, "t": ItemType.LEAD.value, "p": Policy.SKIP.value}
    try:
        table, mapping = await _load(bot, data)
        data["rows"] = await asyncio.to_thread(table.count)
    except ImportFileError as exc:
        await message.answer(_file_error(tr, exc))
        return
    data["m"], data["cols"] = mapping, table.columns
    await state.update_data(imp=data)
    text, markup = await _screen(session, user, tr, options, data, table)
    await message.answer(text, reply_markup=markup)


# --- the mapping screen ------------------------------------------------------------------------------


async def _preview(
    session: AsyncSession,
    user: User,
    tr: Translator,
    options: HandlerOptions,
    data: dict[str, Any],
    table: Table,
) -> list[str]:
    item_type = ItemType(data["t"])
    names = await Names.load(session, item_type, await stage_aliases(session, item_type))
    lines = []
    for n, row in enumerate(table.rows(), 1):
        if n > PREVIEW_ROWS:
            break
        try:
            values = imports_service.convert_row(
                item_type, table.columns, data["m"], row, names, _ctx(user, options)
            )
        except DomainError as exc:
            lines.append(f"{n}. ⚠️ {_reason(tr, exc)}")
            continue
        parts = [
            f"{esc(target_label(tr, k))}: {esc(truncate(cell_text(v), 40))}" for k, v in values.fields.items()
        ]
        parts += [f"📞 {esc(c.value)}" for c in values.phones] + [f"✉️ {esc(c.value)}" for c in values.emails]
        lines.append(f"{n}. " + ("; ".join(parts) or "—"))
    return lines


async def _screen(
    session: AsyncSession, user: User, tr: Translator, options: HandlerOptions, data: dict[str, Any],
    table: Table | None = None,
) -> tuple[str, InlineKeyboardMarkup]:  # fmt: skip
    item_type = ItemType(data["t"])
    columns: list[str] = data["cols"]
    mapping: list[str] = data["m"]
    lines = [
        tr("imp.title", file=esc(truncate(data["n"], 60)), count=int(data.get("rows", 0))),
        tr("imp.as_type", type=tr(ITEM_TYPE_NAMES[item_type])),
        tr("imp.policy", policy=tr(POLICY_NAMES[Policy(data["p"])])),
        "",
        tr("imp.columns"),
    ]
    for i, (col, target) in enumerate(zip(columns, mapping, strict=False), 1):
        mark = "▫️" if not target else "✅"
        lines.append(f"{mark} {i}. {esc(truncate(col, 30))} → {esc(target_label(tr, target))}")
    if table is not None:
        lines += ["", tr("imp.preview")] + await _preview(session, user, tr, options, data, table)
    rows = [
        [_btn(("• " if t == item_type else "") + tr(ITEM_TYPE_NAMES[t]), action=IpAction.TYPE, v=t.value)
         for t in ItemType]
    ]  # fmt: skip
    col_buttons = [
        _btn(
            f"{i + 1}. {truncate(col, 14)} → {truncate(target_label(tr, target), 14)}",
            action=IpAction.COLUMN,
            n=i,
        )
        for i, (col, target) in enumerate(zip(columns, mapping, strict=False))
    ][:SHOWN_COLUMNS]
    rows += [col_buttons[i : i + 2] for i in range(0, len(col_buttons), 2)]
    rows.append(
        [_btn(tr("imp.btn.policy", policy=tr(POLICY_NAMES[Policy(data["p"])])), action=IpAction.POLICY)]
    )
    rows.append(
        [_btn(tr("imp.btn.start"), action=IpAction.START), _btn(tr("imp.btn.cancel"), action=IpAction.CANCEL)]
    )
    text = truncate("\n".join(lines), 3900)
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def _pending(
    state: FSMContext, callback_answer: CallbackAnswer, tr: Translator
) -> dict[str, Any] | None:
    data = (await state.get_data()).get("imp")
    if not isinstance(data, dict) or "f" not in data:
        callback_answer.text = tr("imp.gone")
        return None
    return data


async def _redraw(
    callback: CallbackQuery, bot: Bot, session: AsyncSession, user: User, tr: Translator,
    options: HandlerOptions, data: dict[str, Any], *, preview: bool = True,
) -> None:  # fmt: skip
    table = None
    if preview:
        try:
            table, _ = await _load(bot, data)
        except ImportFileError:
            table = None
    text, markup = await _screen(session, user, tr, options, data, table)
    msg = callback.message
    if isinstance(msg, Message):
        try:
            await msg.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as exc:
            if "message is not modified" not in exc.message:
                raise


@router.callback_query(
    IpCB.filter(F.action.in_({IpAction.TYPE, IpAction.POLICY, IpAction.TARGET, IpAction.BACK}))
)
async def on_change(
    callback: CallbackQuery, callback_data: IpCB, bot: Bot, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, options: HandlerOptions, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    data = await _pending(state, callback_answer, tr)
    if data is None:
        return
    imports_service.ensure_may_import(user)
    if callback_data.action == IpAction.TYPE:
        new_type = ItemType(callback_data.v) if callback_data.v in set(ItemType) else ItemType.LEAD
        data["t"] = new_type.value
        table, mapping = await _load(bot, data)
        data["m"], data["cols"] = mapping, table.columns  # the header is found by the type's names
    elif callback_data.action == IpAction.POLICY:
        order = list(Policy)
        data["p"] = order[(order.index(Policy(data["p"])) + 1) % len(order)].value
    elif callback_data.action == IpAction.TARGET:
        allowed = [imports_service.SKIP, *imports_service.targets(data["t"])]
        n = callback_data.n
        if 0 <= n < len(data["m"]) and callback_data.v in allowed:
            # A target belongs to one column: another column holding it lets it go.
            if callback_data.v:
                data["m"] = [imports_service.SKIP if t == callback_data.v else t for t in data["m"]]
            data["m"][n] = callback_data.v
    await state.update_data(imp=data)
    await _redraw(callback, bot, session, user, tr, options, data)


@router.callback_query(IpCB.filter(F.action == IpAction.COLUMN))
async def on_column(
    callback: CallbackQuery, callback_data: IpCB, user: User, tr: Translator, state: FSMContext,
    callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    data = await _pending(state, callback_answer, tr)
    if data is None:
        return
    imports_service.ensure_may_import(user)
    n = callback_data.n
    if not 0 <= n < len(data["m"]):
        callback_answer.text = tr("imp.gone")
        return
    choices = [imports_service.SKIP, *imports_service.targets(data["t"])]
    buttons = [
        _btn(("• " if t == data["m"][n] else "") + target_label(tr, t), action=IpAction.TARGET, n=n, v=t)
        for t in choices
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([_btn(tr("imp.btn.back"), action=IpAction.BACK)])
    text = tr("imp.choose_target", column=esc(truncate(data["cols"][n], 60)))
    if isinstance(callback.message, Message):
        await callback.message.edit_text(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(IpCB.filter(F.action == IpAction.CANCEL))
async def on_cancel(
    callback: CallbackQuery, tr: Translator, state: FSMContext, callback_answer: CallbackAnswer
) -> None:
    await state.update_data(imp=None)
    if isinstance(callback.message, Message):
        await callback.message.edit_text(tr("imp.cancelled_before"))


# --- the run ------------------------------------------------------------------------------------------


@router.callback_query(IpCB.filter(F.action == IpAction.START))
async def on_start(
    callback: CallbackQuery, bot: Bot, db: Database, session: AsyncSession, user: User, tr: Translator,
    state: FSMContext, options: HandlerOptions, callback_answer: CallbackAnswer,
) -> None:  # fmt: skip
    data = await _pending(state, callback_answer, tr)
    if data is None:
        return
    imports_service.ensure_may_import(user)
    if import_jobs.running_for(user.id) is not None:
        callback_answer.text = tr("imp.already_running")
        return
    try:
        table, _ = await _load(bot, data)
    except ImportFileError as exc:
        callback_answer.text = _file_error(tr, exc)
        return
    if not any(data["m"]):
        callback_answer.text = tr("imp.nothing_mapped")
        return
    item_type = ItemType(data["t"])
    job = ImportJob(
        item_type, list(data["m"]), Policy(data["p"]), data["n"], _ctx(user, options),
        await stage_aliases(session, item_type),
    )  # fmt: skip
    await state.update_data(imp=None)
    msg = callback.message
    assert isinstance(msg, Message)
    total = int(data.get("rows", 0))
    chat_id, message_id = msg.chat.id, msg.message_id
    runner = _Runner(bot, db, user.id, tr, chat_id, message_id, total, data["n"])
    running = import_jobs.start(user.id, runner.run(table, job))
    runner.job = running
    await msg.edit_text(runner.progress_text(ImportResult()), reply_markup=runner.stop_markup())


@router.callback_query(IpCB.filter(F.action == IpAction.STOP))
async def on_stop(callback: CallbackQuery, callback_data: IpCB, user: User, tr: Translator,
                  callback_answer: CallbackAnswer) -> None:  # fmt: skip
    job = import_jobs.RUNNING.get(callback_data.n)
    if job is None or job.user_id != user.id:  # someone else's, or over
        callback_answer.text = tr("imp.gone")
        return
    job.cancelled = True
    callback_answer.text = tr("imp.stopping")


class _Runner:
    """One import in the background: edits its progress message at most every PROGRESS_EVERY
    seconds, and ends with the report (and the failed rows as a file)."""

    def __init__(self, bot: Bot, db: Database, user_id: int, tr: Translator, chat_id: int, message_id: int,
                 total: int, file_name: str) -> None:  # fmt: skip
        self.bot, self.db, self.user_id, self.tr = bot, db, user_id, tr
        self.chat_id, self.message_id, self.total, self.file_name = chat_id, message_id, total, file_name
        self.job: import_jobs.RunningImport | None = None
        self.last_edit = time.monotonic()
        self.columns: list[str] = []

    def stop_markup(self) -> InlineKeyboardMarkup:
        n = self.job.id if self.job else 0
        return InlineKeyboardMarkup(
            inline_keyboard=[[_btn(self.tr("imp.btn.stop"), action=IpAction.STOP, n=n)]]
        )

    def progress_text(self, r: ImportResult) -> str:
        return self.tr("imp.progress", file=esc(truncate(self.file_name, 60)), done=r.done, total=self.total)

    async def _progress(self, r: ImportResult) -> None:
        now = time.monotonic()
        if now - self.last_edit < PROGRESS_EVERY:
            return
        self.last_edit = now
        try:
            await self.bot.edit_message_text(
                self.progress_text(r),
                chat_id=self.chat_id,
                message_id=self.message_id,
                reply_markup=self.stop_markup(),
            )
        except TelegramAPIError:
            log.warning("could not update the import progress", exc_info=True)

    async def run(self, table: Table, job: ImportJob) -> None:
        await asyncio.sleep(0)  # the job is registered before its first row
        self.columns = table.columns
        try:
            result = await imports_service.run_import(
                self.db, self.user_id, table, job, progress=self._progress,
                cancelled=lambda: bool(self.job and self.job.cancelled),
            )  # fmt: skip
        except ImportFileError as exc:
            await self._say(_file_error(self.tr, exc))
            return
        except DomainError as exc:
            await self._say(describe(self.tr, exc))
            return
        except Exception:
            log.exception("import of %s failed", self.file_name)
            await self._say(self.tr("imp.crashed"))
            return
        await self._report(result, job)

    async def _say(self, text: str) -> None:
        try:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self.message_id)
        except TelegramAPIError:
            await self.bot.send_message(self.chat_id, text)

    async def _report(self, r: ImportResult, job: ImportJob) -> None:
        tr = self.tr
        head = tr("imp.cancelled") if r.cancelled else tr("imp.done")
        lines = [
            head,
            tr("imp.report", file=esc(truncate(self.file_name, 60)), created=r.created, updated=r.updated,
               skipped=r.skipped, failed=len(r.failed)),
        ]  # fmt: skip
        shown = sorted(r.unknown.items(), key=lambda kv: -kv[1])[:SHOWN_UNKNOWN]
        for (what, name), count in shown:
            lines.append(tr(UNKNOWN_TEXTS[what], name=esc(truncate(name, 40)), count=count))
        await self._say("\n".join(lines))
        if r.failed:
            data = failed_rows_csv(tr, r, self.columns)
            await self.bot.send_document(
                self.chat_id,
                BufferedInputFile(data, filename=f"failed-{self.file_name.rsplit('.', 1)[0]}.csv"),
                caption=tr("imp.failed_file", count=len(r.failed)),
            )


def _file_error(tr: Translator, exc: ImportFileError) -> str:
    return tr(FILE_ERRORS[exc.reason]) if exc.reason in FILE_ERRORS else tr("imp.error.binary")


def _reason(tr: Translator, exc: DomainError) -> str:
    column = getattr(exc, "column", None)
    cause = getattr(exc, "cause", exc)
    text = describe(tr, cause)
    return f"{esc(column)}: {text}" if column else text


def failed_rows_csv(tr: Translator, result: ImportResult, columns: list[str]) -> bytes:
    """The failed rows as they were in the file, after their row number in it and the reason."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, delimiter=csv_separator(tr.language))
    writer.writerow([tr("imp.failed.row"), tr("imp.failed.reason"), *columns])
    for f in result.failed:
        writer.writerow([f.number, html.unescape(_reason(tr, f.error)), *[cell_text(c) for c in f.cells]])
    return out.getvalue().encode("utf-8-sig")
