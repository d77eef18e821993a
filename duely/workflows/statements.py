"""StatementRunWorkflow: an organisation's monthly statements, started by its Temporal
Schedule on the statement day (see duely.statements.schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.statements import StatementActivities, StatementRun, StatementsSent
    from duely.core.temporal.queues import DELIVERY, queue_for
    from duely.outbox.send_times import zone_named


@workflow.defn
class StatementRunWorkflow:
    @workflow.run
    async def run(self, organisation_id: int, timezone: str) -> StatementsSent:
        now = workflow.now()
        with workflow.unsafe.sandbox_unrestricted():
            local_day = now.astimezone(zone_named(timezone)).date()
        return await workflow.execute_activity_method(
            StatementActivities.send_statements,
            StatementRun(organisation_id, local_day.isoformat(), now.isoformat()),
            task_queue=queue_for(workflow.info().task_queue, DELIVERY),
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=1),
        )
