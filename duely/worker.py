"""The Temporal worker: duely's workflows and activities on its task queues.

One process polls every queue by default (DUELY_WORKER_QUEUES); each queue has its own limits,
so a burst of one kind of work (09:00's reminders, a 10,000-invoice sync) never takes the slots
another needs: an outbox waiting for a fresh sync cannot starve the sync it waits for.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack
from datetime import timedelta
from types import TracebackType
from typing import Any

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
from duely.core.temporal.queues import CHASE, DELIVERY, KINDS, LEDGER, SYNC, base_of, queue_for
from duely.integrations.ledgers.connections import Ledgers
from duely.integrations.mail import Mailer
from duely.integrations.sms import TwilioSms
from duely.ledgers.aging_check_schedule import ensure_aging_check_schedule
from duely.ledgers.notes_schedule import ensure_ledger_notes_schedule
from duely.ledgers.sync_schedule import ensure_sync_schedule
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

SYNC_WORKFLOWS = [LedgerSyncWorkflow, SpreadsheetImportWorkflow]
"""On the sync queue too (duely.core.temporal.queues); the chase queue keeps every workflow for
the syncs and imports started there before they moved (an import may wait a week)."""

# duely.chase's rules and duely.outbox's send-time arithmetic run inside workflows: passed
# through, `holidays` keeps one calendar cache for every run and ZoneInfo stays the real class
# (see send_times' notes).
WORKFLOW_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "holidays", "duely.chase", "duely.outbox"
    )
)


class Workers:
    """One Temporal Worker per task queue this process polls, started and stopped together
    (an async context manager, like a single Worker)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Workers:
        async with AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # In two waves, each queue of a wave hearing the stop at once and draining with the
        # others: first the companion queues (sync, ledger, delivery), then the chase queue,
        # whose workflows answer a draining delivery's hand-over check (a query needs a worker
        # that still polls). One queue after another, a stop took the sum of the drains while
        # the queues not yet told took new work (over 20 s for Ctrl-C under a burst, 7 December).
        chase = [
            worker for worker in self.workers if worker.task_queue == base_of(worker.task_queue)
        ]
        companions = [worker for worker in self.workers if worker not in chase]
        for wave in (companions, chase):
            await asyncio.gather(*(worker.shutdown() for worker in wave))
        await self._stack.__aexit__(kind, error, trace)


def polled_queues(settings: Settings) -> list[str]:
    """The queue kinds DUELY_WORKER_QUEUES names, checked."""
    kinds = [kind.strip() for kind in settings.worker_queues.split(",") if kind.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(
            f"DUELY_WORKER_QUEUES={settings.worker_queues!r}: name some of {', '.join(KINDS)}"
        )
    return kinds


def build_worker(
    client: Client, settings: Settings, db: Database, ledgers: Ledgers, **options: Any
) -> Workers:
    """Activities are built once here with their clients injected; tests build the same.
    Every queue's worker knows every activity (a run started before the queues were split
    schedules them all on the chase queue); what differs is the limits."""
    # A worker encodes with its client's converter: one without the codec would write
    # customers' names and addresses into histories in clear (duely.core.temporal.codec).
    if not encrypts_with(client.data_converter, settings.resolved_secret_key):
        raise ValueError(
            "the worker's Temporal client does not encrypt payloads with DUELY_SECRET_KEY: "
            "connect it with duely.core.temporal.client.connect (in tests, with "
            "duely.core.temporal.codec.data_converter and the settings' secret key)"
        )
    health = HealthActivities(db)
    sync = LedgerSyncActivities(settings, db, ledgers, keep_schedule=ensure_sync_schedule)
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
    activities = [
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
    ]
    limits = {
        CHASE: settings.worker_chase_activities,
        SYNC: settings.worker_sync_activities,
        LEDGER: settings.worker_ledger_activities,
        DELIVERY: settings.worker_delivery_activities,
    }
    workflows = {CHASE: ALL_WORKFLOWS, SYNC: SYNC_WORKFLOWS}
    workers = []
    for kind in polled_queues(settings):
        settings_for_kind: dict[str, Any] = {
            "max_concurrent_activities": limits[kind],
            "max_concurrent_workflow_tasks": settings.worker_workflow_tasks,
            "max_cached_workflows": settings.worker_workflow_cache,
        }
        if kind in workflows:
            settings_for_kind |= {"workflows": workflows[kind], "workflow_runner": WORKFLOW_RUNNER}
        workers.append(
            Worker(
                client,
                task_queue=queue_for(settings.temporal_task_queue, kind),
                activities=activities,
                **(settings_for_kind | options),
            )
        )
    return Workers(workers)


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
        "worker polling task queues %s on %s",
        ", ".join(repr(w.task_queue) for w in worker.workers),
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
