"""validate_customers and validate_invoices: every problem with its row number and its words,
the defaults, date order inference, customer resolution, and a 10,000-row file."""

from __future__ import annotations

import random
import tracemalloc
from datetime import date, timedelta

import pytest

from duely.spreadsheets import (
    CUSTOMERS,
    INVOICES,
    Checked,
    ImportedCustomer,
    ImportedInvoice,
    Problem,
    SheetRow,
    guess_mapping,
    infer_date_order,
    open_sheet,
    validate_customers,
    validate_invoices,
)

from .files import write_csv, write_xlsx

CODES = {"ACME", "BETA", "C-003"}
NAMES = {"Acme Trading Ltd": "ACME", "Beta & Sons": "BETA", "Gamma Limited": "C-003"}
HEADERS = [
    "Invoice No", "Account", "Invoice Date", "Due Date", "Currency", "Total", "Balance", "Status",
    "Reference",
]  # fmt: skip


def invoice_rows(rows, headers=HEADERS, *, date_order="DMY", codes=CODES, base="GBP"):
    """Checked rows of a sheet whose header row is row 1 and whose rows follow from row 2."""
    sheet_rows = [SheetRow(number, list(cells)) for number, cells in enumerate(rows, start=2)]
    return list(
        validate_invoices(
            sheet_rows,
            guess_mapping(headers, INVOICES),
            known_customer_codes=codes,
            known_customer_names=NAMES,
            base_currency=base,
            date_order=date_order,
        )
    )


def row(number="INV-1", account="ACME", issued="01/04/2026", due="30/04/2026", currency="GBP",
        total="120.00", balance="", status="", reference=""):  # fmt: skip
    return [number, account, issued, due, currency, total, balance, status, reference]


def reasons(checked: list[Checked]) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.reason) for c in checked for p in c.problems]


# --- customers -------------------------------------------------------------------------------


def test_customers_file_end_to_end(tmp_path):
    path = write_csv(
        tmp_path / "customers.csv",
        [
            ["Customer list"],
            ["Code", "Name", "E-mail", "Telephone", "Contact"],
            ["ACME", "Acme Trading Ltd", "ap@acme.example", "+44 20 7946 0000", "Jo Bloggs"],
            ["BETA", "Beta & Sons", "", "", ""],
            ["", "No Code Ltd", "x@nocode.example", "", ""],
            ["GAMMA", "", "accounts@gamma", "", ""],
            ["acme", "Acme again", "ap@acme.example", "", ""],
            ["DELTA", "Delta", "ap@delta.example; md@delta.example", "1" * 51, ""],
            ["EPS", "Epsilon", "ap@eps.example, ar@eps.example", "", ""],
        ],
    )
    sheet = open_sheet(path)
    checked = list(validate_customers(sheet.rows(), guess_mapping(sheet.headers, CUSTOMERS)))

    assert [c.number for c in checked] == [3, 4, 5, 6, 7, 8, 9]
    assert checked[0].record == ImportedCustomer(
        "ACME", "Acme Trading Ltd", "ap@acme.example", "+44 20 7946 0000", "Jo Bloggs"
    )
    assert checked[6].record == ImportedCustomer(
        "EPS", "Epsilon", "ap@eps.example", "", "", other_emails=("ar@eps.example",)
    )
    assert all(c.record is None for c in checked[1:6])
    assert reasons(checked) == [
        (4, "Email", "No email address"),
        (5, "Customer code", "No customer code"),
        (6, "Customer name", "No customer name"),
        (6, "Email", "Email 'accounts@gamma' is not an email address"),
        (7, "Customer code", "Customer code acme appears again on row 7 (first on row 3)"),
        (8, "Phone", "Phone is 51 characters long: at most 50 fit"),
    ]
    assert checked[1].problems == [Problem(4, "Email", "No email address", "email")]


# --- invoices: records and defaults ----------------------------------------------------------


