# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""Placing card payments when things are not simply fine (issue 11): a configuration problem
is shown to a person instead of being retried as an outage; an invoice no ledger holds is paid
in duely itself; two attempts at one payment never both write; one thank-you per payment.

Real paths throughout: the Xero sandbox over HTTP, signed Stripe webhooks into duely's web app,
chases on a real worker on the dev server, real SMTP; overlapping attempts run the activity in
Temporal's activity test environment, as two workers would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta

import pytest
import pytest_asyncio
from sqlalchemy import update
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from duely.activities.payments import LEDGER_CONFIGURATION, PaymentActivities, PaymentShare
from duely.core.db import Database
from duely.core.temporal import names
from duely.integrations.ledgers.base import LedgerAuthError, LedgerRejected, LedgerUnavailable
from duely.integrations.ledgers.connections import Ledgers
from duely.models import (
    Alert,
    Contact,
    Invoice,
    Message,
    Payment,
    utcnow,
)
from duely.payments.ledger_trouble import what_to_do
from duely.payments.placing import ALREADY_RECORDED, RECORDED, NoPaymentAccount
from duely.payments.placing_claims import CLAIM_LEASE
from duely.sandbox.xero.faults import FaultRule
from tests.conftest import api_token, login
from tests.factories import add_customer, add_invoice
from tests.stripe_webhooks import payment_succeeded, take_cards
from tests.waiting import eventually
from tests.xero.conftest import connect_directly
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    connected_tenant,
    synced,
    xero_settings,
)
from tests.xero.test_payments import (
    chase_result,
    deliver,
    deliver_to_chases,
    handed_to_chases,
    ledger_payments,
    metadata_for,
    paid_in_full,
    same_customer_invoices,
)

PAYS_IN = "615"
"""The sandbox's clearing account, which takes payments in any currency."""


@pytest.fixture
def chasing_settings(xero_settings):
    return xero_settings


@pytest.fixture
def takes_cards(db, org_a, xero_settings):
    take_cards(db, org_a.id, xero_settings, f"*={PAYS_IN}")


@pytest.fixture
def takes_cards_without_an_account(db, org_a, xero_settings):
    """Card payments are taken, but nobody chose the ledger account they are recorded to."""
    take_cards(db, org_a.id, xero_settings, "")


