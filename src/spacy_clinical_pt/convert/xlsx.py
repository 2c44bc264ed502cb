"""Token-per-row spreadsheets (.xlsx) as CoNLL rows: one row per token, as CLINpt's upstream workbooks.

    Token      POS     Lemma      Tag
    Doente     n       doente     O
    com        prp     com        O
    cefaleia   n       cefaleia   B-C
    (empty row)
    Refere     v-fin   referir    O

The token is the first column and the tag the last column that most rows of the sheet use (a row that
stops short has an empty tag, a row with a cell beyond reads that cell as its tag); columns between them
are ignored, as in a CoNLL file. A row that is empty, or whose token cell is empty and whose tag cell is empty
or `O`, ends a sentence. A first row whose tag cell is no tag and which names its columns ("Token",
"Tag", "Label"...) is a header: it is skipped and the report says so. Every sheet is read, in workbook
order, and each non-empty sheet is a document of its own (as a `-DOCSTART-` section is); a workbook
with no non-empty sheet is an error, as an empty CoNLL file is.

Cells become the text a person sees in Excel: numbers without a spurious ".0" (5.0 -> "5"), booleans
"TRUE"/"FALSE". A date cell (Excel turns "3/4" into a date) is written as an ISO date and listed as
repaired, the token typed into it being lost. A formula saved without its computed value (by a program
that does not compute formulas) is an error naming its cell: read as a value it would be empty.
"""

from __future__ import annotations

import datetime
import zipfile
import zlib
from pathlib import Path
from collections import Counter
from typing import Any, NamedTuple

from ..corpus import ConversionReport, excerpt
from .conll import split_tag

WORKBOOK_SUFFIXES = (".xlsx",)
# Names a header row gives its token or tag column; compared lower-cased.
HEADER_NAMES = frozenset(
    {"token", "tokens", "word", "words", "form", "palavra", "text", "texto",
     "tag", "tags", "label", "labels", "ner", "iob", "iob2", "bio", "entity", "entidade", "etiqueta"}
)  # fmt: skip
# What openpyxl raises for a file that is not a workbook: not a zip, a zip without the workbook's parts, a
# truncated or corrupt zip member, a sheet whose XML does not parse (ElementTree's ParseError is a
# SyntaxError).
NOT_A_WORKBOOK = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError, EOFError,
                  SyntaxError, zlib.error)  # fmt: skip


class Row(NamedTuple):
    """One spreadsheet row as CoNLL columns: where it is ("case.xlsx sheet 'S1' row 12") and its cells."""

    where: str
    columns: list[str]


def read_workbook(file: Path, report: ConversionReport) -> list[list[Row]]:
    """The rows of every sheet of `file`, one list per sheet, with header rows left out.

    file: the workbook.
    report: a file that is not a workbook is a report error (strict mode raises `ConversionError`), and
        the workbook then gives []; header rows skipped, empty sheets and date cells are noted or repaired.
    """
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
        try:
            # Read-only sheets trust the size stored in the file, which some writers get wrong.
            sheets = []
            for sheet in workbook.worksheets:
                sheet.reset_dimensions()
                sheets.append((sheet.title, list(sheet.iter_rows(values_only=True))))
        finally:
            workbook.close()
    except NOT_A_WORKBOOK as err:
        report.error(str(file), f"not an Excel workbook (.xlsx) or a corrupt one ({type(err).__name__})")
        return []
    for title, number, column in _uncomputed_formulas(file, dict(sheets)):
        report.error(f"{file} sheet {title!r} row {number}", f"a formula without a computed value in column "
                     f"{column}: it would read as empty; open and save the workbook in a spreadsheet program")
    result = []
    for title, values in sheets:
        rows = _sheet_rows(file, title, values, report)
        if rows:
            result.append(rows)
        else:
            report.note(f"{file} sheet {title!r}: empty sheet skipped")
    if not result:
        report.error(str(file), "the workbook is empty")
    return result


def _uncomputed_formulas(file: Path, sheets: dict[str, list[tuple[Any, ...]]]) -> list[tuple[str, int, int]]:
    """(sheet, row, column), 1-based, of the formula cells that hold no computed value (what a program that does
    not compute formulas saves): read as values they are empty. The workbook is read again, for its formulas,
    only when a sheet's XML holds one."""
    with zipfile.ZipFile(file) as archive:
        names = [name for name in archive.namelist() if name.startswith("xl/worksheets/") and name.endswith(".xml")]
        if not any(b"<f" in archive.read(name) for name in names):
            return []
    from openpyxl import load_workbook

    workbook = load_workbook(file, read_only=True, data_only=False)
    try:
        found = []
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()
            values = sheets.get(sheet.title, [])
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                computed = values[number - 1] if number <= len(values) else ()
                for column, cell in enumerate(row, start=1):
                    empty = column > len(computed) or computed[column - 1] is None
                    if isinstance(cell, str) and cell.startswith("=") and empty:
                        found.append((sheet.title, number, column))
        return found
    finally:
        workbook.close()


def _sheet_rows(file: Path, title: str, values: list[tuple[Any, ...]], report: ConversionReport) -> list[Row]:
    """The rows of one sheet as columns up to its tag column; empty rows are kept as sentence ends."""
    cells = [[_cell_text(value) for value in row] for row in values]
    used = [max((i + 1 for i, text in enumerate(row) if text), default=0) for row in cells]
    widths = Counter(n for n in used if n)
    if not widths:
        return []
    width = max(widths, key=lambda n: (widths[n], n))
    rows = []
    for number, (row, raw, n) in enumerate(zip(cells, values, used), start=1):
        where = f"{file} sheet {title!r} row {number}"
        columns = (row + [""] * width)[: max(width, n)]
        for value in raw[: len(columns)]:
            if isinstance(value, (datetime.date, datetime.time)):
                report.repair(where, f"a date cell read as {_cell_text(value)!r}; Excel may have changed its text")
        if columns[0] == "" and columns[-1] in ("", "O"):
            columns = []  # a sentence break, whatever its middle cells hold
        rows.append(Row(where, columns))
    first = next((index for index, row in enumerate(rows) if row.columns), None)
    if first is not None and _is_header(rows[first].columns):
        header = ", ".join(repr(excerpt(c)) for c in rows[first].columns)
        report.note(f"{rows[first].where}: header row skipped ({header})")
        del rows[first]
    return rows


def _is_header(columns: list[str]) -> bool:
    """Whether a sheet's first row names its columns: no tag in the tag cell, a column name in a cell."""
    try:
        split_tag(columns[-1])
        return False
    except ValueError:
        return columns[0].lower() in HEADER_NAMES or columns[-1].lower() in HEADER_NAMES


def _cell_text(value: Any) -> str:
    """The text of one cell as Excel shows it: 5.0 -> "5", True -> "TRUE", a date in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.datetime) and value.time() == datetime.time():
        return value.date().isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return str(value).strip(" ")
