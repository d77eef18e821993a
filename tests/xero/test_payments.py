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
from temporalio.service import RPCError, RPCStatusCode

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


async def handed_to_chases(db, stripe_event: dict) -> WebhookEvent:
    """The kept event once it has been dispatched: that happens just after the answer. Until
    then, an earlier test's ended chase of the same id (ids restart with each test's database)
    would answer for the invoice's chase."""

    async def processed():
        db.expire_all()
        row = db.exec(select(WebhookEvent).where(WebhookEvent.event_id == stripe_event["id"])).one()
        return row if row.processed_at else None

    return await eventually(processed, f"{stripe_event['id']} was never dispatched", 20)


async def deliver_to_chases(duely, db, stripe_event: dict) -> None:
    """Deliver the event and wait until it is handed to the chases, before asking a chase."""
    await deliver(duely, stripe_event)
    await handed_to_chases(db, stripe_event)


def ledger_payments(tenant, reference: str) -> list:
    return [p for p in tenant.payments.values() if p.reference == reference]


async def chase_result(client, org_id: int, invoice: Invoice, seconds: float = 60) -> str:
    """The chase's result once it has ended. Polled with describe: a long-polled `result()`
    on a loaded dev server can end in "context deadline exceeded" instead of waiting on."""
    handle = client.get_workflow_handle(names.chase_workflow_id(org_id, invoice.id))

    async def ended() -> bool:
        try:
            return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING
        except RPCError as error:  # not started yet: the webhook dispatches after its answer
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise

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
    part_paid = payment_succeeded(
        payment_id, part, invoice.currency, metadata_for(org_a.id, [(invoice, part)])
    )
    answer = await deliver(duely, part_paid)
    assert answer.status_code == 200, answer.text
    await handed_to_chases(db, part_paid)

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
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)
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

        async def all_tried():  # each dispatched just after its answer, or kept with why not
            db.expire_all()
            kept = db.exec(select(WebhookEvent)).all()
            return len(kept) == 60 and all(row.processed_at or row.last_error for row in kept)

        await eventually(all_tried, "the kept events were not all tried", 30)
        at_once = len(db.exec(select(WebhookEvent).where(WebhookEvent.processed_at != None)).all())  # noqa: E711
        assert at_once > 0
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
    assert answer.status_code == 200, answer.text

    async def kept_for_later():
        db.expire_all()
        (kept,) = db.exec(select(WebhookEvent)).all()
        return kept if kept.last_error else None

    kept = await eventually(kept_for_later, "the event never said why it waits", 20)
    assert kept.processed_at is None

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
    paid = paid_in_full(payment_id, org_a.id, invoice)
    await deliver_to_chases(duely, db, paid)
    assert await chase_result(dev_server_env.client, org_a.id, invoice) == "paid"
    refund = refunded(payment_id, invoice.amount_due, invoice.currency)
    for _ in range(2):
        assert (await deliver(duely, refund)).status_code == 200
    await handed_to_chases(db, refund)
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
    assert answer.status_code == 200, answer.text
    kept = await handed_to_chases(db, elsewhere)
    assert kept.organisation_id == org_a.id
    assert db.exec(select(Payment)).all() == []


async def test_a_webhook_is_answered_before_its_event_is_dispatched(
    takes_cards, xero_settings, db, org_a
):
    """Temporal that accepts connections but never answers (a stuck engine, a dead load
    balancer): the webhook is kept and answered at once; handing it to the chases happens
    after the answer, never while Stripe waits."""
    customer = add_customer(db, org_a.id, "Stuck Engine Ltd")
    invoice = add_invoice(db, customer, "STUCK-1", 5, amount=40_00)
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    stuck = xero_settings.model_copy(update={"temporal_address": f"127.0.0.1:{port}"})
    served = await serve(create_app(stuck))
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=30) as web:
            started = time.perf_counter()
            answer = await deliver(web, paid_in_full("pi_stuck0001", org_a.id, invoice))
            answered_in = time.perf_counter() - started
        assert answer.status_code == 200, answer.text
        assert answered_in < 1, f"the webhook held Stripe for {answered_in:.1f} s"
        db.expire_all()
        (kept,) = db.exec(select(WebhookEvent)).all()
        assert kept.event_id.startswith("evt_") and kept.processed_at is None

        async def given_up() -> bool:  # the dispatch after the answer meets the stuck engine
            db.expire_all()
            return bool(db.exec(select(WebhookEvent)).one().last_error)

        await eventually(given_up, "the kept event never said why it is not dispatched", 20)
    finally:
        await shut(served)
        silent.close()
