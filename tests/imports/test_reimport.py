"""What a later spreadsheet does to what earlier ones wrote (duely.ledgers.spreadsheet_imports,
without the workflow): a file that says an invoice is paid or voided updates it; an export made
before a card payment reached the books does not bring back what the customer paid by card."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest_asyncio
from sqlmodel import select

from duely.core.db import Database
from duely.integrations.ledgers.base import PaymentToRecord, record_once
from duely.integrations.ledgers.spreadsheet import SpreadsheetLedger
from duely.ledgers import spreadsheet_imports as imports
from duely.models import ImportStatus, SheetInvoice


def noting(_: int) -> None:
    pass


@pytest_asyncio.fixture
async def database(settings) -> AsyncIterator[Database]:
    db = Database(settings.resolved_database_url)
    yield db
    await db.dispose()


async def imported(database, settings, org_id: int, path: Path, kind: str):
    content = path.read_bytes()  # noqa: ASYNC240 - a test's small file

    async def chunks():
        yield content

    upload = await imports.keep_upload(
        database, settings.home, org_id, kind, path.name, chunks(), "ann@alpha.test"
    )
    checked = await imports.check(database, upload.id, noting)
    assert checked.status == ImportStatus.READY and checked.rows_bad == 0
    return upload, await imports.write(database, upload.id, noting)


def sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


INVOICES = ["Invoice number", "Customer code", "Due date", "Currency", "Total", "Status"]


async def test_a_later_file_marks_invoices_paid_or_voided(database, settings, db, org_a, tmp_path):
    customers = sheet(
        tmp_path / "c.csv", ["Customer code", "Name", "Email"], [["A1", "A Ltd", "a@a.test"]]
    )
    await imported(database, settings, org_a.id, customers, "customers")
    first = [
        ["I-1", "A1", "2027-01-31", "GBP", "100.00", "Open"],
        ["I-2", "A1", "2027-01-31", "GBP", "50.00", "Open"],
    ]
    await imported(
        database, settings, org_a.id, sheet(tmp_path / "1.csv", INVOICES, first), "invoices"
    )
    later = [
        ["I-1", "A1", "2027-01-31", "GBP", "100.00", "Paid"],
        ["I-2", "A1", "2027-01-31", "GBP", "50.00", "Void"],
    ]
    _, written = await imported(
        database, settings, org_a.id, sheet(tmp_path / "2.csv", INVOICES, later), "invoices"
    )

    assert (written.created, written.updated) == (0, 2)
    db.expire_all()
    kept = {i.number: (i.status, i.amount_due) for i in db.exec(select(SheetInvoice))}
    assert kept == {"I-1": ("paid", 0), "I-2": ("voided", 0)}


async def test_an_export_older_than_a_card_payment_does_not_undo_it(
    database, settings, db, org_a, tmp_path
):
    customers = sheet(
        tmp_path / "c.csv", ["Customer code", "Name", "Email"], [["A1", "A Ltd", "a@a.test"]]
    )
    await imported(database, settings, org_a.id, customers, "customers")
    rows = [["I-1", "A1", "2027-01-31", "GBP", "100.00", "Open"]]
    upload, _ = await imported(
        database, settings, org_a.id, sheet(tmp_path / "1.csv", INVOICES, rows), "invoices"
    )
    ledger = SpreadsheetLedger(database, upload.connection_id, org_a.id, "Spreadsheet imports")
    await record_once(
        ledger,
        PaymentToRecord(
            "I-1", 4_000, "GBP", date(2026, 12, 6), "duely:pi_card:1", "duely:pi_card:1"
        ),
    )

    # The bookkeeper's next export was made before they entered the card receipt.
    await imported(
        database, settings, org_a.id, sheet(tmp_path / "2.csv", INVOICES, rows), "invoices"
    )

    db.expire_all()
    (kept,) = db.exec(select(SheetInvoice)).all()
    assert (kept.amount_due, kept.status) == (6_000, "open")
