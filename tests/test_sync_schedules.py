"""Each ledger connection's sync schedule (duely.ledgers.sync_schedule)."""

from __future__ import annotations

from datetime import timedelta

from duely.core.temporal.names import sync_schedule_id
from duely.ledgers.sync_schedule import ensure_sync_schedule
from duely.models import Connection


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
