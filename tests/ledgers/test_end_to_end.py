"""The promises duely makes about a ledger, proved once per ledger it connects (Xero and
QuickBooks), through the real path: the consent page's redirects, duely's web app on a socket,
a worker on Temporal's dev server, the ledger's sandbox over HTTP, real SMTP.

- connecting through the real redirects mirrors the whole company;
- 10,000 invoices sync, with counts and amount-due sums equal to the ledger's;
- 50 changes, then "Sync now", bring exactly those 50;
- a storm of 429s slows a sync but never fails it, and duely stays within the ledger's limits;
- a revoked grant asks for a reconnect, and chasing waits meanwhile;
- a reminder for an open invoice goes out by email;
- an invoice paid in the ledger before its reminder goes is not reminded;
- a card payment lands in the ledger once, even when the worker is SIGKILLed mid-write.
"""

from __future__ import annotations

import random
import signal
import uuid

import pytest
from sqlalchemy import update
from sqlmodel import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.service import RPCError, RPCStatusCode

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.core.money import format_money
from duely.core.security import SecretBox
from duely.core.temporal import names
from duely.ledgers.sync_schedule import request_sync
from duely.models import (
    ChaseMode,
    Connection,
    ConnectionStatus,
    Customer,
    Event,
    Invoice,
    InvoiceStatus,
    Message,
    Organisation,
    Payment,
    SyncStatus,
)
from tests.conftest import api_token, login
from tests.ledgers.conftest import connect_directly
from tests.live import forget_this_tests_workflows
from tests.stripe_webhooks import take_cards
from tests.waiting import eventually
from tests.worker_processes import worker_process
from tests.xero.conftest import only_connection, wait_for_runs
from tests.xero.test_chasing import always_open
from tests.xero.test_payments import chase_result, deliver, paid_in_full

pytestmark = pytest.mark.devserver
ONLY_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
"""For a promise about the ledger, the engine or the worker: PostgreSQL adds minutes to `make
test` and nothing to the proof. The 10,000-invoice sync (bulk upserts) runs on both; the mirror,
the claims and the outbox are tested on both databases in their own folders."""


def chasing(db, org_id: int, mode: ChaseMode) -> None:
    db.commit()  # a write straight away: SQLite cannot upgrade a stale read while others write
    db.exec(update(Organisation).where(Organisation.id == org_id).values(chase_mode=mode))
    db.commit()


def open_invoices(db) -> list[Invoice]:
    db.expire_all()
    query = select(Invoice).where(Invoice.status == InvoiceStatus.OPEN, Invoice.amount_due > 0)
    return list(db.exec(query.order_by(Invoice.id)))


async def synced(client, settings, db, connection: Connection, seconds: float = 60) -> None:
    await request_sync(client, settings, connection)
    [run] = await wait_for_runs(db, connection.id, 1, seconds=seconds)
    assert run.status == SyncStatus.SUCCEEDED, run.error


# --- mirroring ---------------------------------------------------------------------------------


@ONLY_SQLITE
async def test_connecting_through_the_real_redirects_mirrors_the_company(
    ledger, worker, duely, ledger_settings, db, org_a
):
    chasing(db, org_a.id, ChaseMode.OFF)
    company = ledger.add_company("Wattle Widgets Pty Ltd", 400, seed=5, country="AU")
    callback = await ledger.connect_in_duely(duely, org_a.admin)
    assert callback.status_code == 302, callback.text
    assert callback.headers["location"] == "/settings/organisation?connected=1"
    confirm = await duely.get("/settings/organisation?connected=1")
    named = ledger.company_name(company)
    assert f"Connected to {ledger.label} · {named}" in confirm.text
    assert f'value="{named}"' in confirm.text  # the ledger's profile, to confirm
    if ledger.tells_country:
        assert '<option value="AU" selected>' in confirm.text  # where the ledger says it is
    if ledger.zone_of_australia:
        assert f"<option selected>{ledger.zone_of_australia}</option>" in confirm.text

    connection = only_connection(db)
    assert (connection.provider, connection.external_tenant_id) == (
        ledger.provider,
        ledger.tenant_id(company),
    )
    [run] = await wait_for_runs(db, connection.id, 1)
    assert run.status == SyncStatus.SUCCEEDED and run.full
    expected = ledger.mirrored(company)
    assert run.invoices_changed == len(expected)
    mirrored = {i.external_id: i for i in db.exec(select(Invoice)).all()}
    assert mirrored.keys() == expected.keys()
    for external_id in random.Random(1).sample(sorted(expected), 25):
        ours = mirrored[external_id]
        assert (ours.number, ours.due_date, ours.currency, ours.total, ours.amount_due) == (
            expected[external_id].number,
            expected[external_id].due_date,
            expected[external_id].currency,
            expected[external_id].total,
            expected[external_id].amount_due,
        )
    customers = {c.external_id: c for c in db.exec(select(Customer)).all()}
    assert customers.keys() == ledger.customer_ids(company)
    assert all(c.source_updated_at for c in customers.values())  # each with its details

    # Tokens rest encrypted, never in clear.
    stored = only_connection(db)
    access = SecretBox(ledger_settings.resolved_secret_key).decrypt(stored.access_token_encrypted)
    assert access and access not in stored.access_token_encrypted


