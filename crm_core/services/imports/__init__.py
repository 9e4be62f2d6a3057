"""Importing leads, deals, contacts and companies from CSV/XLSX files: reading the table
(reading), what its columns mean (columns), a row's values by the field schema (cells), and the
run with its duplicate policy, savepoint per row and report (run)."""

from crm_core.services.imports.cells import ColumnError, Names, RowValues, convert_row
from crm_core.services.imports.columns import (
    ID,
    RESPONSIBLE,
    SKIP,
    STAGE,
    alias_index,
    normalize_header,
    propose_mapping,
    targets,
)
from crm_core.services.imports.reading import ImportFileError, Table, read_table
from crm_core.services.imports.run import (
    FailedRow,
    ImportJob,
    ImportResult,
    Policy,
    ensure_may_import,
    find_duplicate,
    may_import,
    open_table,
    run_import,
)

__all__ = [
    "ID",
    "RESPONSIBLE",
    "SKIP",
    "STAGE",
    "ColumnError",
    "FailedRow",
    "ImportFileError",
    "ImportJob",
    "ImportResult",
    "Names",
    "Policy",
    "RowValues",
    "Table",
    "alias_index",
    "convert_row",
    "ensure_may_import",
    "find_duplicate",
    "may_import",
    "normalize_header",
    "open_table",
    "propose_mapping",
    "read_table",
    "run_import",
    "targets",
]
