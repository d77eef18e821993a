"""The card payments duely took for a spreadsheet organisation, as a file for its bookkeeper.

An organisation that imports its invoices from spreadsheets has no ledger duely can write to:
each card payment is kept as a receipt in duely (the spreadsheet ledger) and taken off the
invoice there. This export lists those receipts, oldest first, one a line, with the customer's
code and name, the invoice number, duely's payment reference, the amount and its currency.

The bookkeeper imports the file into their own books as customer receipts (most accounting
packages import receipts from CSV), matching each to its invoice by number, and so books the
money where it belongs. The next spreadsheet of invoices they export from their books and
import into duely then already includes those payments in what each invoice still owes.

A cell that a spreadsheet would read as a formula (one starting with =, +, - or @, other than
a plain number) is written with a leading apostrophe, so opening the file runs nothing.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.money import to_major
from duely.models import Connection, Provider, SheetCustomer, SheetReceipt

HEADER = ("Date", "Customer code", "Customer", "Invoice number", "Reference", "Amount", "Currency")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def safe_cell(value: str) -> str:
    """The value as a spreadsheet may open it: a would-be formula gets a leading apostrophe."""
    if value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


async def receipts_csv(
    session: AsyncSession, organisation_id: int, *, since: date | None = None
) -> str:
    """The organisation's receipts (all of its spreadsheet connections), paid on or after
    `since` when given, oldest first, as CSV text with a header row."""
    query = (
        select(SheetReceipt, SheetCustomer.name)
        .join(Connection, col(Connection.id) == col(SheetReceipt.connection_id))
        .outerjoin(
            SheetCustomer,
            (col(SheetCustomer.connection_id) == col(SheetReceipt.connection_id))
            & (col(SheetCustomer.code) == col(SheetReceipt.customer_code)),
        )
        .where(
            SheetReceipt.organisation_id == organisation_id,
            Connection.organisation_id == organisation_id,
            Connection.provider == Provider.CSV,
        )
        .order_by(col(SheetReceipt.paid_on), col(SheetReceipt.created_at), col(SheetReceipt.id))
    )
    if since is not None:
        query = query.where(col(SheetReceipt.paid_on) >= since)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for receipt, customer_name in (await session.exec(query)).all():
        amount = to_major(receipt.amount, receipt.currency)
        writer.writerow(
            safe_cell(value)
            for value in (
                receipt.paid_on.isoformat(),
                receipt.customer_code,
                customer_name or "",
                receipt.invoice_number,
                receipt.reference,
                f"{amount:f}",
                receipt.currency,
            )
        )
    return out.getvalue()