def test_a_good_invoice():
    [checked] = invoice_rows([row(reference="PO-77", balance="20.00", status="Outstanding")])
    assert checked.ok
    assert checked.record == ImportedInvoice(
        number="INV-1",
        customer_code="ACME",
        issue_date=date(2026, 4, 1),
        due_date=date(2026, 4, 30),
        currency="GBP",
        total=12000,
        amount_due=2000,
        status="open",
        reference="PO-77",
    )


def test_defaults_currency_amount_due_and_status():
    headers = ["Invoice No", "Account", "Due Date", "Amount"]
    [plain, zero] = invoice_rows(
        [["INV-1", "ACME", "2026-04-30", "£1,234.50"], ["INV-2", "ACME", "2026-04-30", "0"]],
        headers,
        base="EUR",
    )
    # No currency column: the amount's £ says GBP; without it, the organisation's base.
    assert plain.record.currency == "GBP"
    assert (plain.record.total, plain.record.amount_due, plain.record.status) == (
        123450,
        123450,
        "open",
    )
    assert plain.record.issue_date is None
    assert (zero.record.currency, zero.record.status) == ("EUR", "paid")


def test_statuses_and_amount_due():
    checked = invoice_rows(
        [
            row("INV-1", status="PAID"),
            row("INV-2", status="Voided", balance="120.00"),
            row("INV-3", status="Awaiting payment"),
            row("INV-4", status="Open", balance="0.00"),
            row("INV-5", balance="0"),
            row("INV-6", balance="50"),
            row("INV-7", status="Cancelled"),
        ]
    )
    assert [(c.record.status, c.record.amount_due) for c in checked] == [
        ("paid", 0),
        ("voided", 0),
        ("open", 12000),
        ("paid", 0),
        ("paid", 0),
        ("open", 5000),
        ("voided", 0),
    ]


def test_zero_decimal_currency():
    [checked] = invoice_rows([row(currency="JPY", total="¥1,234", balance="1,000")])
    assert (checked.record.total, checked.record.amount_due) == (1234, 1000)


def test_currency_in_lower_case_or_as_a_symbol():
    [a, b] = invoice_rows([row("INV-1", currency="eur"), row("INV-2", currency="£")])
    assert (a.record.currency, b.record.currency) == ("EUR", "GBP")


# --- invoices: every problem -----------------------------------------------------------------


def test_every_invoice_problem_with_its_row_and_words():
    checked = invoice_rows(
        [
            row("INV-1", total="-12.00"),  # 2
            row("INV-2", total="twelve"),  # 3
            row("INV-3", currency="XYZ"),  # 4
            row("INV-4", account="NOPE"),  # 5
            row("", due=""),  # 6
            row("INV-6", total=""),  # 7
            row("INV-7", due="31/02/2026"),  # 8
            row("INV-8", issued="30/04/2026", due="01/04/2026"),  # 9
            row("INV-9", balance="150.00"),  # 10
            row("INV-10", currency="JPY", total="12.5"),  # 11
            row("INV-11", status="Disputed"),  # 12
            row("INV-12", status="Paid", balance="12.00"),  # 13
            row("INV-13", currency="GBP", total="USD 12.00"),  # 14
            row("INV-14", account=""),  # 15
            row("inv-1"),  # 16
            row("INV-16", due="04/25/2026"),  # 17
            row("INV-17", balance="(5.00)"),  # 18
            row("INV-18", issued="yesterday"),  # 19
            row("INV-19", reference="R" * 256),  # 20
            row("INV-20", total="0.125"),  # 21
        ]
    )
    assert all(c.record is None for c in checked)
    assert reasons(checked) == [
        (2, "Amount", "Amount '-12.00' is negative"),
        (3, "Amount", "Amount 'twelve' is not a number"),
        (4, "Currency", "Currency 'XYZ' is not a currency code"),
        (5, "Customer code", "Customer code NOPE is not among your customers"),
        (6, "Invoice number", "No invoice number"),
        (6, "Due date", "No due date"),
        (7, "Amount", "No amount"),
        (8, "Due date", "Due date '31/02/2026' is not a real date"),
        (9, "Due date", "Due date 2026-04-01 is before the issue date 2026-04-30"),
        (10, "Amount due", "Amount due GBP 150.00 is more than the total GBP 120.00"),
        (11, "Amount", "Amount '12.5' has decimals, but JPY has none"),
        (12, "Status", "Status 'Disputed' is not one we know: use Open, Paid or Void"),
        (13, "Status", "Status is 'Paid' but the amount due is GBP 12.00"),
        (14, "Amount", "Amount 'USD 12.00' is in USD, but the invoice's currency is GBP"),
        (15, "Customer code", "No customer code"),
        (16, "Invoice number", "Invoice number inv-1 appears again on row 16 (first on row 2)"),
        (
            17,
            "Due date",
            "Due date '04/25/2026' is not a day/month/year date, which is the file's date order",
        ),
        (18, "Amount due", "Amount due '(5.00)' is negative"),
        (19, "Issue date", "Issue date 'yesterday' is not a date"),
        (20, "Reference", "Reference is 256 characters long: at most 255 fit"),
        (21, "Amount", "Amount '0.125' has more decimal places than GBP allows (2)"),
    ]