async def place_payment_failures(client, workflow_id: str) -> list:
    """Each failed attempt of the chase's place_payment activity, from the workflow history:
    (attempt, failure type, non-retryable)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    failures = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
            attributes = event.activity_task_failed_event_attributes
            info = attributes.failure.application_failure_info
            failures.append((attributes.retry_state, info.type, info.non_retryable))
    return failures


def section(html: str, section_id: str) -> str:
    return html.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]


async def alert_of(db, kind: str) -> Alert | None:
    db.expire_all()
    return db.exec(select(Alert).where(Alert.kind == kind)).first()


# --- finding 6: a configuration problem is shown to a person, not retried as an outage ------


async def test_missing_payment_account_is_a_configuration_problem_not_retried(
    takes_cards_without_an_account, worker, synced, duely, dev_server_env, db, org_a
):
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)

    async def alerted():
        return await alert_of(db, "ledger_configuration")

    # Within seconds, not after half an hour of retries.
    alert = await eventually(alerted, "no alert about the ledger's configuration", seconds=20)
    assert alert.invoice_id == invoice.id
    assert "no Xero account is set for card payments in" in alert.detail
    assert "Settings > Organisation > Card payments (Stripe)" in alert.detail
    assert "duely tries again by itself every hour" in alert.detail
    assert "the first try after the fix records the payment" in alert.detail
    assert ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}") == []

    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "pending" and row.attempts == 1  # tried once, not retried
    assert "Card payments (Stripe)" in row.reason
    workflow_id = names.chase_workflow_id(org_a.id, invoice.id)
    failures = await place_payment_failures(dev_server_env.client, workflow_id)
    assert [(kind, final) for _, kind, final in failures] == [(LEDGER_CONFIGURATION, True)]

    # The chase holds the payment and tries again in an hour (not at once, not never).
    handle = dev_server_env.client.get_workflow_handle(workflow_id)
    assert (await handle.describe()).status.name == "RUNNING"

    # Integration health shows it as a configuration problem with what to do, not an outage.
    headers = await api_token(duely, org_a.collector)
    health = (await duely.get("/api/v1/integration-health", headers=headers)).json()
    assert health["failing_payments"]["count"] == 0
    (problem,) = health["configuration_problems"]["items"]
    assert problem["external_id"] == payment_id
    assert "Ledger account for card payments" in problem["what_to_do"]
    await login(duely, org_a.collector)  # the page, as a person sees it
    page = (await duely.get("/integrations")).text
    assert payment_id not in section(page, "health-failing-payments")
    configuration = section(page, "health-configuration")
    assert "Ledger account for card payments" in configuration
    assert "tries again by itself every hour" in configuration


async def test_a_revoked_ledger_grant_is_a_configuration_problem_not_retried(
    takes_cards, worker, synced, duely, xero, dev_server_env, db, org_a
):
    tenant, connection = synced
    (invoice,) = same_customer_invoices(db, 1)
    for grant in list(xero.identity.state.grants):
        xero.identity.revoke_grant(grant)
    xero.clock.advance(31 * 60)  # the access token is past its 30 minutes too
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)

    async def alerted():
        return await alert_of(db, "ledger_configuration")

    alert = await eventually(alerted, "no alert about the lost connection", seconds=20)
    assert "Reconnect Xero on the Connections page" in alert.detail
    assert "duely tries again by itself every hour" in alert.detail
    assert ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}") == []
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "pending" and row.attempts == 1
    failures = await place_payment_failures(
        dev_server_env.client, names.chase_workflow_id(org_a.id, invoice.id)
    )
    assert [(kind, final) for _, kind, final in failures] == [(LEDGER_CONFIGURATION, True)]

    headers = await api_token(duely, org_a.collector)
    health = (await duely.get("/api/v1/integration-health", headers=headers)).json()
    (troubled,) = health["connections"]["items"]
    assert troubled["status"] == "needs_reconnect" and troubled["problem"] == "configuration"
    assert "Reconnect Xero" in troubled["what_to_do"]
    assert health["configuration_problems"]["count"] == 1
    assert health["failing_payments"]["count"] == 0


def test_a_contact_missing_in_the_ledger_is_a_configuration_problem():
    """Xero refuses a payment over the invoice's contact (archived, or gone): a person must
    restore it. (The sandbox never refuses a payment for its contact, so this is the rule on
    its own, with Xero's wording.)"""
    for said in ("Unable to assign an Archived contact.", "Contact could not be found"):
        todo = what_to_do(LedgerRejected(said), "xero", "GBP", PAYS_IN)
        assert "restore the contact" in todo and said.rstrip(".") in todo
    assert "Choose the account" in what_to_do(NoPaymentAccount("none"), "xero", "GBP", "")
    assert "Reconnect Xero" in what_to_do(LedgerAuthError("invalid_grant"), "xero", "GBP", "")
    refused = LedgerRejected(
        "Payments can only be made to bank accounts or accounts with payments enabled"
    )
    assert "account 200" in what_to_do(refused, "xero", "GBP", "200")
    # Outages and other refusals are not configuration problems.
    assert what_to_do(LedgerUnavailable("Xero answered 503"), "xero", "GBP", PAYS_IN) == ""
    assert what_to_do(LedgerRejected("Payment amount exceeds"), "xero", "GBP", PAYS_IN) == ""


async def test_a_ledger_outage_stays_retryable(
    takes_cards, worker, synced, duely, xero, dev_server_env, db, org_a
):
    """Two 500s from Xero are retried by Temporal at once: the payment goes in, nobody is
    bothered, nothing is shown as a configuration problem."""
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    xero.faults.replace(
        [FaultRule(path_contains="/Payments", method="GET", remaining=2, fail_with="500")]
    )
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)
    workflow_id = names.chase_workflow_id(org_a.id, invoice.id)
    assert await chase_result(dev_server_env.client, org_a.id, invoice) == "paid"
    assert len(ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}")) == 1
    failures = await place_payment_failures(dev_server_env.client, workflow_id)
    assert failures == []  # retried within the activity, never failed to the chase
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert (row.status, row.attempts, row.reason) == ("recorded", 3, "")
    assert db.exec(select(Alert)).all() == []


# --- finding 7: an invoice no ledger holds takes a card payment in duely itself -------------


