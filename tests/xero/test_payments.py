# ruff: noqa: F811 - the chasing tests' fixtures are imported by name below
"""Card payments reconciled end to end on the dev server: signed Stripe webhooks into duely's
web app, the invoices' chase workflows on a real worker, payments written to the Xero sandbox.

The events are built and signed here as Stripe builds and signs them (tests/stripe_webhooks.py);
tests/test_stripe_gateway.py checks that localstripe's own deliveries verify the same way.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import update
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus

from duely.chase.state import ChaseView
from duely.core.db import Database
from duely.core.security import SecretBox
from duely.core.temporal import names
from duely.models import Alert, Event, Invoice, Message, Organisation, Payment, WebhookEvent
from duely.payments import inbox
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.web.app import create_app
from tests.conftest import api_token
from tests.factories import add_customer, add_invoice
from tests.live import forget_this_tests_workflows
from tests.serving import serve, shut
from tests.stripe_webhooks import (
    WEBHOOK_SECRET,
    body_of,
    checkout_completed,
    payment_succeeded,
    refunded,
    signature_header,
)
from tests.waiting import eventually
from tests.xero.test_chasing import (  # noqa: F401 - fixtures, used by name
    connected_tenant,
    open_invoices,
    sync_once,
    synced,
    xero_settings,
)


@pytest.fixture
def chasing_settings(xero_settings):
    return xero_settings


@pytest_asyncio.fixture
async def takes_cards(db, org_a, xero_settings):
    """Org A verifies Stripe webhooks with its own secret and books card payments to the
    sandbox's clearing account (code 615, which accepts payments)."""
    box = SecretBox(xero_settings.resolved_secret_key)
    db.commit()  # a write straight away: SQLite cannot upgrade a stale read while chases write
    db.exec(
        update(Organisation)
        .where(Organisation.id == org_a.id)
        .values(
            stripe_webhook_secret_encrypted=box.encrypt(WEBHOOK_SECRET), payment_accounts="*=615"
        )
    )
    db.commit()


def same_customer_invoices(db, count: int) -> list[Invoice]:
    by_customer = defaultdict(list)
    for invoice in open_invoices(db):
        by_customer[(invoice.customer_id, invoice.currency)].append(invoice)
    for invoices in by_customer.values():
        if len(invoices) >= count:
            return invoices[:count]
    pytest.fail(f"no customer has {count} open invoices in one currency")


def paid_in_full(payment_id: str, org_id: int, invoice: Invoice) -> dict:
    """Stripe's `payment_intent.succeeded` for the whole of what `invoice` owes."""
    return payment_succeeded(
        payment_id,
        invoice.amount_due,
        invoice.currency,
        metadata_for(org_id, [(invoice, invoice.amount_due)]),
    )


def metadata_for(org_id: int, shares: list[tuple[Invoice, int]]) -> dict:
    customer_id = shares[0][0].customer_id
    return to_metadata(
        Allocation(org_id, customer_id, tuple(Share(i.id, amount) for i, amount in shares))
    )


async def deliver(duely, stripe_event: dict, secret: str = WEBHOOK_SECRET, at=None):
    body = body_of(stripe_event)
    return await duely.post(
        "/webhooks/stripe",
        content=body,
        headers={"stripe-signature": signature_header(body, secret, at)},
    )


def ledger_payments(tenant, reference: str) -> list:
    return [p for p in tenant.payments.values() if p.reference == reference]


async def chase_result(client, org_id: int, invoice: Invoice, seconds: float = 60) -> str:
    """The chase's result once it has ended. Polled with describe: a long-polled `result()`
    on a loaded dev server can end in "context deadline exceeded" instead of waiting on."""
    handle = client.get_workflow_handle(names.chase_workflow_id(org_id, invoice.id))

    async def ended() -> bool:
        return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING

    await eventually(ended, f"the chase of {invoice.number} never ended", seconds, every=0.2)
    return await handle.result()


