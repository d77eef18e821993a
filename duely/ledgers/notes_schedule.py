"""The `ledger-notes` Temporal Schedule: every worker keeps it in place, so that the chase's
timeline reaches the ledgers' invoice histories every DUELY_LEDGER_NOTES_MINUTES."""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow

from duely.core.temporal.schedules import every, put_schedule
from duely.settings import Settings
from duely.workflows.ledger_notes import LedgerNotesWorkflow

SCHEDULE_ID = "ledger-notes"


async def ensure_ledger_notes_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        LedgerNotesWorkflow.run, id=f"{SCHEDULE_ID}-run", task_queue=settings.temporal_task_queue
    )
    await put_schedule(client, SCHEDULE_ID, every(settings.ledger_notes_minutes, action))
