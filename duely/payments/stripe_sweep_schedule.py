"""The `stripe-sweep` Temporal Schedule: every worker keeps it in place, so that Stripe's
recent events are re-read every DUELY_STRIPE_SWEEP_MINUTES."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)

from duely.core.temporal.client import put_schedule
from duely.settings import Settings
from duely.workflows.stripe_sweep import StripeSweepWorkflow

SCHEDULE_ID = "stripe-sweep"


async def ensure_stripe_sweep_schedule(client: Client, settings: Settings) -> None:
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
    await put_schedule(client, SCHEDULE_ID, schedule)
