"""A spreadsheet (CSV) connection for org_a, rows written straight into its tables, and the
SpreadsheetLedger on an async engine of the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
import pytest_asyncio
from sqlmodel import Session, select

from duely.core.db import Database
from duely.integrations.ledgers.spreadsheet import SpreadsheetLedger
from duely.models import Connection, Provider, SheetCustomer, SheetInvoice, SheetReceipt
from tests.factories import add_connection

STAMP = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def connection(db, org_a) -> Connection:
    return add_connection(db, org_a.id, "Alpha books (spreadsheets)", provider=Provider.CSV)


@pytest_asyncio.fixture
async def database(settings) -> AsyncIterator[Database]:
    engine = Database(settings.resolved_database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def ledger(database, connection) -> SpreadsheetLedger:
    return SpreadsheetLedger(
        database, connection.id, connection.organisation_id, connection.tenant_name
    )


def customer(connection: Connection, code: str, **fields) -> SheetCustomer:
    fields.setdefault("name", f"Customer {code}")
    fields.setdefault("updated_at", STAMP)
    return SheetCustomer(
        organisation_id=connection.organisation_id,
        connection_id=connection.id,
        code=code,
        **fields,
    )


def invoice(connection: Connection, number: str, **fields) -> SheetInvoice:
    fields.setdefault("customer_code", "C1")
    fields.setdefault("due_date", date(2026, 3, 31))
    fields.setdefault("issue_date", date(2026, 3, 1))
    fields.setdefault("currency", "GBP")
    fields.setdefault("total", 10_000)
    fields.setdefault("amount_due", fields["total"])
    fields.setdefault("status", "open")
    fields.setdefault("updated_at", STAMP)
    return SheetInvoice(
        organisation_id=connection.organisation_id,
        connection_id=connection.id,
        number=number,
        **fields,
    )


def saved(db: Session, *rows) -> None:
    db.add_all(rows)
    db.commit()


def invoice_row(db: Session, connection: Connection, number: str) -> SheetInvoice:
    db.rollback()  # a fresh view of what the ledger wrote
    found = db.exec(
        select(SheetInvoice)
        .where(SheetInvoice.connection_id == connection.id, SheetInvoice.number == number)
        .execution_options(populate_existing=True)
    ).one()
    db.rollback()
    return found


def receipts(db: Session, connection: Connection) -> list[SheetReceipt]:
    db.rollback()
    found = list(
        db.exec(
            select(SheetReceipt)
            .where(SheetReceipt.connection_id == connection.id)
            .order_by(SheetReceipt.id)
        ).all()
    )
    db.rollback()
    return found
