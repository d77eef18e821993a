"""The `aging-check` Temporal Schedule: every worker keeps it in place, so that duely's
receivables are checked against the ledgers' every DUELY_AGING_CHECK_HOURS."""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow

from duely.core.temporal.schedules import every, put_schedule
from duely.settings import Settings
from duely.workflows.aging_check import AgingCheckWorkflow

SCHEDULE_ID = "aging-check"


async def ensure_aging_check_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        AgingCheckWorkflow.run, id=f"{SCHEDULE_ID}-run", task_queue=settings.temporal_task_queue
    )
    await put_schedule(client, SCHEDULE_ID, every(settings.aging_check_hours * 60, action))