def test_a_duplicate_names_the_first_row_in_the_file(tmp_path):
    rows = [["Invoices to import"], ["Invoice #", "Customer code", "Due", "Amount"]]
    rows += [[f"INV-{n}", "ACME", "2026-04-30", "10"] for n in range(12, 66)]  # rows 3..56
    rows += [["INV-12", "ACME", "2026-04-30", "10"], ["INV-12", "ACME", "2026-05-30", "10"]]
    sheet = open_sheet(write_csv(tmp_path / "f.csv", rows))
    checked = list(
        validate_invoices(
            sheet,
            guess_mapping(sheet.headers, INVOICES),
            known_customer_codes=CODES,
            base_currency="GBP",
            date_order=None,
        )
    )
    assert len(checked) == 56
    assert reasons(checked) == [
        (57, "Invoice number", "Invoice number INV-12 appears again on row 57 (first on row 3)"),
        (58, "Invoice number", "Invoice number INV-12 appears again on row 58 (first on row 3)"),
    ]


# --- dates -----------------------------------------------------------------------------------


def test_an_ambiguous_date_is_a_problem_when_nothing_tells_the_order():
    checked = invoice_rows(
        [row("INV-1", issued="", due="03/04/2026"), row("INV-2", issued="", due="2026-04-03")],
        date_order=None,
    )
    assert reasons(checked) == [
        (
            2,
            "Due date",
            "Due date '03/04/2026' could mean 3 April or 4 March: set the file's date order",
        )
    ]
    assert checked[1].record.due_date == date(2026, 4, 3)


@pytest.mark.parametrize(
    ("evidence", "order", "read_as"),
    [("25/04/2026", "DMY", date(2026, 4, 3)), ("04/25/2026", "MDY", date(2026, 3, 4))],
)
def test_one_unambiguous_date_sets_the_order_for_the_whole_file(tmp_path, evidence, order, read_as):
    headers = ["Invoice No", "Account", "Invoice Date", "Due Date", "Total"]
    rows = [headers]
    rows += [[f"INV-{n}", "ACME", "", "03/04/2026", "10"] for n in range(50)]
    rows += [["INV-X", "ACME", evidence, evidence, "10"]]  # the last row shows the order
    for path in (write_csv(tmp_path / "f.csv", rows), write_xlsx(tmp_path / "f.xlsx", rows)):
        sheet = open_sheet(path)
        mapping = guess_mapping(sheet.headers, INVOICES)
        assert infer_date_order(sheet.rows(), mapping) == order
        checked = list(
            validate_invoices(
                sheet, mapping, known_customer_codes=CODES, base_currency="GBP", date_order=None
            )
        )
        assert all(c.ok for c in checked)
        assert checked[0].record.due_date == read_as