@pytest.fixture
def imported_invoice(db, org_a, takes_cards) -> Invoice:
    """An invoice imported from a file: no ledger connection."""
    customer = add_customer(db, org_a.id, f"File Import {uuid.uuid4().hex[:6]}")
    db.add(
        Contact(
            organisation_id=org_a.id,
            customer_id=customer.id,
            first_name="Fran",
            email="fran@file-import.test",
        )
    )
    db.commit()
    return add_invoice(db, customer, "CSV-17", 10, amount=123_45)


async def test_card_payment_on_invoice_without_ledger_connection_is_recorded(
    imported_invoice, worker, duely, dev_server_env, xero_settings, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    invoice = imported_invoice
    assert invoice.connection_id is None
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    paid = paid_in_full(payment_id, org_a.id, invoice)
    assert (await deliver(duely, paid)).status_code == 200
    # Handed to the chase after the answer; until then an earlier test's ended chase of the
    # same id (ids restart with each test's database) would answer for it.
    await handed_to_chases(db, paid)

    # The chase proceeds: recorded in duely, the invoice paid, the customer thanked.
    assert await chase_result(dev_server_env.client, org_a.id, invoice, 30) == "paid"
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert (row.status, row.amount, row.attempts) == ("recorded", 123_45, 1)
    after = db.get(Invoice, invoice.id)
    assert (after.amount_due, after.status) == (0, "paid")

    async def thanked():
        return [r for r in catcher.received if "Thank you for your payment" in r.message["Subject"]]

    (thanks,) = await eventually(thanked, "no thank-you reached the mail server")
    assert thanks.recipients == ["fran@file-import.test"]
    assert "CSV-17" in thanks.message.get_body(("plain",)).get_content()

    # Idempotent: the same share placed again (a retry, a second chase) changes nothing.
    database = Database(xero_settings.resolved_database_url)
    ledgers = Ledgers(xero_settings, database)
    try:
        activities = PaymentActivities(xero_settings, database, ledgers, None)
        share = PaymentShare(org_a.id, invoice.id, payment_id, 123_45, "GBP", utcnow().isoformat())
        again = await ActivityEnvironment().run(activities.place_payment, share)
    finally:
        await ledgers.aclose()
        await database.dispose()
    assert (again.outcome, again.amount_due, again.status) == (ALREADY_RECORDED, 0, "paid")
    db.expire_all()
    assert db.get(Invoice, invoice.id).amount_due == 0
    assert len(db.exec(select(Payment).where(Payment.external_id == payment_id)).all()) == 1
    # A webhook delivered again is a duplicate: still one thank-you.
    assert (await deliver(duely, paid)).status_code == 200
    await asyncio.sleep(1)  # letting time pass is the point: a second thank-you would be here
    assert len(await thanked()) == 1


async def test_a_part_payment_without_a_ledger_leaves_the_rest_due(
    imported_invoice, worker, duely, dev_server_env, db, org_a
):
    invoice = imported_invoice
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    metadata = metadata_for(org_a.id, [(invoice, 100_00)])
    await deliver(duely, payment_succeeded(payment_id, 100_00, "GBP", metadata))

    async def recorded():
        db.expire_all()
        row = db.exec(select(Payment).where(Payment.external_id == payment_id)).first()
        return row if row and row.status == "recorded" else None

    await eventually(recorded, "the part payment was never recorded")
    db.expire_all()
    after = db.get(Invoice, invoice.id)
    assert (after.amount_due, after.status) == (23_45, "open")

    # More than is left is unmatched, for a person, and changes nothing.
    too_much = f"pi_{uuid.uuid4().hex[:20]}"
    metadata = metadata_for(org_a.id, [(invoice, 50_00)])
    await deliver(duely, payment_succeeded(too_much, 50_00, "GBP", metadata))

    async def unmatched():
        db.expire_all()
        row = db.exec(select(Payment).where(Payment.external_id == too_much)).first()
        return row if row and row.status == "unmatched" else None

    row = await eventually(unmatched, "the payment of more than is due was not unmatched")
    assert "more than the GBP 23.45 still due on CSV-17" in row.reason
    assert db.get(Invoice, invoice.id).amount_due == 23_45


# --- finding 8: overlapping attempts at one payment write once ------------------------------


@pytest_asyncio.fixture
async def mirrored(xero, xero_settings, org_a, db):
    """A connected tenant whose first open invoices duely holds, as a sync leaves them; card
    payments are booked to the clearing account."""
    tenant = xero.add_tenant("Overlap Ltd", 40, seed=41)
    connection = await connect_directly(xero, xero_settings, org_a.id, tenant, "duely-test")
    take_cards(db, org_a.id, xero_settings, f"*={PAYS_IN}")
    opened = [
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == "AUTHORISED" and i.amount_due > 0
    ][:5]
    customer = add_customer(db, org_a.id, "Overlap Customer")
    invoices = []
    for ledger_invoice in opened:
        invoice = add_invoice(
            db,
            customer,
            ledger_invoice.number,
            5,
            amount=ledger_invoice.amount_due,
            currency=ledger_invoice.currency,
            connection_id=connection.id,
        )
        invoice.external_id = ledger_invoice.invoice_id
        db.commit()
        invoices.append(invoice)
    return tenant, invoices


class Worker:
    """What one worker process holds: its own database pool, ledgers and write queues."""

    def __init__(self, settings) -> None:
        self.db = Database(settings.resolved_database_url)
        self.ledgers = Ledgers(settings, self.db)
        self.activities = PaymentActivities(settings, self.db, self.ledgers, None)

    async def place(self, share: PaymentShare):
        return await ActivityEnvironment().run(self.activities.place_payment, share)

    async def close(self) -> None:
        await self.ledgers.aclose()
        await self.db.dispose()


def share_for(org_id: int, invoice: Invoice, payment_id: str) -> PaymentShare:
    return PaymentShare(
        org_id, invoice.id, payment_id, invoice.amount_due, invoice.currency, utcnow().isoformat()
    )


def received(db, invoice: Invoice, share: PaymentShare, **fields) -> None:
    """The pending payment row, as the Stripe webhook writes it before any chase places it."""
    db.add(
        Payment(
            organisation_id=invoice.organisation_id,
            invoice_id=invoice.id,
            invoice_ref=str(invoice.id),
            customer_id=invoice.customer_id,
            amount=share.amount,
            currency=share.currency,
            source="stripe",
            external_id=share.payment_id,
            **fields,
        )
    )
    db.commit()


async def test_two_overlapping_placements_write_once(mirrored, xero, xero_settings, db, org_a):
    """Two workers place the same part payment at the same time, each in a round with another
    share (so the rounds are composed differently), while Xero is slow to answer: one writes it; the
    other finds the payment claimed, writes nothing and is told to try again when the claim
    runs out; that retry finds the payment recorded."""
    tenant, (paid, other, third, busy_a, busy_b) = mirrored
    # A part payment: the ledger itself would take it twice (a full one it refuses the
    # second time, the invoice being paid by then).
    shared = dataclasses.replace(
        share_for(org_a.id, paid, "pi_overlap"), amount=paid.amount_due // 3
    )
    with_other = share_for(org_a.id, other, "pi_other")
    with_third = share_for(org_a.id, third, "pi_third")
    busy = [share_for(org_a.id, busy_a, "pi_busy_a"), share_for(org_a.id, busy_b, "pi_busy_b")]
    for invoice, share in zip(
        (paid, other, third, busy_a, busy_b), (shared, with_other, with_third, *busy), strict=True
    ):
        received(db, invoice, share)
    # Each worker is busy with a round of its own when the shares arrive, so that each
    # worker's next round takes the shared share together with its companion.
    xero.faults.replace([FaultRule(path_contains="/api.xro/2.0/", method="GET", latency_ms=600)])
    first, second = Worker(xero_settings), Worker(xero_settings)
    try:
        busy = [
            asyncio.create_task(first.place(busy[0])),
            asyncio.create_task(second.place(busy[1])),
        ]

        def both_busy() -> bool:
            """Each worker has claimed its busy share, and so starts its round at once: long
            before a share given to it below (read and claimed first) reaches its queue."""
            db.expire_all()
            ids = ["pi_busy_a", "pi_busy_b"]
            rows = db.exec(select(Payment).where(col(Payment.external_id).in_(ids))).all()
            return len(rows) == 2 and all(row.placing_until is not None for row in rows)

        await eventually(both_busy, "the workers never began their busy rounds", every=0.01)
        fates = await asyncio.gather(
            first.place(shared),
            first.place(with_other),
            second.place(shared),
            second.place(with_third),
            return_exceptions=True,
        )
        await asyncio.gather(*busy)
        xero.faults.clear()
        assert len(ledger_payments(tenant, shared.reference)) == 1  # written once
        outcomes = [fates[0], fates[2]]
        (placed,) = [fate for fate in outcomes if not isinstance(fate, BaseException)]
        (waiting,) = [fate for fate in outcomes if isinstance(fate, BaseException)]
        assert placed.outcome == RECORDED
        assert isinstance(waiting, ApplicationError) and waiting.type == "PlacementInProgress"
        assert not waiting.non_retryable
        assert timedelta(0) < waiting.next_retry_delay <= CLAIM_LEASE
        assert fates[1].outcome == RECORDED and fates[3].outcome == RECORDED
        assert len(ledger_payments(tenant, with_other.reference)) == 1
        assert len(ledger_payments(tenant, with_third.reference)) == 1

        # The retry Temporal makes after the delay finds the payment placed: nothing written.
        retried = await second.place(shared)
        assert retried.outcome == ALREADY_RECORDED
        assert len(ledger_payments(tenant, shared.reference)) == 1
    finally:
        await first.close()
        await second.close()
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == "pi_overlap")).one()
    assert (row.status, row.attempts, row.placing_until) == ("recorded", 1, None)


