"""A QuickBooks connection syncs through duely's own sync activities, as a Xero one does:
every invoice and customer mirrored (counts and amount due equal to the company's), credit
memos and unapplied payments as the customers' credit, and a second sync brings exactly what
changed in QuickBooks since."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlmodel import col, func, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duely.activities.payments import PaymentActivities, PaymentShare
from duely.activities.sync import LedgerSyncActivities, SyncOutcome
from duely.core.db import Database
from duely.core.security import SecretBox
from duely.integrations.ledgers.connections import Ledgers, save_connection
from duely.integrations.ledgers.oauth_tokens import OAuthTokens
from duely.models import (
    Connection,
    ConnectionStatus,
    Credit,
    Customer,
    Invoice,
    InvoiceStatus,
    Provider,
    utcnow,
)
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from duely.sandbox.quickbooks.oauth import TOKEN_PATH
from tests.serving import serve, shut

CLIENT_ID, CLIENT_SECRET = "duely-qb-sync", "duely-qb-sync-secret"


@pytest_asyncio.fixture
async def synced_company(settings, org_a) -> AsyncIterator[tuple]:
    sandbox = QuickBooksSandbox()
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", ["http://127.0.0.1:9/cb"])
    company = sandbox.add_company("Synced Ltd", 1_200, seed=51)
    served = await serve(create_sandbox_app(quickbooks=sandbox))
    base = f"{served.url}/quickbooks"
    settings = settings.model_copy(
        update={
            "quickbooks_client_id": CLIENT_ID,
            "quickbooks_client_secret": CLIENT_SECRET,
            "quickbooks_token_url": f"{base}{TOKEN_PATH}",
            "quickbooks_api_url": base,
        }
    )
    database = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, database)
    answer = sandbox.connect(CLIENT_ID, company.realm_id)
    tokens = OAuthTokens(
        answer.access_token, answer.refresh_token, utcnow() + timedelta(seconds=answer.expires_in)
    )
    async with database.session() as session:
        connection = await save_connection(
            session,
            SecretBox(settings.resolved_secret_key),
            organisation_id=org_a.id,
            provider=Provider.QUICKBOOKS,
            tenant_id=company.realm_id,
            tenant_name=company.name,
            tokens=tokens,
        )
    sync = LedgerSyncActivities(settings, database, ledgers)
    try:
        yield (
            sandbox,
            company,
            connection,
            sync,
            PaymentActivities(settings, database, ledgers, None),
        )
    finally:
        await ledgers.aclose()
        await database.dispose()
        await shut(served)


async def sync_once(sync: LedgerSyncActivities, connection_id: int) -> None:
    env = ActivityEnvironment()
    plan = await env.run(sync.begin_sync, connection_id)
    contacts = await env.run(sync.sync_contacts, plan)
    invoices = await env.run(sync.sync_invoices, plan)
    await env.run(sync.finish_sync, SyncOutcome(plan.run_id, plan.full, contacts, invoices))


async def test_a_quickbooks_company_is_mirrored_whole(synced_company, db):
    sandbox, company, connection, sync, _ = synced_company
    await sync_once(sync, connection.id)

    db.expire_all()
    count, due = db.exec(
        select(func.count(), func.sum(Invoice.amount_due)).where(
            Invoice.connection_id == connection.id, Invoice.status == InvoiceStatus.OPEN
        )
    ).one()
    owing = [i for i in company.invoices.values() if i.balance > 0 and not i.voided]
    assert (count, due) == (len(owing), sum(i.balance for i in owing))
    customers = db.exec(select(Customer).where(Customer.connection_id == connection.id)).all()
    assert {c.external_id for c in customers} >= {i.customer_id for i in owing}
    credit = {c.external_id: c.remaining for c in db.exec(select(Credit)).all()}
    memos = {m.id: m.balance for m in company.credit_memos.values() if m.balance > 0}
    assert memos and set(memos.items()) <= set(credit.items())


async def test_a_second_sync_brings_what_changed_in_quickbooks_since(synced_company, db):
    sandbox, company, connection, sync, _ = synced_company
    await sync_once(sync, connection.id)
    sandbox.clock.advance(5)
    owing = [i for i in company.invoices.values() if i.balance > 0 and not i.voided][:5]
    for invoice in owing:
        sandbox.store.pay_in_full(company.realm_id, invoice.id)

    await sync_once(sync, connection.id)

    db.expire_all()
    paid = db.exec(select(Invoice).where(col(Invoice.external_id).in_([i.id for i in owing]))).all()
    assert {i.status for i in paid} == {InvoiceStatus.PAID} and len(paid) == 5


async def test_a_card_payment_is_placed_in_quickbooks_once(synced_company, db, org_a):
    """What a chase does with a card payment (the place_payment activity), on an invoice that
    QuickBooks holds: recorded there once, the mirror following at once."""
    sandbox, company, connection, sync, payments = synced_company
    await sync_once(sync, connection.id)
    db.expire_all()
    invoice = db.exec(
        select(Invoice)
        .where(Invoice.connection_id == connection.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.id)
    ).first()
    due = invoice.amount_due
    share = PaymentShare(org_a.id, invoice.id, "pi_qb_card_1", 1_000, invoice.currency, "")
    env = ActivityEnvironment()

    placed = await env.run(payments.place_payment, share)
    again = await env.run(payments.place_payment, share)

    assert (placed.outcome, placed.amount_due) == ("recorded", due - 1_000)
    assert again.outcome == "already recorded"
    in_quickbooks = company.invoices[invoice.external_id]
    assert in_quickbooks.balance == due - 1_000
    linked = [
        p
        for p in company.payments.values()
        if any(line.txn_id == in_quickbooks.id for line in p.lines)
    ]
    assert len(linked) == 1


async def test_an_invoice_deleted_in_quickbooks_is_voided_at_the_next_sync(synced_company, db):
    """The change feed (CDC) tells of deletions, which no query can: the invoice is voided in
    duely (its chase then ends), the others are left as they are."""
    sandbox, company, connection, sync, _ = synced_company
    await sync_once(sync, connection.id)
    sandbox.clock.advance(5)
    gone = next(i for i in company.invoices.values() if i.balance > 0 and not i.linked)
    sandbox.store.delete_invoice(company.realm_id, {"Id": gone.id})

    await sync_once(sync, connection.id)

    db.expire_all()
    mirrored = db.exec(select(Invoice).where(Invoice.external_id == gone.id)).one()
    assert (mirrored.status, mirrored.amount_due, mirrored.number) == (
        InvoiceStatus.VOIDED,
        0,
        gone.doc_number,  # what duely knew of it stays
    )
    still_open = db.exec(
        select(func.count()).where(
            Invoice.connection_id == connection.id, Invoice.status == InvoiceStatus.OPEN
        )
    ).one()
    assert still_open == len([i for i in company.invoices.values() if i.balance > 0])


async def test_a_revoked_quickbooks_grant_asks_for_a_reconnect_and_stops_syncing(
    synced_company, db
):
    """Disconnected in QuickBooks: the next sync's refresh is refused, the connection waits
    for an admin to reconnect (saying so), and later syncs skip it instead of failing."""
    sandbox, company, connection, sync, _ = synced_company
    await sync_once(sync, connection.id)
    (grant,) = [g for g in sandbox.identity.state.grants.values() if g.client_id == CLIENT_ID]
    sandbox.identity.revoke_grant(grant.grant_id)
    sandbox.identity.expire_access_tokens(grant.grant_id)

    env = ActivityEnvironment()
    plan = await env.run(sync.begin_sync, connection.id)
    with pytest.raises(ApplicationError, match="Reconnect to QuickBooks"):
        await env.run(sync.sync_contacts, plan)

    db.expire_all()
    stored = db.get(Connection, connection.id)
    assert stored.status == ConnectionStatus.NEEDS_RECONNECT
    assert "Reconnect to QuickBooks" in stored.last_error
    skipped = await env.run(sync.begin_sync, connection.id)
    assert "Reconnect to QuickBooks" in skipped.skip_reason


async def test_a_customer_made_inactive_in_quickbooks_is_still_read(synced_company, db):
    """QuickBooks leaves inactive customers out of a query that does not name Active: a
    customer renamed and made inactive must still reach duely, or it keeps the old name."""
    sandbox, company, connection, sync, _ = synced_company
    await sync_once(sync, connection.id)
    sandbox.clock.advance(5)
    customer = next(iter(company.customers.values()))
    sandbox.store.update_customer(
        company.realm_id,
        {"Id": customer.id, "DisplayName": "Renamed Then Closed Ltd", "Active": False},
        check_token=False,
    )

    await sync_once(sync, connection.id)

    db.expire_all()
    mirrored = db.exec(select(Customer).where(Customer.external_id == customer.id)).one()
    assert mirrored.name == "Renamed Then Closed Ltd"
