"""`crm-bot import` and `crm-bot export` from the command line: the same import and export as the
bot's, as a CRM user; an export imports back to the same data."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from crm_core.db import Database
from crm_core.models.items import Lead
from crm_core.models.users import Role, User


async def _admin(database_url: str, telegram_id: int) -> None:
    from crm_core import migrate

    db = Database(database_url)
    try:
        await migrate.upgrade(db.engine)
        async with db.unit_of_work() as s:
            s.add(User(telegram_id=telegram_id, full_name="Anna", role=Role.ADMIN, language="en"))
    finally:
        await db.dispose()


async def _titles(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        async with db.unit_of_work() as s:
            return sorted(await s.scalars(select(Lead.title).where(Lead.deleted_at.is_(None))))
    finally:
        await db.dispose()


def _run(args: list[str]) -> int:
    import concurrent.futures

    # main() runs its own event loop: give it a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(main, args).result()


async def test_import_then_export_round_trip(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("ADMIN_IDS", "777")
    await _admin(database_url, 777)
    src = tmp_path / "leads.csv"
    src.write_bytes(
        "TITLE;PHONE;OPPORTUNITY\r\nFirst;+7 916 111-22-33;1 000\r\nSecond;bad;\r\n".encode("cp1251")
    )
    assert _run(["import", str(src), "--type", "lead"]) == 1  # a failed row: the exit code says so
    out = capsys.readouterr().out
    assert "created 1, updated 0, skipped 0, failed 1" in out
    failed = (tmp_path / "leads.failed.csv").read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(failed)))
    assert rows[0] == ["Row", "Reason", "TITLE", "PHONE", "OPPORTUNITY"] and rows[1][0] == "3"
    assert await _titles(database_url) == ["First"]

    out_file = tmp_path / "export.xlsx"
    assert _run(["export", "--type", "lead", "--format", "xlsx", "--out", str(out_file), "--as", "777"]) == 0
    assert "exported 1 rows" in capsys.readouterr().out
    # The same file again, with policy skip: the lead is recognised (by its number and phone).
    assert _run(["import", str(out_file), "--type", "lead"]) == 0
    assert "created 0, updated 0, skipped 1, failed 0" in capsys.readouterr().out
    assert await _titles(database_url) == ["First"]


def test_unknown_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    src = tmp_path / "x.csv"
    src.write_text("Title\nA\n")
    with pytest.raises(SystemExit, match="no CRM user"):
        _run(["import", str(src), "--as", "12345"])
