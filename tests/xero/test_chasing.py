"""The chase engine end to end on the dev server: a Xero sandbox, a real worker, real SMTP.

The organisation's send window is open all day, every day (and has no public holidays), so
that what the tests trigger goes out now, whatever day CI runs on.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import time, timedelta

import pytest
import pytest_asyncio
from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.core.temporal import names
from duely.ledgers.sync_schedule import request_sync
from duely.models import Event, Invoice, Message, Organisation, SyncRun
from duely.sandbox.xero.ledger import Ledger
from tests.conftest import api_token
from tests.live import forget_this_tests_workflows
from tests.waiting import eventually
from tests.worker_processes import worker_process
from tests.xero.conftest import (
    connect_directly,
    wait_for_runs,
)


def always_open(db, org_id: int) -> None:
    organisation = db.get(Organisation, org_id)
    organisation.send_window_start, organisation.send_window_end = time(0, 0), time(23, 59)
    organisation.send_days, organisation.country, organisation.timezone = "1234567", "ZZ", "UTC"
    db.commit()


def due_later(xero, tenant: Ledger, days: int = 60) -> None:
    """Every sales invoice due well ahead, so that nothing is sent until a test asks."""
    later = xero.clock.today() + timedelta(days=days)
    for invoice in tenant.invoices.values():
        xero.store.update_invoice(tenant.tenant_id, invoice.invoice_id, {"due_date": later})


@pytest.fixture
def xero_settings(xero_settings, smtp_server):
    """The worker's settings too: real SMTP, and no minute of gathering per reminder."""
    _, smtp_url = smtp_server
    return xero_settings.model_copy(update={"smtp_url": smtp_url, "outbox_gather_seconds": 1})


@pytest.fixture
def chasing_settings(xero_settings):
    return xero_settings


@pytest_asyncio.fixture
async def connected_tenant(xero, chasing_settings, org_a, db):
    """A 40-invoice tenant connected to org A, nothing synced yet."""
    always_open(db, org_a.id)
    tenant = xero.add_tenant("Chasing Ltd", 40, seed=7)
    due_later(xero, tenant)
    connection = await connect_directly(xero, chasing_settings, org_a.id, tenant, "duely-test")
    return tenant, connection


async def sync_once(client, settings, db, connection) -> None:
    """Ask for a sync and wait until it has finished, succeeded."""
    db.expire_all()
    before = len(db.exec(select(SyncRun).where(SyncRun.connection_id == connection.id)).all())
    await request_sync(client, settings, connection)
    run = (await wait_for_runs(db, connection.id, before + 1))[before]
    assert run.status == "succeeded", run.error


@pytest_asyncio.fixture
async def synced(worker, connected_tenant, chasing_settings, dev_server_env, db):
    tenant, connection = connected_tenant
    await sync_once(dev_server_env.client, chasing_settings, db, connection)
    return tenant, connection


def open_invoices(db) -> list[Invoice]:
    db.expire_all()
    rows = db.exec(select(Invoice).where(Invoice.status == "open", Invoice.amount_due > 0))
    return list(rows)


async def chases_settled(db) -> None:
    """Until every open invoice's chase has said where it stands: the sync's fan-out and the
    chases' first writes are done, so the test's own write does not wait behind them."""

    def settled() -> bool:
        db.expire_all()
        return all(invoice.chase_state for invoice in open_invoices(db))

    await eventually(settled, "the chases never published their state", seconds=60)


async def running_chases(client, task_queue: str) -> list:
    query = (
        f'WorkflowType="InvoiceChaseWorkflow" AND TaskQueue="{task_queue}"'
        ' AND ExecutionStatus="Running"'
    )
    return [execution async for execution in client.list_workflows(query)]


