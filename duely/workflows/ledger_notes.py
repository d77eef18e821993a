"""LedgerNotesWorkflow: one round of writing the chase's timeline into the ledgers as notes,
started by the `ledger-notes` Temporal Schedule that every worker keeps in place
(duely.ledgers.notes_schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.ledger_notes import LedgerNotesActivities, NotesWritten
    from duely.core.temporal.queues import LEDGER, queue_for


@workflow.defn
class LedgerNotesWorkflow:
    @workflow.run
    async def run(self) -> NotesWritten:
        return await workflow.execute_activity_method(
            LedgerNotesActivities.write_ledger_notes,
            task_queue=queue_for(workflow.info().task_queue, LEDGER),
            start_to_close_timeout=timedelta(minutes=10),
        )