async def test_a_claim_left_by_a_dead_worker_runs_out(mirrored, xero_settings, db, org_a):
    """A worker that died while placing leaves its claim behind: until the claim runs out,
    attempts wait for it; then the next one claims the payment and places it."""
    tenant, (invoice, *_) = mirrored
    share = share_for(org_a.id, invoice, "pi_dead_worker")
    received(db, invoice, share, attempts=1, placing_until=utcnow() + timedelta(seconds=30))
    worker = Worker(xero_settings)
    try:
        with pytest.raises(ApplicationError) as waiting:
            await worker.place(share)
        assert waiting.value.type == "PlacementInProgress"
        assert timedelta(seconds=25) < waiting.value.next_retry_delay <= timedelta(seconds=30)
        assert ledger_payments(tenant, share.reference) == []
        db.exec(
            update(Payment)
            .where(Payment.external_id == share.payment_id)
            .values(placing_until=utcnow() - timedelta(seconds=1))
        )
        db.commit()
        placed = await worker.place(share)
    finally:
        await worker.close()
    assert placed.outcome == RECORDED
    assert len(ledger_payments(tenant, share.reference)) == 1
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == share.payment_id)).one()
    assert (row.status, row.attempts, row.placing_until) == ("recorded", 2, None)


# --- one thank-you per payment, not per invoice ---------------------------------------------