async def test_ten_thousand_invoices_sync_and_match_the_ledger(
    ledger, worker, dev_server_env, ledger_settings, db, org_a
):
    chasing(db, org_a.id, ChaseMode.OFF)
    company = ledger.add_company("Big Books Ltd", 10_000, seed=99)
    connection = await connect_directly(ledger, ledger_settings, org_a.id, company)
    await synced(dev_server_env.client, ledger_settings, db, connection, seconds=120)
    expected = ledger.mirrored(company)
    count, due = db.exec(select(func.count(), func.sum(Invoice.amount_due))).one()
    assert count == len(expected) > 9000
    assert due == sum(facts.amount_due for facts in expected.values())
    assert not ledger.refused, f"duely went over {ledger.label}'s own limits"


@ONLY_SQLITE
async def test_sync_now_brings_exactly_the_changed_invoices(ledger, worker, duely, db, org_a):
    chasing(db, org_a.id, ChaseMode.OFF)
    company = ledger.add_company("Acme", 600, seed=8)
    await ledger.connect_in_duely(duely, org_a.admin)
    connection = only_connection(db)
    await wait_for_runs(db, connection.id, 1)

    touched = ledger.touch_invoices(company, 50, random.Random(3))
    headers = await api_token(duely, org_a.collector)
    response = await duely.post(f"/api/v1/connections/{connection.id}/sync", headers=headers)
    assert response.status_code == 202
    first, second = await wait_for_runs(db, connection.id, 2)
    assert second.status == SyncStatus.SUCCEEDED and not second.full
    assert second.invoices_changed == 50
    db.expire_all()
    changed = {
        i.external_id
        for i in db.exec(select(Invoice).where(Invoice.synced_run_id == second.id)).all()
    }
    assert changed == touched
    assert second.invoices_seen < first.invoices_seen  # incremental, not everything again


@ONLY_SQLITE
async def test_a_429_storm_slows_the_sync_but_never_fails_it(ledger, worker, duely, db, org_a):
    chasing(db, org_a.id, ChaseMode.OFF)
    company = ledger.add_company("Stormy", 2500, seed=4)
    ledger.storm(0.5)
    await ledger.connect_in_duely(duely, org_a.admin)
    [run] = await wait_for_runs(db, only_connection(db).id, 1, seconds=90)
    assert run.status == SyncStatus.SUCCEEDED, run.error
    assert run.invoices_changed == len(ledger.mirrored(company))
    refused = [r for r in worker.responses if r.status_code in (429, 500)]
    assert len(refused) >= 3  # the storm was met, and waited out
    assert not ledger.refused, f"duely went over {ledger.label}'s own limits"


# --- chasing -----------------------------------------------------------------------------------


async def chased_company(ledger, settings, client, db, org_id: int, invoices: int = 30):
    """A company connected and synced with chasing on; every invoice due two months ahead,
    so that nothing goes out until a test asks."""
    always_open(db, org_id)
    company = ledger.add_company("Chased Ltd", invoices, seed=7)
    ledger.due_in(company, 60)
    connection = await connect_directly(ledger, settings, org_id, company)
    await synced(client, settings, db, connection)
    return company, connection


async def activity_completed(client, workflow_id: str, activity: str) -> bool:
    """Whether the workflow ran the activity to an answer (not yet, when it has not begun)."""
    scheduled: set[int] = set()
    history = client.get_workflow_handle(workflow_id).fetch_history_events()
    try:
        events = [event async for event in history]
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == activity:
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if done.scheduled_event_id in scheduled:
                return True
    return False