async def test_sync_starts_one_chase_per_open_invoice(
    worker, synced, dev_server_env, chasing_settings, db, org_a
):
    client, queue = dev_server_env.client, chasing_settings.temporal_task_queue
    invoices = open_invoices(db)
    assert len(invoices) > 10

    async def all_visible():
        chases = await running_chases(client, queue)
        return chases if len(chases) == len(invoices) else None

    chases = await eventually(all_visible, f"not every one of {len(invoices)} chases started")
    assert {c.id for c in chases} == {
        names.chase_workflow_id(org_a.id, invoice.id) for invoice in invoices
    }
    # The operators' filters in the Temporal UI: ids and states, no personal data.
    invoice = invoices[0]
    handle = client.get_workflow_handle(names.chase_workflow_id(org_a.id, invoice.id))

    async def scheduled():
        found = (await handle.describe()).typed_search_attributes
        return found if found.get(names.CHASE_STATE) == "scheduled" else None

    attributes = await eventually(scheduled, "the chase never said it was scheduled")
    assert attributes.get(names.ORG) == str(org_a.id)
    assert attributes.get(names.CUSTOMER) == str(invoice.customer_id)
    assert attributes.get(names.INVOICE_NUMBER) == invoice.number
    assert attributes.get(names.DUE_DATE).date() == invoice.due_date
    db.expire_all()
    assert db.get(Invoice, invoice.id).workflow_id == handle.id


async def test_paid_in_xero_ends_the_chase_on_the_next_sync(
    worker, synced, xero, dev_server_env, chasing_settings, db, org_a
):
    tenant, connection = synced
    invoice = open_invoices(db)[0]
    xero.store.update_invoice(tenant.tenant_id, invoice.external_id, {"status": "PAID"})
    await request_sync(dev_server_env.client, chasing_settings, connection)
    await wait_for_runs(db, connection.id, 2)
    handle = dev_server_env.client.get_workflow_handle(
        names.chase_workflow_id(org_a.id, invoice.id)
    )
    assert await asyncio.wait_for(handle.result(), 30) == "paid"


async def test_send_now_delivers_a_real_email(
    worker, synced, dev_server_env, smtp_server, db, org_a
):
    catcher, _ = smtp_server
    invoice = open_invoices(db)[0]
    await chase_control.act(dev_server_env.client, invoice, Action.SEND_NOW, by="ann@alpha.test")

    async def delivered():
        return [r for r in catcher.received if invoice.number in r.message.get_content()]

    (email,) = await eventually(delivered, "the reminder never reached the mail server")

    async def marked_sent():
        # The server keeps the message before duely hears its "250": wait for duely's record.
        db.expire_all()
        query = select(Message).where(Message.customer_id == invoice.customer_id)
        message = db.exec(query).one()
        return message if message.status == "sent" else None

    message = await eventually(marked_sent, "duely never marked the reminder sent")
    assert email.recipients == [r.strip() for r in message.recipients.split(",")]
    assert email.message["List-Unsubscribe"]

    async def on_timeline():
        db.expire_all()
        query = select(Event).where(Event.invoice_id == invoice.id, Event.kind == "reminder_sent")
        return db.exec(query).first()

    event = await eventually(on_timeline, "the reminder never reached the timeline")
    assert event.message_id == message.id


