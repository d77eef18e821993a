"""StripeSweepWorkflow: the periodic catch-up of Stripe events missed as webhooks, started by
the `stripe-sweep` Temporal Schedule that every worker keeps in place (see ensure_schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
)

with workflow.unsafe.imports_passed_through():
    from duely.activities.stripe_sweep import StripeSweepActivities
    from duely.settings import Settings

SCHEDULE_ID = "stripe-sweep"


@workflow.defn
class StripeSweepWorkflow:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity_method(
            StripeSweepActivities.sweep_stripe_events,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=5),
        )


async def ensure_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one to the configured interval and queue."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            StripeSweepWorkflow.run,
            id=f"{SCHEDULE_ID}-run",
            task_queue=settings.temporal_task_queue,
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.stripe_sweep_minutes))]
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            lambda _: ScheduleUpdate(schedule=schedule)
        )
