"""A trivial end-to-end probe: workflow -> activity -> database and back."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.health import DatabaseHealth, HealthActivities


@workflow.defn
class HealthCheckWorkflow:
    @workflow.run
    async def run(self) -> DatabaseHealth:
        return await workflow.execute_activity_method(
            HealthActivities.check_database,
            start_to_close_timeout=timedelta(seconds=10),
        )