# SQLite only: the message's claim is tested on both databases in tests/test_delivery.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_killing_the_worker_mid_send_delivers_exactly_one_email(
    connected_tenant, dev_server_env, chasing_settings, smtp_server, db, org_a, tmp_path
):
    _, connection = connected_tenant
    catcher, _ = smtp_server
    doomed = worker_process(chasing_settings, tmp_path)
    survivor = None
    try:
        await sync_once(dev_server_env.client, chasing_settings, db, connection)
        invoice = open_invoices(db)[0]
        catcher.delay = 20  # the mail server holds its answer: time to kill the worker mid-DATA
        await chase_control.act(
            dev_server_env.client, invoice, Action.SEND_NOW, by="ann@alpha.test"
        )

        async def handed_over():
            return [r for r in catcher.received if invoice.number in r.message.get_content()]

        await eventually(handed_over, "the worker never handed the email over", seconds=60)
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
        catcher.delay = 0
        survivor = worker_process(chasing_settings, tmp_path)

        async def settled():
            db.expire_all()
            message = db.exec(select(Message)).first()
            return message if message.status not in ("queued", "handing_over") else None

        # The survivor's retry waits out the dead worker's delivery claim (DELIVERY_LEASE, 30 s
        # from its last renewal) before it may call the hand-over uncertain: ~31 s here.
        message = await eventually(settled, "the survivor never settled the message", seconds=90)
    finally:
        for process in (doomed, survivor):
            if process and process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        await forget_this_tests_workflows(dev_server_env.client)
    # The server has the message once; duely says it may have gone and never resends it.
    assert len([r for r in catcher.received if invoice.number in r.message.get_content()]) == 1
    assert message.status == "uncertain" and message.attempts == 1
    assert "may have been delivered" in message.error


async def test_switching_chasing_on_starts_every_open_invoice(
    worker, connected_tenant, duely, dev_server_env, chasing_settings, db, org_a
):
    _, connection = connected_tenant
    organisation = db.get(Organisation, org_a.id)
    organisation.chase_mode = "off"
    db.commit()
    await sync_once(dev_server_env.client, chasing_settings, db, connection)
    client, queue = dev_server_env.client, chasing_settings.temporal_task_queue
    assert await running_chases(client, queue) == []  # a sync with chasing off starts none

    headers = await api_token(duely, org_a.admin)
    switched = await duely.patch(
        "/api/v1/organisation",
        # A real country: the test's "ZZ" keeps holidays out of the send window but is not one.
        json={"chase_mode": "all", "country": "GB"},
        headers=headers,
    )
    assert switched.status_code == 200, switched.text
    expected = len(open_invoices(db))

    async def all_started():
        return len(await running_chases(client, queue)) == expected

    await eventually(all_started, f"not all {expected} open invoices are being chased")


async def test_reminding_many_customers_at_once_costs_a_shared_sync_not_a_read_each(
    worker, synced, dev_server_env, smtp_server, xero, db, org_a, monkeypatch
):
    """The re-read before sending (never chase a paid invoice) for eight customers sending
    together: one or two incremental syncs of the connection serve them all, where reading
    each customer's invoices by id cost Xero a call per customer (DESIGN section 3: 5,000
    customers on one morning would spend Xero's whole day of calls)."""
    catcher, _ = smtp_server
    _, connection = synced
    one_each = {}
    for invoice in open_invoices(db):
        one_each.setdefault(invoice.customer_id, invoice)
    invoices = list(one_each.values())[:8]
    assert len(invoices) == 8, "the tenant has too few customers with open invoices"
    await chases_settled(db)
    syncs_before = len(db.exec(select(SyncRun)).all())
    invoice_reads = []
    plan = xero.faults.plan

    def noting_reads(method, path, tenant_id):
        if method == "GET" and path.rstrip("/").endswith("/Invoices"):
            invoice_reads.append(path)
        return plan(method, path, tenant_id)

    monkeypatch.setattr(xero.faults, "plan", noting_reads)
    await asyncio.gather(
        *(
            chase_control.act(dev_server_env.client, i, Action.SEND_NOW, by="ann@alpha.test")
            for i in invoices
        )
    )

    async def all_delivered():
        content = [r.message.get_content() for r in catcher.received]
        return all(any(i.number in text for text in content) for i in invoices)

    await eventually(all_delivered, "not every customer's reminder reached the mail server", 90)
    db.expire_all()
    syncs = len(db.exec(select(SyncRun)).all()) - syncs_before
    assert 1 <= syncs <= 2, f"{syncs} syncs for one moment of sending"
    assert len(invoice_reads) <= syncs, f"Xero's invoices read {len(invoice_reads)} times"
