"""The receipts export: an organisation's card payments as CSV for its bookkeeper, read back
with the csv module."""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from duely.models import SheetReceipt
from duely.payments.receipts_export import HEADER, receipts_csv, safe_cell
from tests.factories import add_connection
from tests.spreadsheet_ledger.conftest import customer, saved


def receipt(connection, reference: str, amount: int, currency: str, paid_on: date, **fields):
    fields.setdefault("invoice_number", "INV-1")
    fields.setdefault("customer_code", "C1")
    return SheetReceipt(
        organisation_id=connection.organisation_id,
        connection_id=connection.id,
        reference=reference,
        amount=amount,
        currency=currency,
        paid_on=paid_on,
        **fields,
    )


async def export(database, organisation_id: int, **kwargs) -> list[list[str]]:
    async with database.session() as session:
        assert isinstance(session, AsyncSession)
        text = await receipts_csv(session, organisation_id, **kwargs)
    return list(csv.reader(io.StringIO(text, newline="")))


async def test_receipts_oldest_first_with_their_customers_and_amounts(
    db, org_a, org_b, connection, database
):
    second = add_connection(db, org_a.id, "Alpha, the other books", provider="csv")
    elsewhere = add_connection(db, org_b.id, "Bravo books", provider="csv")
    saved(
        db,
        customer(connection, "C1", name="Acme Ltd"),
        customer(second, "C1", name="Acme Japan KK"),
        receipt(connection, "pi_2:INV-7", 123_456, "GBP", date(2026, 3, 12),
                invoice_number="INV-7"),
        receipt(second, "pi_1:JP-1", 5_000, "JPY", date(2026, 3, 9), invoice_number="JP-1"),
        receipt(connection, "pi_3:INV-8", 5, "GBP", date(2026, 3, 15), invoice_number="INV-8",
                customer_code="C404"),
        receipt(elsewhere, "pi_x:INV-1", 999, "GBP", date(2026, 3, 10)),
    )  # fmt: skip
    rows = await export(database, org_a.id)
    assert rows[0] == list(HEADER) == [
        "Date", "Customer code", "Customer", "Invoice number", "Reference", "Amount", "Currency",
    ]  # fmt: skip
    assert rows[1:] == [
        ["2026-03-09", "C1", "Acme Japan KK", "JP-1", "pi_1:JP-1", "5000", "JPY"],
        ["2026-03-12", "C1", "Acme Ltd", "INV-7", "pi_2:INV-7", "1234.56", "GBP"],
        ["2026-03-15", "C404", "", "INV-8", "pi_3:INV-8", "0.05", "GBP"],
    ]
    since = await export(database, org_a.id, since=date(2026, 3, 12))
    assert [row[4] for row in since[1:]] == ["pi_2:INV-7", "pi_3:INV-8"]
    assert await export(database, org_a.id, since=date(2027, 1, 1)) == [list(HEADER)]


async def test_cells_a_spreadsheet_would_run_as_formulas_are_defused(
    db, org_a, connection, database
):
    saved(
        db,
        customer(connection, "=1+2", name='=HYPERLINK("http://evil.test","Click")'),
        customer(connection, "-7", name="@SUM(A1:A9)"),
        receipt(connection, "+cmd|' /C calc'!A0", 100, "GBP", date(2026, 3, 1),
                customer_code="=1+2", invoice_number="-INV"),
        receipt(connection, "ref-2", 1_000, "KWD", date(2026, 3, 2), customer_code="-7",
                invoice_number="42"),
    )  # fmt: skip
    first, second = (await export(database, org_a.id))[1:]
    assert first == [
        "2026-03-01", "'=1+2", "'=HYPERLINK(\"http://evil.test\",\"Click\")", "'-INV",
        "'+cmd|' /C calc'!A0", "1.00", "GBP",
    ]  # fmt: skip
    assert second == ["2026-03-02", "-7", "'@SUM(A1:A9)", "42", "ref-2", "1.000", "KWD"]


def test_a_plain_number_is_left_alone():
    assert [safe_cell(v) for v in ("-12.50", "+3", "12", "Acme", "", "-", "=")] == [
        "-12.50", "+3", "12", "Acme", "", "'-", "'=",
    ]  # fmt: skip