async def test_every_event_three_times_shuffled_gives_one_ledger_payment_per_invoice(
    takes_cards, worker, synced, duely, dev_server_env, smtp_server, db, org_a
):
    tenant, _ = synced
    catcher, _ = smtp_server
    first, second = same_customer_invoices(db, 2)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    shares = [(first, first.amount_due), (second, second.amount_due)]
    total, metadata = sum(a for _, a in shares), metadata_for(org_a.id, shares)
    events = [
        payment_succeeded(payment_id, total, first.currency, metadata),
        checkout_completed(payment_id, total, first.currency, metadata),
    ]
    deliveries = [e for e in events for _ in range(3)]
    random.Random(5).shuffle(deliveries)
    answers = await asyncio.gather(*(deliver(duely, e) for e in deliveries))
    assert [a.status_code for a in answers] == [200] * 6
    assert sum(a.json()["duplicate"] for a in answers) == 4

    client = dev_server_env.client
    assert await chase_result(client, org_a.id, first) == "paid"
    assert await chase_result(client, org_a.id, second) == "paid"
    for invoice in (first, second):
        (written,) = ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}")
        assert written.amount == invoice.amount_due and written.currency == invoice.currency
        assert tenant.invoices[invoice.external_id].status == "PAID"
    assert sum(len(i.payment_ids) for i in tenant.invoices.values() if i.payment_ids) >= 2
    db.expire_all()
    rows = db.exec(select(Payment).where(Payment.external_id == payment_id)).all()
    assert sorted((r.invoice_id, r.status, r.amount) for r in rows) == sorted(
        (i.id, "recorded", a) for i, a in shares
    )
    assert all(db.get(Invoice, i.id).status == "paid" for i in (first, second))
    assert len(db.exec(select(WebhookEvent)).all()) == 2

    # One thank-you for the payment, naming both invoices.
    async def thanked():
        db.expire_all()
        sent = db.exec(select(Message).where(Message.kind == "thank_you")).all()
        return sent if sent and sent[0].status == "sent" else None

    (thanks,) = await eventually(thanked, "no thank-you was sent")
    assert first.number in thanks.body and second.number in thanks.body
    assert any("Thank you for your payment" in r.message["Subject"] for r in catcher.received)
    kinds = db.exec(select(Event.kind).where(Event.invoice_id == first.id)).all()
    assert "payment_recorded" in kinds


async def test_a_part_payment_reduces_what_is_due_and_chasing_goes_on(
    takes_cards, worker, synced, duely, dev_server_env, db, org_a
):
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    due = invoice.amount_due  # the row object itself reloads after expire_all()
    part = due // 2
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    answer = await deliver(
        duely,
        payment_succeeded(
            payment_id, part, invoice.currency, metadata_for(org_a.id, [(invoice, part)])
        ),
    )
    assert answer.status_code == 200 and answer.json()["dispatched"]

    async def recorded():
        db.expire_all()
        row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
        return row if row.status == "recorded" else None

    await eventually(recorded, "the part payment was never recorded")
    assert len(ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}")) == 1
    db.expire_all()
    assert db.get(Invoice, invoice.id).amount_due == due - part
    handle = dev_server_env.client.get_workflow_handle(
        names.chase_workflow_id(org_a.id, invoice.id)
    )

    async def still_chasing():
        view = await handle.query("view", result_type=ChaseView)
        return view if view.amount_due == due - part else None

    view = await eventually(still_chasing, "the chase never heard of the part payment")
    assert view.state == "scheduled"
    assert (await handle.describe()).status.name == "RUNNING"


