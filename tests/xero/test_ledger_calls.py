"""The connector's calls against the sandbox: one refresh for many callers, payments written
exactly once, expected payment dates, PDFs, and webhooks."""

import asyncio
from datetime import date, timedelta

import httpx
import pytest
from sqlmodel import update

from duely.core.db import Database
from duely.integrations.ledgers.base import LedgerRejected, PaymentToRecord, record_once
from duely.integrations.ledgers.connections import Ledgers
from duely.models import Connection, utcnow
from duely.sandbox.xero.faults import FaultRule
from duely.web.webhooks.xero import xero_signature
from tests.sandbox.xero_contract import assert_request_matches_spec, require_xero_specs
from tests.xero.conftest import (
    WEBHOOK_KEY,
    connect_through_oauth,
    only_connection,
    wait_for_runs,
)


def refreshes(xero) -> int:
    return sum(1 for t in xero.identity.state.refresh_tokens.values() if t.replaced_at)


def open_invoice(tenant, paid: bool = False):
    return next(
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == "AUTHORISED" and bool(i.amount_paid) == paid
    )


async def expire_in_duely(settings, connection) -> None:
    db = Database(settings.resolved_database_url)
    async with db.session() as session:
        await session.exec(
            update(Connection)
            .where(Connection.id == connection.id)
            .values(token_expires_at=utcnow() - timedelta(minutes=1))
        )
        await session.commit()
    await db.dispose()


async def test_twenty_callers_on_an_expired_token_cause_one_refresh(xero, xero_settings, connected):
    tenant, connection, ledgers = connected
    # A second process's Ledgers: its own in-process lock, so only the database row lock
    # stands between the two.
    other_process = Ledgers(xero_settings, Database(xero_settings.resolved_database_url))
    xero.clock.advance(31 * 60)
    await expire_in_duely(xero_settings, connection)

    callers = [ledgers.open(connection) for _ in range(10)]
    callers += [other_process.open(connection) for _ in range(10)]
    profiles = await asyncio.gather(*(ledger.organisation() for ledger in callers))
    assert {p.name for p in profiles} == {"Ledger Calls Ltd"}
    assert refreshes(xero) == 1
    await other_process.aclose()


async def test_a_token_the_ledger_rejects_is_refreshed_once_and_retried(xero, connected):
    tenant, connection, ledgers = connected
    xero.clock.advance(31 * 60)  # duely still thinks the token is fresh; Xero says 401
    invoices = await ledgers.open(connection).get_invoices(list(tenant.invoices)[:3])
    assert len(invoices) == 3
    assert refreshes(xero) == 1


async def test_payment_lands_once_when_the_response_is_lost(xero, connected):
    tenant, connection, ledgers = connected
    invoice = open_invoice(tenant)
    ledger = ledgers.open(connection)
    payment = PaymentToRecord(
        invoice.invoice_id,
        1000,
        invoice.currency,
        date.today(),
        reference=f"duely:pi_lost:{invoice.invoice_id}",
        idempotency_key=f"pi_lost:{invoice.invoice_id}",
        account_code="090",
    )
    xero.faults.replace(
        [FaultRule(path_contains="/Payments", method="PUT", remaining=1, fail_with="drop")]
    )
    with pytest.raises(Exception, match="Xero unreachable"):
        await record_once(ledger, payment)
    assert (
        len([p for p in tenant.payments.values() if p.reference == payment.reference]) == 1
    )  # written, answer lost
    again = await record_once(ledger, payment)
    assert again.already_recorded
    assert len([p for p in tenant.payments.values() if p.reference == payment.reference]) == 1


async def test_expected_payment_date_and_pdf(xero, connected):
    tenant, connection, ledgers = connected
    ledger = ledgers.open(connection)
    invoice = open_invoice(tenant)
    promised = date.today() + timedelta(days=14)
    await ledger.set_expected_payment_date(invoice.invoice_id, promised)
    assert tenant.invoices[invoice.invoice_id].expected_payment_date == promised
    part_paid = open_invoice(tenant, paid=True)
    with pytest.raises(LedgerRejected, match="payment or credit note allocated"):
        await ledger.set_expected_payment_date(part_paid.invoice_id, promised)
    assert (await ledger.invoice_pdf(invoice.invoice_id)).startswith(b"%PDF")


