"""Each ledger connection's sync schedule in Temporal, and "sync now" through it."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from duely.models import Connection
from duely.settings import Settings
from duely.workflows.names import ORG, sync_schedule_id, sync_workflow_id
from duely.workflows.sync import LedgerSyncWorkflow, SyncRequest


async def ensure_sync_schedule(client: Client, settings: Settings, connection: Connection) -> None:
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            LedgerSyncWorkflow.run,
            SyncRequest(connection.id),
            id=sync_workflow_id(connection.id),
            task_queue=settings.temporal_task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(ORG, str(connection.organisation_id))]
            ),
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=timedelta(minutes=settings.sync_interval_minutes))
            ]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"ledger sync of connection {connection.id}"),
    )
    try:
        await client.create_schedule(sync_schedule_id(connection.id), schedule)
    except ScheduleAlreadyRunningError:
        # Bring an existing schedule up to date: the interval or task queue may have changed.
        await client.get_schedule_handle(sync_schedule_id(connection.id)).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )


async def request_sync(client: Client, settings: Settings, connection: Connection) -> None:
    """Sync as soon as possible: now, or right after the pass that is running."""
    await ensure_sync_schedule(client, settings, connection)
    handle = client.get_schedule_handle(sync_schedule_id(connection.id))
    await handle.trigger(overlap=ScheduleOverlapPolicy.BUFFER_ONE)
