"""Reading an uploaded table: CSV in any of the encodings people's spreadsheets write (UTF-8 with or
without a BOM, UTF-16, Windows-1251), with `;`, `,` or tab between cells, or an XLSX workbook (its
first sheet). The header row is found by its cells, not assumed.

A file that cannot be read as a table raises ImportFileError with a reason code the bot explains;
nothing has been imported at that point."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_core.errors import DomainError

MAX_COLUMNS = 200
SNIFF_LINES = 20
SEPARATORS = (";", ",", "\t")


class ImportFileError(DomainError):
    """The file is not a table the CRM can read. `reason` is one of: empty, binary, xlsx_broken,
    no_rows, too_many_columns."""

    code = "import_file"

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason, reason=reason, **details)
        self.reason = reason


Cell = str | int | float | date | datetime | None


@dataclass
class Table:
    """The columns' names (from the header, or "1", "2"... without one) and the data rows."""

    columns: list[str]
    has_header: bool
    rows: Callable[[], Iterator[list[Cell]]]  # a fresh iterator over the data rows each call
    encoding: str | None = None  # CSV only
    separator: str | None = None
    _count: int | None = field(default=None, repr=False)

    def count(self) -> int:
        if self._count is None:
            self._count = sum(1 for _ in self.rows())
        return self._count


# --- text ---------------------------------------------------------------------------------------------


def decode(data: bytes) -> tuple[str, str]:
    """The text of a CSV file and the encoding it was read with."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    head = data[:4000]
    # UTF-16 without a BOM: every other byte of Latin/Cyrillic text is zero-ish.
    if len(head) >= 4 and head.count(0) > len(head) // 4:
        le = head[1::2].count(0) > head[0::2].count(0)
        encoding = "utf-16-le" if le else "utf-16-be"
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise ImportFileError("binary") from exc
    if b"\x00" in head:
        raise ImportFileError("binary")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1251", errors="replace")
    # Control characters other than line ends and tabs say it is no text at all.
    if sum(1 for ch in text[:4000] if ord(ch) < 32 and ch not in "\r\n\t") > 5 or "\ufffd" in text[:4000]:
        raise ImportFileError("binary")
    return text, "cp1251"


def sniff_separator(text: str) -> str:
    """The separator that splits the first lines into the same number (more than one) of cells."""
    sample = "\n".join(text.splitlines()[:SNIFF_LINES])
    best, best_score = ",", -1
    for sep in SEPARATORS:
        counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=sep) if any(c.strip() for c in r)]
        if not counts:
            continue
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        score = counts.count(width) * 1000 + width
        if score > best_score:
            best, best_score = sep, score
    return best


def _csv_table(data: bytes) -> Table:
    text, encoding = decode(data)
    if not text.strip():
        raise ImportFileError("empty")
    sep = sniff_separator(text)

    def raw_rows() -> Iterator[list[Cell]]:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
            if any(c.strip() for c in row):
                yield [c.strip() for c in row]

    return _with_header(raw_rows, encoding=encoding, separator=sep)


# --- xlsx ----------------------------------------------------------------------------------------------


def _xlsx_table(data: bytes) -> Table:
    from zipfile import BadZipFile

    from openpyxl import load_workbook

    def raw_rows() -> Iterator[list[Cell]]:
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (BadZipFile, KeyError, OSError, ValueError) as exc:
            raise ImportFileError("xlsx_broken") from exc
        try:
            ws = wb.worksheets[0]
            for row in ws.iter_rows(values_only=True):
                cells = [c.strip() if isinstance(c, str) else c for c in row]
                if any(c not in (None, "") for c in cells):
                    yield cells
        finally:
            wb.close()

    return _with_header(raw_rows)


def is_xlsx(data: bytes, file_name: str | None) -> bool:
    return data.startswith(b"PK\x03\x04") or (file_name or "").lower().endswith((".xlsx", ".xlsm"))


def read_table(
    data: bytes, file_name: str | None = None, *, known: Callable[[str], bool] | None = None
) -> Table:
    """The table in an uploaded file. `known` says whether a cell text names a column the importer
    knows (a header cell); without it any row of texts counts as a header."""
    if not data:
        raise ImportFileError("empty")
    table = _xlsx_table(data) if is_xlsx(data, file_name) else _csv_table(data)
    _detect_header(table, known)
    return table


# --- the header -------------------------------------------------------------------------------------


def _with_header(raw_rows: Callable[[], Iterator[list[Cell]]], **kw: Any) -> Table:
    return Table(columns=[], has_header=False, rows=raw_rows, **kw)


def _looks_like_header(row: list[Cell], known: Callable[[str], bool] | None) -> bool:
    texts = [c for c in row if isinstance(c, str) and c]
    if not texts:
        return False
    if known is not None and any(known(t) for t in texts):
        return True
    # A row of words (no numbers, dates, e-mails or phones) above data is a header.
    if len(texts) != len([c for c in row if c not in (None, "")]):
        return False
    return not any("@" in t or sum(ch.isdigit() for ch in t) > len(t) // 2 for t in texts)


def _detect_header(table: Table, known: Callable[[str], bool] | None) -> None:
    raw = table.rows
    first = next(iter(raw()), None)
    if first is None:
        raise ImportFileError("no_rows")
    width = len(first)
    has_header = _looks_like_header(first, known)
    if has_header:
        columns = [str(c or "").strip() or str(i + 1) for i, c in enumerate(first)]
    else:
        columns = [str(i + 1) for i in range(width)]
    if len(columns) > MAX_COLUMNS:
        raise ImportFileError("too_many_columns", max=MAX_COLUMNS)

    def data_rows() -> Iterator[list[Cell]]:
        it = raw()
        if has_header:
            next(it, None)
        yield from it

    table.columns, table.has_header, table.rows = columns, has_header, data_rows
    if has_header and next(iter(data_rows()), None) is None:
        raise ImportFileError("no_rows")