@ONLY_SQLITE
async def test_a_revoked_grant_asks_for_reconnect_and_chasing_waits(
    ledger, worker, duely, dev_server_env, ledger_settings, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    client = dev_server_env.client
    company, connection = await chased_company(ledger, ledger_settings, client, db, org_a.id)

    ledger.revoke(company)
    headers = await api_token(duely, org_a.admin)
    await duely.post(f"/api/v1/connections/{connection.id}/sync", headers=headers)
    _, failed = await wait_for_runs(db, connection.id, 2)
    assert failed.status == SyncStatus.FAILED
    connection = only_connection(db)
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert f"Reconnect to {ledger.label}" in connection.last_error
    await login(duely, org_a.admin)
    page = await duely.get("/connections")
    assert f"Reconnect to {ledger.label}" in page.text
    assert "paused until you reconnect" in page.text

    # Chasing waits: a person's "send now" reaches the outbox, which will not send blind.
    invoice = open_invoices(db)[0]
    await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")
    outbox = names.outbox_workflow_id(org_a.id, invoice.customer_id)

    async def tried() -> bool:
        return await activity_completed(client, outbox, "send_reminders")

    await eventually(tried, "the outbox never tried to send")
    db.expire_all()
    assert db.exec(select(Message)).all() == []
    assert catcher.received == []

    # Reconnecting (OAuth again, or AccountsIQ's new User Key) brings the same connection back.
    await ledger.connect_in_duely(duely, org_a.admin)
    assert only_connection(db).status == ConnectionStatus.CONNECTED
    assert db.exec(select(func.count()).select_from(Connection)).one() == 1


@ONLY_SQLITE
async def test_a_reminder_for_an_open_invoice_goes_out_by_email(
    ledger, worker, dev_server_env, ledger_settings, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    client = dev_server_env.client
    await chased_company(ledger, ledger_settings, client, db, org_a.id)
    invoice = open_invoices(db)[0]

    await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def delivered():
        return [r for r in catcher.received if invoice.number in r.message.get_content()]

    (email,) = await eventually(delivered, "the reminder never reached the mail server")
    assert format_money(invoice.amount_due, invoice.currency) in email.message.get_content()

    async def on_timeline():
        db.expire_all()
        query = select(Event).where(Event.invoice_id == invoice.id, Event.kind == "reminder_sent")
        return db.exec(query).first()

    await eventually(on_timeline, "the reminder never reached the timeline")


@ONLY_SQLITE
async def test_an_invoice_paid_in_the_ledger_is_not_reminded(
    ledger, worker, dev_server_env, ledger_settings, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    client = dev_server_env.client
    company, _ = await chased_company(ledger, ledger_settings, client, db, org_a.id)
    invoice = open_invoices(db)[0]
    # Paid in the ledger, and duely's mirror does not know yet: the outbox's re-read must see it.
    ledger.pay_in_full(company, invoice.external_id)

    await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    assert await chase_result(client, org_a.id, invoice, 30) == "paid"
    assert catcher.received == []
    db.expire_all()
    assert db.exec(select(Message)).all() == []
    assert db.get(Invoice, invoice.id).status == InvoiceStatus.PAID


# --- card payments -----------------------------------------------------------------------------


# What is tested is the worker's death and Temporal's retry; the payment row's claim is tested
# on both databases in tests/xero/test_payment_placement.py.
@ONLY_SQLITE
async def test_killing_the_worker_mid_write_still_gives_one_payment(
    ledger, duely, dev_server_env, ledger_settings, db, org_a, tmp_path
):
    """Only `duely worker` processes poll here; one is SIGKILLed while the ledger holds its
    answer to the payment it has already booked."""
    client = dev_server_env.client
    always_open(db, org_a.id)
    take_cards(db, org_a.id, ledger_settings, ledger.payment_accounts)
    company = ledger.add_company("Paid Ltd", 30, seed=17)
    ledger.due_in(company, 60)
    connection = await connect_directly(ledger, ledger_settings, org_a.id, company)
    doomed = worker_process(ledger_settings, tmp_path)
    survivor = None
    try:
        await synced(client, ledger_settings, db, connection)
        invoice = open_invoices(db)[0]
        payment_id = f"pi_{uuid.uuid4().hex[:20]}"
        reference = f"duely:{payment_id}:{invoice.id}"
        ledger.hold_payment_answers(30_000)  # time to kill the worker before it hears back
        await deliver(duely, paid_in_full(payment_id, org_a.id, invoice))

        async def written():
            return ledger.payments_for(company, reference)

        await eventually(written, f"{ledger.label} never booked the payment", 60, every=0.05)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        ledger.clear_faults()
        survivor = worker_process(ledger_settings, tmp_path)
        assert await chase_result(client, org_a.id, invoice, 90) == "paid"
    finally:
        for process in (doomed, survivor):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        await forget_this_tests_workflows(client)
    assert len(ledger.payments_for(company, reference)) == 1
    db.expire_all()
    row = db.exec(select(Payment).where(Payment.external_id == payment_id)).one()
    assert row.status == "recorded" and row.attempts == 2
