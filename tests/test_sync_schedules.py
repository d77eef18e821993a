"""Each ledger connection's sync schedule (duely.ledgers.sync_schedule)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import ScheduleActionStartWorkflow

from duely.core.db import Database
from duely.core.temporal.names import sync_schedule_id, sync_workflow_id
from duely.core.temporal.queues import SYNC, queue_for
from duely.core.temporal.schedules import every, put_schedule
from duely.ledgers.spreadsheet_imports import spreadsheet_connection
from duely.ledgers.sync_schedule import ensure_sync_schedule
from duely.models import Connection, SyncStatus, saved_id
from duely.workflows.sync import LedgerSyncWorkflow, SyncRequest
from tests.live import recording_worker
from tests.xero.conftest import wait_for_runs


async def test_connections_syncs_are_spread_over_the_interval_not_started_all_at_once(
    dev_server_env, settings
):
    """Temporal counts a schedule's intervals from the Unix epoch: without an offset, every
    connection's sync starts in the same second (at :00, :15, :30 and :45), all of an
    installation's ledgers at once, each taking calls from its organisation's budget at the
    moment the payments and reminders need them too. Each connection's sync has a place of its
    own in the interval, the same one after a restart."""
    client = dev_server_env.client
    interval = timedelta(minutes=settings.sync_interval_minutes)
    connections = [
        Connection(id=n, organisation_id=1, provider="xero", external_tenant_id=f"tenant-{n}")
        for n in range(1, 9)
    ]
    offsets, next_runs = [], []
    try:
        for connection in connections:
            await ensure_sync_schedule(client, settings, connection)
            await ensure_sync_schedule(client, settings, connection)  # a restart: same place
            described = await client.get_schedule_handle(sync_schedule_id(connection.id)).describe()
            (spec,) = described.schedule.spec.intervals
            assert spec.every == interval
            offsets.append(spec.offset or timedelta(0))
            next_runs.append(described.info.next_action_times[0])
    finally:
        for connection in connections:
            await client.get_schedule_handle(sync_schedule_id(connection.id)).delete()
    assert all(timedelta(0) <= offset < interval for offset in offsets)
    ordered = sorted(next_runs)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    assert min(gaps) >= interval / len(connections) / 2, f"syncs bunched together: {ordered}"


@pytest.mark.devserver
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about Temporal, not SQL
async def test_a_schedule_from_before_syncs_moved_brings_itself_to_the_sync_queue(
    live_settings, dev_server_env, db, org_a
):
    """Schedules made before syncs ran on the sync queue start them on the chase queue. The
    first such sync puts its schedule right, so that every connection's syncs move within one
    interval of the deploy, not only those of the connections someone asks to sync."""
    client, base = dev_server_env.client, live_settings.temporal_task_queue
    database = Database(live_settings.resolved_database_url)
    async with database.session() as session:
        connection = await spreadsheet_connection(session, org_a.id)
    await database.dispose()
    before = ScheduleActionStartWorkflow(
        LedgerSyncWorkflow.run,
        SyncRequest(saved_id(connection)),
        id=sync_workflow_id(saved_id(connection)),
        task_queue=base,
    )
    schedule = client.get_schedule_handle(sync_schedule_id(saved_id(connection)))
    await put_schedule(client, schedule.id, every(60, before, "as it was"))
    async with recording_worker(client, live_settings):
        await schedule.trigger()
        [run] = await wait_for_runs(db, saved_id(connection), 1)
        assert run.status == SyncStatus.SUCCEEDED, run.error
        described = await schedule.describe()
    assert described.schedule.action.task_queue == queue_for(base, SYNC)
