"""Card payments placed in the spreadsheet ledger: one receipt per reference (even for two
writers at once), refusals answered rather than raised, the invoice's amount due lowered once
and stamped for the next sync; reached through Ledgers.open and the placing path."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from duely.core.db import Database
from duely.integrations.ledgers.base import (
    LedgerRejected,
    PaymentToRecord,
    RecordedPayment,
    record_once,
)
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.ledgers.spreadsheet import SpreadsheetLedger
from duely.payments.placing import ALREADY_RECORDED, RECORDED, UNMATCHED, Share, place_together
from tests.spreadsheet_ledger.conftest import (
    STAMP,
    customer,
    invoice,
    invoice_row,
    receipts,
    saved,
)


def payment(number: str, amount: int, reference: str, currency: str = "GBP") -> PaymentToRecord:
    return PaymentToRecord(
        invoice_external_id=number,
        amount=amount,
        currency=currency,
        paid_on=date(2026, 3, 10),
        reference=reference,
        idempotency_key=reference,
    )


async def test_a_payment_is_recorded_once_and_lowers_what_is_due_once(db, connection, ledger):
    saved(db, customer(connection, "C1"), invoice(connection, "INV-1", total=10_000))
    first = await record_once(ledger, payment("INV-1", 4_000, "pi_1:INV-1"))
    again = await record_once(ledger, payment("INV-1", 4_000, "pi_1:INV-1"))
    assert first == RecordedPayment(first.external_id)
    assert again == RecordedPayment(first.external_id, already_recorded=True)
    # Written again without the lookup (a lost answer): the same receipt, nothing changed.
    (written,) = await ledger.record_payments([payment("INV-1", 4_000, "pi_1:INV-1")], "k")
    assert written == RecordedPayment(first.external_id, already_recorded=True)

    row = invoice_row(db, connection, "INV-1")
    assert (row.amount_due, row.status) == (6_000, "open")
    assert row.updated_at > STAMP  # the next sync mirrors it
    (receipt,) = receipts(db, connection)
    assert str(receipt.id) == first.external_id
    assert (receipt.reference, receipt.invoice_number, receipt.customer_code) == (
        "pi_1:INV-1", "INV-1", "C1",
    )  # fmt: skip
    assert (receipt.amount, receipt.currency, receipt.paid_on) == (4_000, "GBP", date(2026, 3, 10))
    assert receipt.organisation_id == connection.organisation_id
    assert await ledger.find_payments(["pi_1:INV-1", "pi_2:INV-1"]) == {
        "pi_1:INV-1": first.external_id
    }

    rest = await record_once(ledger, payment("INV-1", 6_000, "pi_2:INV-1"))
    assert not rest.already_recorded
    row = invoice_row(db, connection, "INV-1")
    assert (row.amount_due, row.status) == (0, "paid")
    (mirrored,) = await ledger.get_invoices(["INV-1"])
    assert (mirrored.amount_due, mirrored.status) == (0, "paid")


async def test_refusals_are_answered_and_write_nothing(db, connection, ledger):
    saved(
        db,
        invoice(connection, "INV-1", total=5_000),
        invoice(connection, "INV-PAID", total=5_000, amount_due=0, status="paid"),
        invoice(connection, "INV-VOID", total=5_000, status="voided"),
    )
    answers = await ledger.record_payments(
        [
            payment("INV-NONE", 100, "r-unknown"),
            payment("INV-1", 5_001, "r-too-much"),
            payment("INV-1", 100, "r-euros", currency="EUR"),
            payment("INV-PAID", 100, "r-paid"),
            payment("INV-VOID", 100, "r-void"),
            payment("INV-1", 0, "r-nothing"),
            payment("INV-1", 5_000, "r-good"),
        ],
        "key",
    )
    *refused, good = answers
    assert all(isinstance(answer, LedgerRejected) for answer in refused)
    reasons = [str(answer) for answer in refused]
    assert "no invoice INV-NONE" in reasons[0]
    assert "more than the GBP 50.00 still due on INV-1" in reasons[1]
    assert "in EUR but INV-1 is in GBP" in reasons[2]
    assert "INV-PAID is paid" in reasons[3]
    assert "INV-VOID is voided" in reasons[4]
    assert isinstance(good, RecordedPayment) and not good.already_recorded
    assert [r.reference for r in receipts(db, connection)] == ["r-good"]
    assert invoice_row(db, connection, "INV-1").amount_due == 0
    assert invoice_row(db, connection, "INV-PAID").updated_at == STAMP
    with pytest.raises(LedgerRejected, match="INV-1 is paid"):
        await record_once(ledger, payment("INV-1", 100, "r-late"))


@pytest.fixture
async def two_writers(settings, connection):
    """Two ledgers on two engines, as two workers would have."""
    engines = [Database(settings.resolved_database_url) for _ in range(2)]
    yield [
        SpreadsheetLedger(engine, connection.id, connection.organisation_id, "Books")
        for engine in engines
    ]
    for engine in engines:
        await engine.dispose()


async def test_two_writers_of_one_payment_at_once_write_one_receipt(db, connection, two_writers):
    saved(db, *(invoice(connection, f"INV-{n}", total=10_000) for n in range(5)))
    for n in range(5):
        one, other = await asyncio.gather(
            *(record_once(w, payment(f"INV-{n}", 2_500, f"pi_{n}")) for w in two_writers)
        )
        assert one.external_id == other.external_id
        assert sorted([one.already_recorded, other.already_recorded]) == [False, True]
        assert invoice_row(db, connection, f"INV-{n}").amount_due == 7_500
    assert len(receipts(db, connection)) == 5

    # Without the lookup first: still one receipt each.
    answers = await asyncio.gather(
        *(w.record_payments([payment("INV-0", 2_500, "pi_again")], "k") for w in two_writers)
    )
    assert sorted(a.already_recorded for (a,) in answers) == [False, True]
    assert invoice_row(db, connection, "INV-0").amount_due == 5_000
    assert len(receipts(db, connection)) == 6


async def test_two_payments_at_once_cannot_take_more_than_is_due(db, connection, two_writers):
    saved(db, invoice(connection, "INV-1", total=10_000))
    answers = await asyncio.gather(
        *(
            w.record_payments([payment("INV-1", 6_000, f"pi_{n}")], "k")
            for n, w in enumerate(two_writers)
        )
    )
    outcomes = sorted(type(a).__name__ for (a,) in answers)
    assert outcomes == ["LedgerRejected", "RecordedPayment"]
    assert invoice_row(db, connection, "INV-1").amount_due == 4_000
    assert len(receipts(db, connection)) == 1


async def test_ledgers_open_a_csv_connection_as_the_spreadsheet_ledger(
    settings, db, connection, database
):
    saved(db, invoice(connection, "INV-1"))
    ledgers = Ledgers(settings, database)
    try:
        ledger = ledgers.open(connection)
        assert isinstance(ledger, SpreadsheetLedger)
        assert [i.number for i in await ledger.get_invoices(["INV-1"])] == ["INV-1"]
        assert (await ledger.organisation()).name == connection.tenant_name
    finally:
        await ledgers.aclose()


async def test_the_placing_path_records_a_card_payment(db, connection, ledger):
    saved(
        db,
        customer(connection, "C1"),
        invoice(connection, "INV-1", total=10_000),
        invoice(connection, "INV-2", total=3_000, amount_due=0, status="paid"),
    )

    def share(number: str, reference: str) -> Share:
        return Share(reference, number, number, 3_000, "GBP", date(2026, 3, 10), "")

    placed, unmatched = await place_together(
        ledger, [share("INV-1", "pi_9:INV-1"), share("INV-2", "pi_9:INV-2")], "csv"
    )
    assert placed.outcome == RECORDED and placed.ledger_payment_id
    assert placed.after is not None and placed.after.amount_due == 7_000
    assert unmatched.outcome == UNMATCHED and "already paid" in unmatched.reason
    assert invoice_row(db, connection, "INV-1").amount_due == 7_000

    (again,) = await place_together(ledger, [share("INV-1", "pi_9:INV-1")], "csv")
    assert again.outcome == ALREADY_RECORDED
    assert again.ledger_payment_id == placed.ledger_payment_id
    assert invoice_row(db, connection, "INV-1").amount_due == 7_000
    assert [r.reference for r in receipts(db, connection)] == ["pi_9:INV-1"]
