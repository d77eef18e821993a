"""The demo's example spreadsheets import cleanly, and the same day gives the same rows."""

from __future__ import annotations

from collections import Counter
from datetime import date

from duely.spreadsheets import (
    CUSTOMERS,
    INVOICES,
    guess_mapping,
    missing_required,
    open_sheet,
    validate_customers,
    validate_invoices,
    write_example,
)
from duely.spreadsheets.example import CUSTOMER_COUNT, INVOICE_COUNT

TODAY = date(2026, 4, 3)


def test_example_customers_and_invoices_import_without_a_problem(tmp_path):
    customers_sheet = open_sheet(write_example(tmp_path / "customers.csv", "customers"))
    mapping = guess_mapping(customers_sheet.headers, CUSTOMERS)
    assert missing_required(mapping, CUSTOMERS) == []
    customers = list(validate_customers(customers_sheet, mapping))
    assert len(customers) == CUSTOMER_COUNT == 40
    assert all(c.ok for c in customers)
    codes = {c.record.code for c in customers}
    names = {c.record.name: c.record.code for c in customers}

    invoices_sheet = open_sheet(write_example(tmp_path / "invoices.xlsx", INVOICES, today=TODAY))
    assert invoices_sheet.format == "xlsx"
    assert invoices_sheet.header_row == 3  # below a title row and a blank one
    mapping = guess_mapping(invoices_sheet.headers, INVOICES)
    assert missing_required(mapping, INVOICES) == []
    invoices = list(
        validate_invoices(
            invoices_sheet,
            mapping,
            known_customer_codes=codes,
            known_customer_names=names,
            base_currency="GBP",
            date_order=None,
        )
    )
    assert len(invoices) == INVOICE_COUNT == 150
    assert [p for c in invoices for p in c.problems] == []
    records = [c.record for c in invoices]
    statuses = Counter(r.status for r in records)
    assert statuses["open"] > 80 and statuses["paid"] > 20
    assert {r.currency for r in records} == {"GBP", "EUR", "USD"}
    assert any(r.due_date < TODAY and r.status == "open" for r in records)
    assert any(r.due_date >= TODAY and r.status == "open" for r in records)
    assert any(0 < r.amount_due < r.total for r in records)
    assert all(r.issue_date < TODAY for r in records)
    assert len({r.customer_code for r in records}) > 30


def test_the_same_day_gives_the_same_rows(tmp_path):
    def rows(name, today):
        sheet = open_sheet(write_example(tmp_path / name, "invoices", today=today))
        return [row.cells for row in sheet.rows()]

    assert rows("a.xlsx", TODAY) == rows("b.xlsx", TODAY)
    later = rows("c.xlsx", date(2026, 5, 3))
    assert later != rows("a.xlsx", TODAY)
    assert [r[0] for r in later] == [r[0] for r in rows("a.xlsx", TODAY)]
    customers = tmp_path / "c1.csv", tmp_path / "c2.csv"
    assert write_example(customers[0], CUSTOMERS).read_bytes() == (
        write_example(customers[1], CUSTOMERS).read_bytes()
    )