# SQLite only: one of the slowest tests; the thank-you's claim is the message's, tested on both
# databases in tests/test_delivery.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_card_payment_for_two_invoices_sends_one_thank_you(
    takes_cards, worker, synced, duely, dev_server_env, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    first, second = same_customer_invoices(db, 2)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    shares = [(first, first.amount_due), (second, second.amount_due)]
    total = sum(amount for _, amount in shares)
    event = payment_succeeded(payment_id, total, first.currency, metadata_for(org_a.id, shares))
    assert (await deliver(duely, event)).status_code == 200
    await handed_to_chases(db, event)
    client = dev_server_env.client
    assert await chase_result(client, org_a.id, first) == "paid"
    assert await chase_result(client, org_a.id, second) == "paid"

    def thanks() -> list:
        return [r for r in catcher.received if "Thank you for your payment" in r.message["Subject"]]

    async def thanked():
        return thanks()

    await eventually(thanked, "no thank-you reached the mail server")
    # Letting time pass is the point: a second thank-you, if any, would be on its way by now.
    await asyncio.sleep(3)
    db.expire_all()
    (message,) = db.exec(select(Message).where(Message.kind == "thank_you")).all()
    assert message.status == "sent"
    assert first.number in message.body and second.number in message.body
    # Both chases hand the one message to delivery; only one may reach the mail server.
    (email,) = thanks()
    body = email.message.get_body(("plain",)).get_content()
    assert first.number in body and second.number in body
