"""A deploy stops the worker with SIGTERM: it takes no new work and lets the email it is
handing over finish (DUELY_WORKER_DRAIN_SECONDS), so the message ends "sent", not "uncertain".

A real `duely worker` process on the dev server, a real SMTP server that holds its answer to
the DATA for a few seconds, and a reminder the chase sends on "send now". `duely up` and
docker-compose give the worker longer than its drain before they kill it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path

import pytest
import pytest_asyncio
import yaml
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment

from duely.activities import fan_out
from duely.activities.fan_out import FanOutActivities
from duely.activities.outbox import OutboxActivities
from duely.activities.statements import StatementActivities, StatementRun
from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.core.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.mail import Mailer
from duely.integrations.sms import TwilioSms
from duely.ledgers.sync_schedule import sync_schedule_id
from duely.models import Customer, Invoice, Message, Organisation, utcnow
from duely.outbox.delivery import Delivery
from duely.outbox.requests import ReminderBatch, ReminderRequest
from duely.settings import Settings
from duely.up import Stack
from tests.chase.conftest import customer_with_contact
from tests.factories import add_connection, add_invoice
from tests.live import forget_this_tests_workflows
from tests.waiting import eventually
from tests.worker_processes import worker_process

ROOT = Path(__file__).resolve().parent.parent
SMTP_HOLDS_DATA_SECONDS = 4
DRAIN_SECONDS = 20
"""The test worker's drain: longer than the server's hold, short enough that a worker that
does not drain fails the test quickly instead of hanging it."""


def drained_worker(settings: Settings, home: Path) -> subprocess.Popen:
    """`duely worker` as its own process, on the test's database and task queue."""
    return worker_process(
        settings,
        home,
        home / "worker.log",
        outbox_gather_seconds=1,
        worker_drain_seconds=DRAIN_SECONDS,
    )


@pytest_asyncio.fixture
async def live_settings(live_settings, dev_server_env, smtp_server) -> AsyncIterator[Settings]:
    """The dev server's settings (tests/conftest.py), with the test's mail server."""
    _, smtp_url = smtp_server
    yield live_settings.model_copy(update={"smtp_url": smtp_url})
    await forget_this_tests_workflows(dev_server_env.client)


async def test_sigterm_lets_the_email_in_flight_finish(
    live_settings, dev_server_env, smtp_server, db, org_a, tmp_path
):
    catcher, _ = smtp_server
    organisation = db.get(Organisation, org_a.id)
    # Open all day every day, no public holidays: "send now" sends now, whatever the day.
    organisation.send_window_start, organisation.send_window_end = clock(0, 0), clock(23, 59)
    organisation.send_days, organisation.country, organisation.timezone = "1234567", "ZZ", "UTC"
    customer = customer_with_contact(db, org_a.id, "draining")
    invoice = add_invoice(db, customer, "INV-DRAIN", 0, due_date=date.today() + timedelta(60))
    db.commit()

    worker = drained_worker(live_settings, tmp_path)
    try:
        client, queue = dev_server_env.client, live_settings.temporal_task_queue
        await chase_control.tell_chase(client, queue, invoice)
        catcher.delay = SMTP_HOLDS_DATA_SECONDS
        await chase_control.act(client, invoice, Action.SEND_NOW, by="ann@alpha.test")

        async def handed_over():
            return [r for r in catcher.received if "INV-DRAIN" in r.message.get_content()]

        await eventually(handed_over, "the worker never handed the email over", seconds=30)
        # The server has the text and has not answered yet: a deploy stops the worker now.
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.wait, DRAIN_SECONDS + 10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]

    assert code == 0, log
    # It waited for the server's answer instead of cancelling the send mid-DATA.
    assert time.monotonic() - stopped_at >= SMTP_HOLDS_DATA_SECONDS - 1, log
    db.expire_all()
    (message,) = db.exec(select(Message).where(Message.customer_id == customer.id)).all()
    assert (message.status, message.attempts, message.claimed_until) == ("sent", 1, None), log
    assert len(await handed_over()) == 1


def test_compose_waits_longer_than_the_worker_drains():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    default = Settings.model_fields["worker_drain_seconds"].default
    drain = int(services["worker"]["environment"].get("DUELY_WORKER_DRAIN_SECONDS", default))
    grace = services["worker"]["stop_grace_period"]
    seconds = int(grace[:-1]) * {"s": 1, "m": 60}[grace[-1]]
    assert seconds > drain


