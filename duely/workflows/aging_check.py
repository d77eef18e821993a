"""AgingCheckWorkflow: one round of checking duely's receivables against each ledger's aged
receivables report, started by the `aging-check` Temporal Schedule that every worker keeps in
place (duely.ledgers.aging_check_schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.aging_check import AgingCheckActivities, AgingChecked


@workflow.defn
class AgingCheckWorkflow:
    @workflow.run
    async def run(self) -> AgingChecked:
        return await workflow.execute_activity_method(
            AgingCheckActivities.check_aging, start_to_close_timeout=timedelta(minutes=30)
        )
