"""The Temporal worker: every workflow and activity of duely on one task queue."""

from __future__ import annotations

import asyncio
import logging
import signal

from temporalio.client import Client
from temporalio.worker import Worker

from duely.activities.health import HealthActivities
from duely.activities.ledger_writes import LedgerWriteActivities
from duely.activities.sync import LedgerSyncActivities
from duely.db import Database
from duely.integrations.ledgers.connections import Ledgers
from duely.settings import Settings
from duely.temporal_client import connect_with_retry
from duely.workflows import ALL_WORKFLOWS

log = logging.getLogger(__name__)


def build_worker(client: Client, settings: Settings, db: Database, ledgers: Ledgers) -> Worker:
    """Activities are built once here with their clients injected; tests build the same."""
    health = HealthActivities(db)
    sync = LedgerSyncActivities(settings, db, ledgers)
    writes = LedgerWriteActivities(db, ledgers)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=ALL_WORKFLOWS,
        activities=[
            health.check_database,
            sync.begin_sync,
            sync.sync_contacts,
            sync.sync_invoices,
            sync.sync_missing_contacts,
            sync.finish_sync,
            sync.fail_sync,
            writes.record_payment_in_ledger,
        ],
    )


async def run_worker(settings: Settings) -> None:
    db = Database(settings.resolved_database_url)
    ledgers = Ledgers(settings, db)
    client = await connect_with_retry(settings)
    worker = build_worker(client, settings, db, ledgers)
    log.info(
        "worker polling task queue %r on %s",
        settings.temporal_task_queue,
        settings.temporal_address,
    )
    # SIGTERM (from `duely up` or a container stop) drains in-flight tasks like Ctrl-C does.
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        async with worker:
            await stop.wait()
    finally:
        await ledgers.aclose()
        await db.dispose()


def main(settings: Settings) -> None:
    asyncio.run(run_worker(settings))
