"""A sync page is the ledger as it was when it was read. A card payment placed after that
moment must not be undone by writing the page: the mirror (and the chase told of the change)
would say the invoice is owed again, and a reminder could go out for a paid invoice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import select

from duely.core.db import Database
from duely.integrations.ledgers.base import LedgerInvoice
from duely.ledgers.mirror import Scope, upsert_invoices
from duely.models import Invoice, SyncRun, utcnow
from tests.factories import add_connection, add_customer, add_invoice, add_payment


def as_read(invoice: Invoice, customer_external_id: str) -> LedgerInvoice:
    return LedgerInvoice(
        external_id=invoice.external_id,
        number=invoice.number,
        reference="",
        contact_external_id=customer_external_id,
        contact_name="Stale Reads Ltd",
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.amount_due,
        status=invoice.status,
        expected_payment_date=None,
        updated_at=utcnow() - timedelta(minutes=5),
    )


async def test_a_page_read_before_a_payment_was_placed_does_not_undo_it(settings, db, org_a):
    connection = add_connection(db, org_a.id, "tenant-stale")
    customer = add_customer(db, org_a.id, "Stale Reads Ltd", connection_id=connection.id)
    paid = add_invoice(db, customer, "STALE-1", 3, amount=500_00, connection_id=connection.id)
    other = add_invoice(db, customer, "STALE-2", 3, amount=200_00, connection_id=connection.id)
    run = SyncRun(organisation_id=org_a.id, connection_id=connection.id)
    db.add(run)
    db.commit()
    # The page is read (both invoices owed in full); then the card payment is placed and the
    # mirror follows the ledger at once, as duely.activities.payments does.
    page = [as_read(paid, customer.external_id), as_read(other, customer.external_id)]
    page[1] = replace(page[1], amount_due=150_00)  # a real change the page brings
    add_payment(db, org_a.id, "pi_after_the_read", 500_00, invoice=paid, updated_at=utcnow())
    paid.amount_due, paid.status = 0, "paid"
    db.add(paid)
    db.commit()

    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            changed = await upsert_invoices(
                session, Scope(org_a.id, connection.id), page, run_id=run.id
            )
    finally:
        await database.dispose()
    db.expire_all()
    rows = {i.number: i for i in db.exec(select(Invoice))}
    assert (rows["STALE-1"].amount_due, rows["STALE-1"].status) == (0, "paid")
    assert rows["STALE-1"].synced_run_id is None  # its chase is not told the stale facts
    assert rows["STALE-2"].amount_due == 150_00 and rows["STALE-2"].synced_run_id == run.id
    assert changed == 1
