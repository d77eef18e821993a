"""StartChasesWorkflow: an organisation switched chasing on; every open invoice's chase starts.

Started by the web app (id `start-chases-{org}`); the work is one resumable activity.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.fan_out import FanOutActivities


@workflow.defn
class StartChasesWorkflow:
    @workflow.run
    async def run(self, organisation_id: int) -> int:
        return await workflow.execute_activity_method(
            FanOutActivities.start_chases,
            organisation_id,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=1),
        )