def test_dates_that_disagree_leave_the_order_unknown():
    rows = [row("INV-1", issued="25/04/2026", due="25/05/2026"), row("INV-2", due="05/25/2026")]
    mapping = guess_mapping(HEADERS, INVOICES)
    sheet_rows = [SheetRow(n, cells) for n, cells in enumerate(rows, start=2)]
    assert infer_date_order(sheet_rows, mapping) is None
    # Each unambiguous date reads the only way it can; INV-1's issue date '01/04/2026' cannot.
    checked = invoice_rows(rows, date_order=None)
    assert [p.reason for p in checked[1].problems] == [
        "Issue date '01/04/2026' could mean 1 April or 4 January: set the file's date order"
    ]
    assert checked[0].record.due_date == date(2026, 5, 25)


def test_the_persons_date_order_wins():
    [checked] = invoice_rows([row(issued="", due="03/04/2026")], date_order="MDY")
    assert checked.record.due_date == date(2026, 3, 4)
    [checked] = invoice_rows([row(issued="", due="03/04/2026")], date_order="dmy")
    assert checked.record.due_date == date(2026, 4, 3)
    with pytest.raises(ValueError, match="date_order"):
        invoice_rows([row()], date_order="YMD")


def test_inferring_the_order_needs_a_second_pass():
    mapping = guess_mapping(HEADERS, INVOICES)
    with pytest.raises(TypeError, match="infer_date_order"):
        validate_invoices(
            iter([SheetRow(2, row())]),
            mapping,
            known_customer_codes=CODES,
            base_currency="GBP",
            date_order=None,
        )


def test_xlsx_date_cells_and_text_dates(tmp_path):
    from datetime import datetime

    rows = [
        ["Inv No", "Account", "Invoice date", "Due", "Gross"],
        ["INV-1", "ACME", datetime(2026, 4, 3), datetime(2026, 5, 3), 1234.4999999999998],
        ["INV-2", "BETA", "3 Apr 2026", "03/05/2026", 99.99],
    ]
    sheet = open_sheet(write_xlsx(tmp_path / "f.xlsx", rows))
    checked = list(
        validate_invoices(
            sheet,
            guess_mapping(sheet.headers, INVOICES),
            known_customer_codes=CODES,
            base_currency="GBP",
            date_order="DMY",
        )
    )
    assert [(c.record.issue_date, c.record.due_date, c.record.total) for c in checked] == [
        (date(2026, 4, 3), date(2026, 5, 3), 123450),
        (date(2026, 4, 3), date(2026, 5, 3), 9999),
    ]


# --- customers of invoices -------------------------------------------------------------------


def test_customers_by_name_when_the_file_has_no_code_column():
    headers = ["Invoice No", "Customer", "Due Date", "Total"]
    checked = invoice_rows(
        [
            ["INV-1", "Acme Trading Ltd", "2026-04-30", "1"],
            ["INV-2", "ACME TRADING LIMITED", "2026-04-30", "1"],
            ["INV-3", "acme trading", "2026-04-30", "1"],
            ["INV-4", "Beta and Sons", "2026-04-30", "1"],
            ["INV-5", "c-003", "2026-04-30", "1"],  # a code in the name column
            ["INV-6", "Omega Ltd", "2026-04-30", "1"],
            ["INV-7", "", "2026-04-30", "1"],
        ],
        headers,
    )
    assert [c.record.customer_code for c in checked[:5]] == [
        "ACME",
        "ACME",
        "ACME",
        "BETA",
        "C-003",
    ]
    assert reasons(checked) == [
        (7, "Customer", "Customer 'Omega Ltd' is not among your customers"),
        (8, "Customer", "No customer"),
    ]