async def test_xero_webhooks_trigger_a_sync_and_bad_signatures_are_refused(
    xero, worker, duely, db, org_a
):
    tenant = xero.add_tenant("Hooked Ltd", 40, seed=13)
    await connect_through_oauth(duely, org_a.admin)
    connection = only_connection(db)
    await wait_for_runs(db, connection.id, 1)

    report = await xero.webhooks.intent_to_receive("duely-test")
    assert report["passed"], report

    invoice = open_invoice(tenant)
    xero.store.update_invoice(
        tenant.tenant_id,
        invoice.invoice_id,
        {"due_date": invoice.due_date + timedelta(days=7)},
    )
    _, second = await wait_for_runs(db, connection.id, 2)
    assert second.invoices_changed == 1

    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}'
    forged = await duely.post(
        "/webhooks/xero", content=body, headers={"x-xero-signature": xero_signature(body, "wrong")}
    )
    assert forged.status_code == 401
    genuine = await duely.post(
        "/webhooks/xero",
        content=body,
        headers={"x-xero-signature": xero_signature(body, WEBHOOK_KEY)},
    )
    assert genuine.status_code == 200 and genuine.content == b""


async def test_many_callers_keep_under_xeros_five_calls_in_flight(xero, xero_settings, connected):
    """Twenty calls at once on one tenant, each held 200 ms by Xero: duely's limiter keeps them
    under Xero's limit of five in flight (none turned away). A second process has its own
    limiter, so together they can go over: Xero's 429 is waited out and every call succeeds."""
    tenant, connection, ledgers = connected
    xero.faults.replace([FaultRule(path_contains="/Invoices", latency_ms=200)])
    ids = list(tenant.invoices)[:3]

    answers = await asyncio.gather(*(ledgers.open(connection).get_invoices(ids) for _ in range(20)))
    assert all(len(found) == 3 for found in answers)
    assert xero.limiter.refused["concurrent"] == 0

    other_process = Ledgers(xero_settings, Database(xero_settings.resolved_database_url))
    try:
        callers = [ledgers.open(connection) for _ in range(10)]
        callers += [other_process.open(connection) for _ in range(10)]
        answers = await asyncio.gather(*(caller.get_invoices(ids) for caller in callers))
    finally:
        await other_process.aclose()
    assert all(len(found) == 3 for found in answers)
    assert (
        xero.limiter.refused["concurrent"] >= 1
    )  # two limiters of four: Xero said no, once at least


async def test_every_request_beyond_the_sync_matches_xeros_spec(xero, xero_settings, connected):
    """History notes, the aged receivables report and the online invoice (credit and contact
    groups are read by every sync, which test_connect_and_sync checks the same way)."""
    require_xero_specs()
    tenant, connection, _ = connected
    sent: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    database = Database(xero_settings.resolved_database_url)
    http = httpx.AsyncClient(timeout=30, event_hooks={"request": [record]})
    ledger = Ledgers(xero_settings, database, http=http).open(connection)
    invoice = open_invoice(tenant)
    try:
        await ledger.add_notes(invoice.invoice_id, ["duely: First reminder: emailed"], "notes-1")
        await ledger.owed_by(invoice.contact_id, date.today(), invoice.currency)
        assert await ledger.online_invoice_url(invoice.invoice_id)
        await ledger.open_credit()
        await ledger.contact_groups()
    finally:
        await http.aclose()
        await database.dispose()
    paths = {request.url.path.split("/api.xro/2.0", 1)[-1].split("/")[-1] for request in sent}
    assert {"History", "AgedReceivablesByContact", "OnlineInvoice"} <= paths
    for request in sent:
        assert_request_matches_spec(
            request.method,
            request.url.path,
            dict(request.url.params),
            dict(request.headers),
            request.content or None,
        )