# A worker that takes a moment to drain: it shrugs off SIGTERM and finishes its "send".
DRAINING = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: print('draining', flush=True))\n"
    "print('ready', flush=True)\n"
    "time.sleep(2)\n"
)


def started_worker(stack: Stack, log: Path) -> subprocess.Popen:
    stack.start("worker", [sys.executable, "-c", DRAINING], log)
    deadline = time.monotonic() + 10
    while "ready" not in log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return stack.children["worker"]


def test_duely_up_waits_for_the_worker_to_drain(tmp_path):
    stack = Stack(grace={"worker": 10})
    worker = started_worker(stack, tmp_path / "worker.log")
    stack.stop()
    assert worker.returncode == 0  # finished on its own, not killed
    assert "draining" in (tmp_path / "worker.log").read_text()


def test_a_second_ctrl_c_stops_the_worker_at_once(tmp_path):
    stack = Stack(grace={"worker": 10})
    worker = started_worker(stack, tmp_path / "worker.log")
    stack.hurry = True
    started = time.monotonic()
    stack.stop()
    assert worker.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 1.5


async def test_a_fan_out_hands_over_when_its_worker_stops_and_the_next_one_finishes_it(
    live_settings, dev_server_env, db, org_a, monkeypatch
):
    """A worker's drain is for an email half handed over: a fan-out of 500 chase starts on a
    loaded engine held Ctrl-C on `duely up` past 20 s (CI, 7 December). It stops between
    starts instead, and the next worker carries on from its last heartbeat: every chase is
    started, once."""
    monkeypatch.setattr(fan_out, "BATCH", 10)
    customer = customer_with_contact(db, org_a.id, "fanned")
    invoices = [add_invoice(db, customer, f"INV-FAN-{n}", 3) for n in range(40)]
    db.commit()
    database = Database(live_settings.resolved_database_url)
    activities = FanOutActivities(database)
    heartbeats: list = []
    stopping = ActivityEnvironment(client=dev_server_env.client)
    stopping.info = dataclasses.replace(stopping.info, task_queue=live_settings.temporal_task_queue)

    def heard(*details) -> None:
        heartbeats.append(details[0])
        if len(heartbeats) == 2:  # two batches told: the deploy stops this worker
            stopping.worker_shutdown()

    stopping.on_heartbeat = heard
    with pytest.raises(ApplicationError, match="the worker is stopping") as handed_over:
        await stopping.run(activities.start_chases, org_a.id)
    assert handed_over.value.type == "WorkerStopping" and not handed_over.value.non_retryable
    assert heartbeats[-1][1] < len(invoices), heartbeats  # it did not tell them all first

    resumed = ActivityEnvironment(client=dev_server_env.client)
    resumed.info = dataclasses.replace(stopping.info, heartbeat_details=[heartbeats[-1]], attempt=2)
    assert await resumed.run(activities.start_chases, org_a.id) == len(invoices)
    await database.dispose()
    db.expire_all()
    started = {db.get(Invoice, invoice.id).workflow_id for invoice in invoices}
    assert "" not in started and len(started) == len(invoices), started
    for workflow_id in started:  # told once each: one start signal in each history
        history = await dev_server_env.client.get_workflow_handle(workflow_id).fetch_history()
        signals = [
            e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
        ]
        assert len(signals) == 1, workflow_id


def _reminder_batch(db, org_a, name: str, **fields) -> tuple[Customer, ReminderBatch]:
    """A customer's batch of three reminders, as an outbox sends it."""
    customer = customer_with_contact(db, org_a.id, name)
    invoices = [add_invoice(db, customer, f"INV-{name}-{n}", 10, **fields) for n in range(3)]
    db.commit()
    requests = [
        ReminderRequest(invoice.id, f"chase-{org_a.id}-{invoice.id}", f"send-{invoice.id}",
                        "overdue", 7, "email", None, "primary")
        for invoice in invoices
    ]  # fmt: skip
    return customer, ReminderBatch(org_a.id, customer.id, "", utcnow().isoformat(), requests)


@dataclasses.dataclass
class DeliveryActivities:
    outbox: OutboxActivities
    statements: StatementActivities


@contextlib.asynccontextmanager
async def delivery_activities(settings: Settings) -> AsyncIterator[DeliveryActivities]:
    """The delivery queue's reminders and statements, built as the worker builds them."""
    database = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, database)
    sms = TwilioSms.from_settings(settings, ledgers.http)
    delivery = Delivery(settings, database, Mailer(settings.smtp_url), sms)
    try:
        yield DeliveryActivities(
            OutboxActivities(settings, database, ledgers, delivery),
            StatementActivities(settings, database, delivery),
        )
    finally:
        await ledgers.aclose()
        await database.dispose()