def test_a_name_that_fits_two_customers_is_a_problem():
    headers = ["Invoice No", "Customer", "Due Date", "Total"]
    sheet_rows = [SheetRow(2, ["INV-1", "Acme", "2026-04-30", "1"])]
    [checked] = validate_invoices(
        sheet_rows,
        guess_mapping(headers, INVOICES),
        known_customer_codes={"A1", "A2"},
        known_customer_names={"Acme Ltd": "A1", "ACME Inc.": "A2"},
        base_currency="GBP",
        date_order="DMY",
    )
    assert [p.reason for p in checked.problems] == [
        "Customer 'Acme' matches more than one of your customers (A1, A2): "
        "add a Customer code column"
    ]


def test_codes_match_exactly_then_ignoring_case_and_the_code_column_comes_first():
    headers = ["Invoice No", "Account", "Customer", "Due Date", "Total"]
    checked = invoice_rows(
        [
            ["INV-1", "acme", "Beta & Sons", "2026-04-30", "1"],
            ["INV-2", "", "Beta & Sons", "2026-04-30", "1"],
        ],
        headers,
        codes={"ACME", "BETA"},
    )
    assert [c.record.customer_code for c in checked] == ["ACME", "BETA"]


# --- 10,000 rows -----------------------------------------------------------------------------


def corrupt(kind: int, cells: list[str], first_number: str) -> list[str]:
    """One row made bad in one way of several; cells: number, code, issued, due, ccy, total, due."""
    cells = list(cells)
    match kind:
        case 0:
            cells[5] = "-12.00"
        case 1:
            cells[5] = "lots"
        case 2:
            cells[4] = "XYZ"
        case 3:
            cells[1] = "NOBODY"
        case 4:
            cells[0] = first_number  # a duplicate of the file's first invoice
        case 5:
            cells[3] = "31/02/2026"
        case 6:
            cells[3] = ""
        case 7:
            cells[6] = "999999.00"
        case 8:
            cells[0] = ""
        case 9:
            cells[3] = "01/01/2020"  # before the issue date
    return cells


def test_ten_thousand_rows_with_exactly_two_hundred_bad_ones(tmp_path):
    chance = random.Random(7)
    bad_indexes = set(chance.sample(range(1, 10_000), 200))
    headers = [
        "Invoice number",
        "Customer code",
        "Invoice date",
        "Due date",
        "Currency",
        "Total",
        "Amount due",
    ]
    start = date(2026, 1, 1)
    rows = [["Aged receivables export"], headers]
    first_row_of_file = 3
    bad_rows = set()
    for index in range(10_000):
        issued = start + timedelta(days=index % 60)
        currency = chance.choice(["GBP", "EUR", ""])
        amounts = ["1,234.50", "99.99", "12", "(0.00)", "7.5"]
        cells = [
            f"INV-{100000 + index}",
            chance.choice(sorted(CODES)),
            issued.strftime("%d/%m/%Y"),
            (issued + timedelta(days=30)).strftime("%d/%m/%Y"),
            currency,
            chance.choice([*amounts, "£99.99"] if currency != "EUR" else [*amounts, "€5"]),
            "",
        ]
        if index in bad_indexes:
            cells = corrupt(len(bad_rows) % 10, cells, "INV-100000")
            bad_rows.add(first_row_of_file + index)
        rows.append(cells)
        if index % 1000 == 0:
            rows.append([])  # blank rows keep the numbering true
            first_row_of_file += 1
    path = write_csv(tmp_path / "big.csv", rows, encoding="cp1252", delimiter=";")

    sheet = open_sheet(path)
    mapping = guess_mapping(sheet.headers, INVOICES)
    tracemalloc.start()
    records = 0
    problem_rows = set()
    for checked in validate_invoices(
        sheet, mapping, known_customer_codes=CODES, base_currency="GBP", date_order=None
    ):
        if checked.record is not None:
            records += 1
        else:
            problem_rows.add(checked.number)
            assert {p.row for p in checked.problems} == {checked.number}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert records == 9_800
    assert problem_rows == bad_rows
    # Streamed: what stays is the invoice numbers seen (about 1 MB), not the rows.
    assert peak < 4 * 1024 * 1024, peak