async def test_a_payment_for_an_invoice_already_paid_in_xero_is_unmatched(
    takes_cards, worker, synced, duely, xero, dev_server_env, db, org_a
):
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    xero.store.update_invoice(tenant.tenant_id, invoice.external_id, {"status": "PAID"})
    payments_before = len(tenant.payments)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    await deliver(duely, paid_in_full(payment_id, org_a.id, invoice))
    assert await chase_result(dev_server_env.client, org_a.id, invoice) == "paid"
    assert len(tenant.payments) == payments_before
    assert ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}") == []
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "unmatched"
    assert "already paid in Xero" in row.reason
    listed = await duely.get(
        "/api/v1/payments",
        params={"status": "unmatched"},
        headers=await api_token(duely, org_a.admin),
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert item["external_id"] == payment_id and "already paid" in item["reason"]


async def test_bad_stale_and_missing_signatures_are_refused(takes_cards, duely, db, org_a):
    (stripe_event,) = [payment_succeeded("pi_forged", 100, "GBP", {"duely_org": str(org_a.id)})]
    forged = await deliver(duely, stripe_event, secret="whsec_someone_else")
    assert forged.status_code == 401 and "does not match" in forged.json()["error"]
    stale = await deliver(duely, stripe_event, at=int(time.time()) - 301)
    assert stale.status_code == 401 and "too old" in forged.json()["error"] + stale.json()["error"]
    body = body_of(stripe_event)
    missing = await duely.post("/webhooks/stripe", content=body)
    assert missing.status_code == 400
    db.expire_all()
    assert db.exec(select(WebhookEvent)).all() == []


async def test_a_burst_of_webhooks_is_answered_at_once_and_kept_once(
    takes_cards, duely, dev_server_env, xero_settings, db, org_a
):
    """Many more webhooks at once than the web app has database connections: each is
    answered and kept, and handed to its chase at once or by the next background round (no
    worker runs, so nothing is placed)."""
    customer = add_customer(db, org_a.id, "Burst Ltd")
    invoices = [add_invoice(db, customer, f"B-{n}", 5, amount=50_00) for n in range(3)]
    events = [
        payment_succeeded(
            f"pi_burst{n:03d}",
            1_00,
            "GBP",
            metadata_for(org_a.id, [(invoices[n % 3], 1_00)]),
        )
        for n in range(60)
    ]
    try:
        answers = await asyncio.gather(*(deliver(duely, e) for e in events))
        assert [a.status_code for a in answers] == [200] * 60, answers[0].text
        at_once = sum(a.json()["dispatched"] for a in answers)
        assert at_once > 0
        db.expire_all()
        kept = db.exec(select(WebhookEvent)).all()
        assert len(kept) == 60
        assert all(row.processed_at or row.last_error for row in kept)
        database = Database(xero_settings.resolved_database_url)
        try:  # what a slow moment left behind, as the worker's round does it
            later = await inbox.dispatch_kept(
                database,
                dev_server_env.client,
                xero_settings.temporal_task_queue,
                older_than=timedelta(0),
            )
        finally:
            await database.dispose()
        assert at_once + later == 60
        db.expire_all()
        assert all(row.processed_at for row in db.exec(select(WebhookEvent)))
        assert len(db.exec(select(Payment).where(Payment.status == "pending")).all()) == 60
    finally:
        await forget_this_tests_workflows(dev_server_env.client)


async def test_an_event_kept_while_temporal_is_down_is_dispatched_later(
    takes_cards,  # before the sync: its chases then write while the test's session would wait
    worker,
    synced,
    xero_settings,
    dev_server_env,
    db,
    org_a,
):
    tenant, _ = synced
    (invoice,) = same_customer_invoices(db, 1)
    cut_off = xero_settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    served = await serve(create_app(cut_off))
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as web:
            answer = await deliver(web, paid_in_full(payment_id, org_a.id, invoice))
    finally:
        await shut(served)
    assert answer.status_code == 200 and answer.json()["dispatched"] is False
    db.expire_all()
    (kept,) = db.exec(select(WebhookEvent)).all()
    assert kept.processed_at is None and kept.last_error

    database = Database(xero_settings.resolved_database_url)
    try:
        done = await inbox.dispatch_kept(
            database,
            dev_server_env.client,
            xero_settings.temporal_task_queue,
            older_than=timedelta(0),
        )
    finally:
        await database.dispose()
    assert done == 1
    assert await chase_result(dev_server_env.client, org_a.id, invoice) == "paid"
    assert len(ledger_payments(tenant, f"duely:{payment_id}:{invoice.id}")) == 1


async def test_a_refund_shows_on_the_timeline_and_raises_an_alert(
    takes_cards, worker, synced, duely, dev_server_env, db, org_a
):
    (invoice,) = same_customer_invoices(db, 1)
    payment_id = f"pi_{uuid.uuid4().hex[:20]}"
    await deliver(duely, paid_in_full(payment_id, org_a.id, invoice))
    assert await chase_result(dev_server_env.client, org_a.id, invoice) == "paid"
    refund = refunded(payment_id, invoice.amount_due, invoice.currency)
    for _ in range(2):
        assert (await deliver(duely, refund)).status_code == 200
    db.expire_all()
    (alert,) = db.exec(select(Alert)).all()
    assert alert.kind == "refund" and alert.invoice_id == invoice.id
    assert "refunded in full" in alert.detail
    events = db.exec(
        select(Event).where(Event.invoice_id == invoice.id, Event.kind == "refund")
    ).all()
    assert len(events) == 1
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "refunded"


async def test_a_payment_made_outside_duely_is_acknowledged_and_left_alone(
    takes_cards, duely, db, org_a
):
    """A business's Stripe account takes other payments too (a shop, a subscription): they
    name no duely invoice, so they are verified, kept and not queued as unmatched."""
    elsewhere = payment_succeeded("pi_shop_order", 2_500, "GBP", {"order": "A-17"})
    answer = await deliver(duely, elsewhere)
    assert answer.status_code == 200 and answer.json()["dispatched"]
    db.expire_all()
    (kept,) = db.exec(select(WebhookEvent)).all()
    assert kept.organisation_id == org_a.id and kept.processed_at is not None
    assert db.exec(select(Payment)).all() == []
