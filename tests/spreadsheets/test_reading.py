"""open_sheet: encodings, delimiters, quoting, title rows, blank rows, XLSX cells, and files that
are no spreadsheet, each read back with the row numbers a person sees."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, time

import pytest

from duely.spreadsheets import SheetRow, UnreadableFile, open_sheet
from duely.spreadsheets.reading import NO_HEADER_ROW, NOT_A_SPREADSHEET, cell_text

from .files import write_csv, write_xlsx

HEADERS = ["Invoice number", "Customer", "Due date", "Amount"]
ROWS = [
    ["INV-1", "Crème Brûlée Café", "03/04/2026", "£1,234.50"],
    ["INV-2", "Zoë's Bakery", "25/04/2026", "€12.00"],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_each_encoding_and_delimiter_reads_the_same_cells(tmp_path, encoding, delimiter):
    rows = ROWS
    if encoding == "latin-1":  # no € or œ in Latin-1
        rows = [[cell.replace("€", "") for cell in row] for row in ROWS]
    path = write_csv(tmp_path / "f.csv", [HEADERS, *rows], encoding=encoding, delimiter=delimiter)

    sheet = open_sheet(path)

    assert sheet.format == "csv"
    assert sheet.delimiter == delimiter
    assert sheet.headers == HEADERS
    assert sheet.header_row == 1
    assert list(sheet.rows()) == [SheetRow(2, rows[0]), SheetRow(3, rows[1])]


def test_encodings_are_told_apart(tmp_path):
    assert open_sheet(write_csv(tmp_path / "a.csv", [HEADERS, *ROWS])).encoding == "utf-8-sig"
    cp1252 = write_csv(tmp_path / "b.csv", [HEADERS, *ROWS], encoding="cp1252")
    assert open_sheet(cp1252).encoding == "cp1252"
    # 0x81 is undefined in Windows-1252: the file is read as Latin-1 rather than refused.
    odd = tmp_path / "c.csv"
    odd.write_bytes(b"Invoice number,Customer\r\nINV-1,Caf\x81\r\n")
    sheet = open_sheet(odd)
    assert sheet.encoding == "latin-1"
    assert list(sheet.rows()) == [SheetRow(2, ["INV-1", "Caf\x81"])]


def test_a_utf8_bom_does_not_stick_to_the_first_header(tmp_path):
    path = write_csv(tmp_path / "f.csv", [HEADERS, ROWS[0]], encoding="utf-8-sig")
    assert open_sheet(path).headers[0] == "Invoice number"


def test_quoted_fields_keep_delimiters_quotes_and_line_breaks(tmp_path):
    rows = [
        HEADERS + ["Reference"],
        ["INV-1", "Smith, Jones & Co", "03/04/2026", "1,234.50", 'PO "77"\nsecond line'],
        ["INV-2", "Acme", "04/04/2026", "12", ""],
    ]
    sheet = open_sheet(write_csv(tmp_path / "f.csv", rows))

    assert sheet.delimiter == ","
    read = list(sheet.rows())
    assert read[0] == SheetRow(2, rows[1])
    # Rows count records, as Excel does: the line break inside a cell does not add a row.
    assert read[1].number == 3


def test_semicolon_file_with_decimal_commas_is_not_read_as_comma_separated(tmp_path):
    rows = [HEADERS, ["INV-1", "Acme", "03.04.2026", "1.234,50 €"], ["INV-2", "B", "x", "0,50"]]
    path = write_csv(tmp_path / "f.csv", rows, delimiter=";", encoding="cp1252")
    sheet = open_sheet(path)
    assert sheet.delimiter == ";"
    assert [row.cells[3] for row in sheet.rows()] == ["1.234,50 €", "0,50"]


def test_title_rows_above_the_header_row_and_blank_rows_keep_true_numbers(tmp_path):
    rows = [
        ["Aged receivables"],
        ["Demo Trading Ltd", "as at 3 April 2026"],
        [],
        HEADERS,
        ROWS[0],
        [],
        ["", "", "", ""],
        ROWS[1],
        [],
        [],
    ]
    for path in (write_csv(tmp_path / "f.csv", rows), write_xlsx(tmp_path / "f.xlsx", rows)):
        sheet = open_sheet(path)
        assert sheet.header_row == 4
        assert sheet.headers == HEADERS
        assert [row.number for row in sheet.rows()] == [5, 8]


def test_the_header_row_needs_two_recognised_headers(tmp_path):
    rows = [["Invoice list", "Customer"], ["Notes", "x", "y"], ["Inv No", "Client", "Due"]]
    sheet = open_sheet(write_csv(tmp_path / "f.csv", rows))
    assert sheet.header_row == 3


def test_the_header_row_is_looked_for_only_so_far(tmp_path):
    rows = [[f"Title line {n}"] for n in range(5)] + [HEADERS, ROWS[0]]
    path = write_csv(tmp_path / "f.csv", rows)
    assert open_sheet(path).header_row == 6
    with pytest.raises(UnreadableFile) as raised:
        open_sheet(path, max_header_scan=5)
    assert raised.value.reason == NO_HEADER_ROW


def test_short_rows_are_padded_to_the_headers_and_spaces_trimmed(tmp_path):
    path = write_csv(tmp_path / "f.csv", [HEADERS, ["INV-1 ", "  Acme"]])
    assert list(open_sheet(path).rows()) == [SheetRow(2, ["INV-1", "Acme", "", ""])]


def test_rows_stream_again_on_each_call(tmp_path):
    sheet = open_sheet(write_csv(tmp_path / "f.csv", [HEADERS, *ROWS]))
    rows = sheet.rows()
    assert next(rows).number == 2
    assert [row.number for row in sheet.rows()] == [2, 3]


def test_xlsx_dates_numbers_and_text_read_as_a_person_sees_them(tmp_path):
    rows = [
        ["Invoice #", "Client", "Invoice date", "Due", "Total", "Balance", "Paid"],
        [1001, "Acme", date(2026, 4, 3), datetime(2026, 5, 3), 1234.4999999999998, 0.1 + 0.2, True],
        ["INV-2", "Bé", "03/04/2026", datetime(2026, 5, 3, 14, 30), 1234.5, 100.0, None],
        ["INV-3", "C", datetime(2026, 4, 3), "3 Apr 2026", 12, 1e20, False],
    ]
    sheet = open_sheet(write_xlsx(tmp_path / "f.xlsx", rows))

    assert sheet.format == "xlsx"
    assert sheet.headers == rows[0]
    assert [row.cells for row in sheet.rows()] == [
        ["1001", "Acme", "2026-04-03", "2026-05-03", "1234.5", "0.3", "TRUE"],
        ["INV-2", "Bé", "03/04/2026", "2026-05-03 14:30:00", "1234.5", "100", ""],
        ["INV-3", "C", "2026-04-03", "3 Apr 2026", "12", "100000000000000000000", "FALSE"],
    ]


def test_cell_text():
    assert cell_text(None) == ""
    assert cell_text(12.0) == "12"
    assert cell_text(0.07) == "0.07"
    assert cell_text(-5.25) == "-5.25"
    assert cell_text(time(9, 30)) == "09:30:00"
    assert cell_text("  padded ") == "padded"


def test_xlsx_reads_the_first_worksheet_only(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(HEADERS)
    workbook.active.append(ROWS[0])
    other = workbook.create_sheet("Other")
    other.append(HEADERS)
    other.append(ROWS[1])
    workbook.save(tmp_path / "f.xlsx")
    assert [row.cells for row in open_sheet(tmp_path / "f.xlsx").rows()] == [ROWS[0]]


def test_files_that_are_no_spreadsheet_say_so(tmp_path):
    binary = tmp_path / "picture.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    a_zip = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(a_zip, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    truncated = tmp_path / "truncated.xlsx"
    truncated.write_bytes(write_xlsx(tmp_path / "whole.xlsx", [HEADERS]).read_bytes()[:300])
    for path in (binary, a_zip, truncated):
        with pytest.raises(UnreadableFile) as raised:
            open_sheet(path)
        assert raised.value.reason == NOT_A_SPREADSHEET, path

    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    with pytest.raises(UnreadableFile, match=r"\.xls"):
        open_sheet(old)

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\r\n\r\n")
    with pytest.raises(UnreadableFile, match="empty"):
        open_sheet(empty)

    with pytest.raises(UnreadableFile, match="could not be opened"):
        open_sheet(tmp_path / "missing.csv")


def test_a_text_file_without_recognised_headers(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("Dear Sir,\nPlease find attached.\nRegards\n")
    with pytest.raises(UnreadableFile) as raised:
        open_sheet(path)
    assert raised.value.reason == NO_HEADER_ROW
    workbook = write_xlsx(tmp_path / "f.xlsx", [["Name only"], ["Acme"]])
    with pytest.raises(UnreadableFile) as raised:
        open_sheet(workbook)
    assert raised.value.reason == NO_HEADER_ROW
