"""The Temporal worker: every workflow and activity of duely on one task queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from duely.activities.aging_check import AgingCheckActivities
from duely.activities.chase import ChaseActivities
from duely.activities.fan_out import FanOutActivities
from duely.activities.health import HealthActivities
from duely.activities.ledger_notes import LedgerNotesActivities
from duely.activities.outbox import OutboxActivities
from duely.activities.payments import PaymentActivities
from duely.activities.spreadsheets import SpreadsheetActivities
from duely.activities.statements import StatementActivities
from duely.activities.stripe_sweep import StripeSweepActivities
from duely.activities.sync import LedgerSyncActivities
from duely.core.db import Database
from duely.core.temporal.client import connect_with_retry
from duely.core.temporal.codec import encrypts_with
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.mail import Mailer
from duely.integrations.sms import TwilioSms
from duely.ledgers.aging_check_schedule import ensure_aging_check_schedule
from duely.ledgers.notes_schedule import ensure_ledger_notes_schedule
from duely.outbox.delivery import Delivery
from duely.payments.redispatch import keep_dispatching
from duely.payments.stripe_sweep_schedule import ensure_stripe_sweep_schedule
from duely.settings import Settings
from duely.workflows.aging_check import AgingCheckWorkflow
from duely.workflows.chase import InvoiceChaseWorkflow
from duely.workflows.health import HealthCheckWorkflow
from duely.workflows.ledger_notes import LedgerNotesWorkflow
from duely.workflows.outbox import CustomerOutboxWorkflow
from duely.workflows.spreadsheet_import import SpreadsheetImportWorkflow
from duely.workflows.start_chases import StartChasesWorkflow
from duely.workflows.statements import StatementRunWorkflow
from duely.workflows.stripe_sweep import StripeSweepWorkflow
from duely.workflows.sync import LedgerSyncWorkflow

log = logging.getLogger(__name__)

ALL_WORKFLOWS = [
    HealthCheckWorkflow,
    LedgerSyncWorkflow,
    InvoiceChaseWorkflow,
    CustomerOutboxWorkflow,
    StartChasesWorkflow,
    StatementRunWorkflow,
    StripeSweepWorkflow,
    LedgerNotesWorkflow,
    AgingCheckWorkflow,
    SpreadsheetImportWorkflow,
]

# duely.chase's rules and duely.outbox's send-time arithmetic run inside workflows: passed
# through, `holidays` keeps one calendar cache for every run and ZoneInfo stays the real class
# (see send_times' notes).
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "duely.chase", "duely.outbox"
    )
)


def build_worker(
    client: Client, settings: Settings, db: Database, ledgers: Ledgers, **options
) -> Worker:
    """Activities are built once here with their clients injected; tests build the same."""
    # A worker encodes with its client's converter: one without the codec would write
    # customers' names and addresses into histories in clear (duely.core.temporal.codec).
    if not encrypts_with(client.data_converter, settings.resolved_secret_key):
        raise ValueError(
            "the worker's Temporal client does not encrypt payloads with DUELY_SECRET_KEY: "
            "connect it with duely.core.temporal.client.connect (in tests, with "
            "duely.core.temporal.codec.data_converter and the settings' secret key)"
        )
    health = HealthActivities(db)
    sync = LedgerSyncActivities(settings, db, ledgers)
    chasing = ChaseActivities(settings, db, ledgers)
    fan_out = FanOutActivities(db)
    delivery = Delivery(
        settings, db, Mailer(settings.smtp_url), TwilioSms.from_settings(settings, ledgers.http)
    )
    outbox = OutboxActivities(settings, db, ledgers, delivery)
    statements = StatementActivities(settings, db, delivery)
    payments = PaymentActivities(settings, db, ledgers, delivery)
    stripe_sweep = StripeSweepActivities(settings, db)
    ledger_notes = LedgerNotesActivities(db, ledgers)
    aging = AgingCheckActivities(db, ledgers)
    spreadsheets = SpreadsheetActivities(settings, db, client)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=ALL_WORKFLOWS,
        workflow_runner=WORKFLOW_RUNNER,
        activities=[
            health.check_database,
            sync.begin_sync,
            sync.sync_contacts,
            sync.sync_invoices,
            sync.sync_missing_contacts,
            sync.finish_sync,
            sync.fail_sync,
            fan_out.fan_out_chases,
            fan_out.start_chases,
            chasing.load_chase_plan,
            chasing.plan_chase,
            chasing.note_chase,
            chasing.hand_to_outbox,
            chasing.promise_in_ledger,
            outbox.outbox_window,
            outbox.send_reminders,
            outbox.send_moment,
            statements.send_statements,
            payments.place_payment,
            payments.payment_not_placed,
            payments.thank_for_payment,
            stripe_sweep.sweep_stripe_events,
            ledger_notes.write_ledger_notes,
            aging.check_aging,
            spreadsheets.check_import,
            spreadsheets.write_import,
            spreadsheets.cancel_import,
        ],
        **options,
    )


async def run_worker(settings: Settings) -> None:
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    client = await connect_with_retry(settings)
    drain = timedelta(seconds=settings.worker_drain_seconds)
    # On shutdown the worker stops polling and gives running activities `drain` to finish:
    # an email half handed over would otherwise be cancelled and become "uncertain".
    worker = build_worker(client, settings, db, ledgers, graceful_shutdown_timeout=drain)
    await ensure_stripe_sweep_schedule(client, settings)
    await ensure_ledger_notes_schedule(client, settings)
    await ensure_aging_check_schedule(client, settings)
    log.info(
        "worker polling task queue %r on %s",
        settings.temporal_task_queue,
        settings.temporal_address,
    )
    # SIGTERM (from `duely up`, a deploy or a container stop) drains like Ctrl-C does.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    redispatch = asyncio.create_task(
        keep_dispatching(db, client, settings.temporal_task_queue), name="stripe-redispatch"
    )
    try:
        async with worker:
            await stop.wait()
            log.info("stopping: in-flight work has up to %ss to finish", drain.total_seconds())
    finally:
        redispatch.cancel()
        await ledgers.aclose()
        await db.dispose()


def main(settings: Settings) -> None:
    settings.refuse_demo_secrets()
    asyncio.run(run_worker(settings))
