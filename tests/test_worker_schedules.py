"""The Temporal Schedules every worker keeps in place: each starts its workflow on the worker's
task queue, every interval the settings give, and a restart with a new setting updates it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from duely.ledgers.aging_check_schedule import ensure_aging_check_schedule
from duely.ledgers.notes_schedule import ensure_ledger_notes_schedule
from duely.payments.stripe_sweep_schedule import ensure_stripe_sweep_schedule

SCHEDULES = [
    (
        "stripe-sweep",
        ensure_stripe_sweep_schedule,
        "StripeSweepWorkflow",
        "stripe_sweep_minutes",
        1,
    ),
    (
        "ledger-notes",
        ensure_ledger_notes_schedule,
        "LedgerNotesWorkflow",
        "ledger_notes_minutes",
        1,
    ),
    ("aging-check", ensure_aging_check_schedule, "AgingCheckWorkflow", "aging_check_hours", 60),
]


@pytest.mark.parametrize(("schedule_id", "ensure", "workflow", "setting", "minutes"), SCHEDULES)
async def test_a_worker_schedule_follows_its_setting(
    dev_server_env, settings, schedule_id, ensure, workflow, setting, minutes
):
    client = dev_server_env.client
    handle = client.get_schedule_handle(schedule_id)
    try:
        await ensure(client, settings)
        await ensure(client, settings.model_copy(update={setting: 7}))  # restarted, new setting
        described = await handle.describe()
    finally:
        await handle.delete()
    (interval,) = described.schedule.spec.intervals
    assert interval.every == timedelta(minutes=7 * minutes)
    assert described.schedule.action.workflow == workflow
    assert described.schedule.action.task_queue == settings.temporal_task_queue
