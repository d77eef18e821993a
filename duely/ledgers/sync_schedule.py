"""Each ledger connection's sync schedule in Temporal, and "sync now" through it."""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from duely.core.temporal.names import ORG, sync_schedule_id, sync_workflow_id
from duely.core.temporal.queues import SYNC, queue_for
from duely.core.temporal.schedules import every, put_schedule, spread
from duely.models import Connection, saved_id
from duely.settings import Settings
from duely.workflows.sync import LedgerSyncWorkflow, SyncRequest


async def ensure_sync_schedule(client: Client, settings: Settings, connection: Connection) -> None:
    action = ScheduleActionStartWorkflow(
        LedgerSyncWorkflow.run,
        SyncRequest(saved_id(connection)),
        id=sync_workflow_id(saved_id(connection)),
        task_queue=queue_for(settings.temporal_task_queue, SYNC),
        typed_search_attributes=TypedSearchAttributes(
            [SearchAttributePair(ORG, str(connection.organisation_id))]
        ),
    )
    note = f"ledger sync of connection {connection.id}"
    # Each connection at its own moment: not every ledger of the installation in one second.
    minutes = settings.sync_interval_minutes
    schedule = every(minutes, action, note, spread(saved_id(connection), minutes))
    await put_schedule(client, sync_schedule_id(saved_id(connection)), schedule)


async def request_sync(client: Client, settings: Settings, connection: Connection) -> None:
    """Sync as soon as possible: now, or right after the pass that is running."""
    await ensure_sync_schedule(client, settings, connection)
    handle = client.get_schedule_handle(sync_schedule_id(saved_id(connection)))
    await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
