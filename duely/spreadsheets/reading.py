"""Reading a CSV file or an Excel workbook (.xlsx) as rows of text, streaming.

Every cell comes out as the text a person reads in it: an XLSX date cell as 2026-04-03, an
XLSX number without binary float noise (1234.5, not 1234.4999999999998), leading and trailing
spaces dropped. Rows keep the numbers Excel or a text editor shows them with; blank rows are
skipped. The header row is the first of the file's first non-blank rows in which at least two
cells are headers we recognise (for customers or invoices), so a title row or two above it is
fine.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Generator, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from duely.spreadsheets.columns import recognised_anywhere

NOT_A_SPREADSHEET = "This file is not a CSV or an Excel workbook (.xlsx)"
NO_HEADER_ROW = (
    "The file has no header row we recognise: expected columns such as Invoice number, "
    "Customer, Due date, Amount"
)
OLD_EXCEL = "This is an old-style Excel file (.xls): save it as .xlsx or CSV and upload that"
EMPTY = "The file is empty"

DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_BYTES = 64 * 1024
_CHUNK = 1024 * 1024


class UnreadableFile(Exception):  # noqa: N818 - the name the callers were promised
    """The file cannot be read as a spreadsheet; `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SheetRow:
    number: int
    """1-based, as Excel or a text editor numbers the row."""
    cells: list[str]
    """At least as many as the sheet has headers (short rows are padded with "")."""


@dataclass(frozen=True)
class Sheet:
    path: Path
    format: Literal["csv", "xlsx"]
    headers: list[str]
    header_row: int
    """1-based row number of the header row."""
    encoding: str = ""
    """CSV only: utf-8-sig, utf-16, cp1252 or latin-1."""
    delimiter: str = ""
    """CSV only."""

    def rows(self) -> Iterator[SheetRow]:
        """The non-blank rows below the header row, read from the file as they are asked for:
        each call reads the file again."""
        rows = _xlsx_rows(self.path) if self.format == "xlsx" else self._csv_rows()
        width = len(self.headers)
        for number, cells in rows:
            if number <= self.header_row or not any(cells):
                continue
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield SheetRow(number, cells)

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        with self.path.open(encoding=self.encoding, newline="") as text:
            yield from _csv_records(text, self.delimiter)


def open_sheet(path: Path, *, max_header_scan: int = 10) -> Sheet:
    """The file's header row and the means to stream its rows. `max_header_scan` is how many
    non-blank rows from the top may hold the header row. Raises UnreadableFile."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            start = file.read(_SAMPLE_BYTES)
    except OSError as error:
        raise UnreadableFile(f"The file could not be opened ({error.strerror})") from error
    if not start.strip():
        raise UnreadableFile(EMPTY)
    if start.startswith(b"PK\x03\x04"):
        return _open_xlsx(path, max_header_scan)
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile(OLD_EXCEL)
    encoding = _csv_encoding(path, start)
    if encoding is None:
        raise UnreadableFile(NOT_A_SPREADSHEET)
    sample = _decode_sample(start, encoding)
    for delimiter in _delimiters_by_likelihood(sample):
        found = _find_header(_csv_records(io.StringIO(sample), delimiter), max_header_scan)
        if found is not None:
            header_row, headers = found
            return Sheet(path, "csv", headers, header_row, encoding, delimiter)
    raise UnreadableFile(NO_HEADER_ROW)


# --- CSV -------------------------------------------------------------------------------------


def _csv_encoding(path: Path, start: bytes) -> str | None:
    """utf-16 when it starts with its byte-order mark, else utf-8-sig when the whole file
    decodes as UTF-8, else Windows-1252 (Latin-1 where 1252 leaves a byte undefined); None for
    a binary file."""
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in start:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        try:
            with path.open("rb") as file:
                while chunk := file.read(_CHUNK):
                    chunk.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "utf-8-sig"


def _decode_sample(start: bytes, encoding: str) -> str:
    text = start.decode(encoding, errors="ignore")
    if len(start) == _SAMPLE_BYTES:  # the last line may be cut short
        text = text[: text.rfind("\n") + 1] or text
    if encoding == "utf-8-sig" or encoding == "utf-16":
        text = text.lstrip("\ufeff")
    return text


def _csv_records(text: Iterable[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every record; row numbers count records, as Excel does."""
    reader = csv.reader(text, delimiter=delimiter)
    for number, record in enumerate(reader, start=1):
        yield number, [cell.strip() for cell in record]


def _delimiters_by_likelihood(sample: str) -> list[str]:
    """Candidates, likeliest first: the one that splits the most rows into the same number
    (more than one) of cells, then the one that splits them into more cells."""
    scores = []
    for delimiter in DELIMITERS:
        counts: dict[int, int] = {}
        for _, cells in _csv_records(io.StringIO(sample), delimiter):
            if any(cells) and len(cells) > 1:
                counts[len(cells)] = counts.get(len(cells), 0) + 1
        if counts:
            width, rows = max(counts.items(), key=lambda item: (item[1], item[0]))
            scores.append((rows, width, delimiter))
    scores.sort(key=lambda score: (-score[0], -score[1]))
    return [delimiter for _, _, delimiter in scores]


def _find_header(
    records: Iterable[tuple[int, list[str]]], max_header_scan: int
) -> tuple[int, list[str]] | None:
    scanned = 0
    for number, cells in records:
        if not any(cells):
            continue
        if sum(1 for cell in cells if cell and recognised_anywhere(cell)) >= 2:
            while cells and not cells[-1]:
                cells = cells[:-1]
            return number, cells
        scanned += 1
        if scanned >= max_header_scan:
            break
    return None


# --- XLSX ------------------------------------------------------------------------------------


def _open_xlsx(path: Path, max_header_scan: int) -> Sheet:
    with closing(_xlsx_rows(path)) as rows:
        found = _find_header(rows, max_header_scan)
    if found is None:
        raise UnreadableFile(NO_HEADER_ROW)
    header_row, headers = found
    return Sheet(path, "xlsx", headers, header_row)


def _xlsx_rows(path: Path) -> Generator[tuple[int, list[str]]]:
    """(row number, cells) of the first worksheet, blank rows included (numbered truly)."""
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a zip that is no workbook
        raise UnreadableFile(NOT_A_SPREADSHEET) from error
    try:
        if not workbook.worksheets:
            raise UnreadableFile(NOT_A_SPREADSHEET)
        sheet = workbook.worksheets[0]
        if hasattr(sheet, "reset_dimensions"):
            # Some writers record a wrong size; read every row and column there is.
            sheet.reset_dimensions()
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            yield number, [cell_text(value) for value in values]
    finally:
        workbook.close()


def cell_text(value: Any) -> str:
    """An XLSX cell's value as a person reads it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Excel shows 15 significant digits; that drops the float's binary noise.
        return format(Decimal(f"{value:.15g}"), "f")
    return str(value).strip()