async def test_reminders_not_yet_checked_hand_over_when_the_worker_stops(
    live_settings, dev_server_env, db, org_a
):
    """The drain waits for an email half handed over, not for a batch's checks still to come:
    each asks its chase (a query, seconds each on a loaded engine). A batch that has handed
    nothing over when its worker stops goes to the next worker whole, and nothing is written."""
    customer, batch = _reminder_batch(db, org_a, "stopping")
    stopping = ActivityEnvironment(client=dev_server_env.client)
    stopping.worker_shutdown()
    async with delivery_activities(live_settings) as delivery:
        with pytest.raises(ApplicationError, match="the worker is stopping") as handed_over:
            await stopping.run(delivery.outbox.send_reminders, batch)
    assert handed_over.value.type == "WorkerStopping" and not handed_over.value.non_retryable
    assert db.exec(select(Message).where(Message.customer_id == customer.id)).all() == []


async def test_reminders_waiting_for_a_fresh_sync_hand_over_when_the_worker_stops(
    live_settings, dev_server_env, db, org_a
):
    """Before sending, a batch waits (up to a minute) for a sync of its ledger begun minutes
    before. A deploy stops the sync queue with the delivery queue, so a draining batch waited
    out the minute for a sync nobody would run, and every batch of that ledger queued behind
    it (Ctrl-C on `duely up` under load, 7 December). It hands over to the next worker."""
    connection = add_connection(db, org_a.id, "fresh-sync")
    customer, batch = _reminder_batch(db, org_a, "syncing", connection_id=connection.id)
    stopping = ActivityEnvironment(client=dev_server_env.client)
    async with delivery_activities(live_settings) as delivery:
        sending = asyncio.ensure_future(stopping.run(delivery.outbox.send_reminders, batch))
        # The sync it asked for waits on the sync queue: no worker polls it here.
        schedule = dev_server_env.client.get_schedule_handle(sync_schedule_id(connection.id))

        async def asked_for_a_sync() -> bool:
            try:
                return (await schedule.describe()).info.num_actions > 0
            except RPCError:
                return False

        await eventually(asked_for_a_sync, "the batch never asked for a sync")
        stopping.worker_shutdown()
        with pytest.raises(ApplicationError, match="the worker is stopping") as handed_over:
            async with asyncio.timeout(10):  # not the minute's patience
                await sending
    assert handed_over.value.type == "WorkerStopping"
    assert db.exec(select(Message).where(Message.customer_id == customer.id)).all() == []
    await schedule.delete()


async def test_a_statement_run_hands_over_between_customers_when_its_worker_stops(
    live_settings, dev_server_env, smtp_server, db, org_a
):
    """A month's statements are one activity over every owing customer: a stop waited for all
    of them, and past the drain the send in flight was cut (uncertain). The run hands over
    after the customer in hand; the next worker goes on from its heartbeat, none sent twice."""
    catcher, _ = smtp_server
    owing = [customer_with_contact(db, org_a.id, f"statement-{n}") for n in range(3)]
    for customer in owing:
        add_invoice(db, customer, f"INV-{customer.name}", 10)
    db.commit()
    run = StatementRun(org_a.id, utcnow().date().isoformat(), utcnow().isoformat())
    heartbeats: list = []
    stopping = ActivityEnvironment(client=dev_server_env.client)

    def heard(*details) -> None:
        heartbeats.append(details[0])
        stopping.worker_shutdown()  # a deploy, while the first statement was being sent

    stopping.on_heartbeat = heard
    async with delivery_activities(live_settings) as delivery:
        with pytest.raises(ApplicationError, match="the worker is stopping"):
            await stopping.run(delivery.statements.send_statements, run)
        assert (heartbeats, len(catcher.received)) == ([owing[0].id], 1)

        resumed = ActivityEnvironment(client=dev_server_env.client)
        resumed.info = dataclasses.replace(resumed.info, heartbeat_details=heartbeats, attempt=2)
        sent = await resumed.run(delivery.statements.send_statements, run)
    assert sent.sent == 2 and len(catcher.received) == 3
    statuses = db.exec(select(Message.customer_id, Message.status)).all()
    assert sorted(statuses) == sorted((customer.id, "sent") for customer in owing)
