"""The `stripe-sweep` Temporal Schedule: every worker keeps it in place, so that Stripe's
recent events are re-read every DUELY_STRIPE_SWEEP_MINUTES."""

from __future__ import annotations

from temporalio.client import Client, ScheduleActionStartWorkflow

from duely.core.temporal.schedules import every, put_schedule
from duely.settings import Settings
from duely.workflows.stripe_sweep import StripeSweepWorkflow

SCHEDULE_ID = "stripe-sweep"


async def ensure_stripe_sweep_schedule(client: Client, settings: Settings) -> None:
    action = ScheduleActionStartWorkflow(
        StripeSweepWorkflow.run, id=f"{SCHEDULE_ID}-run", task_queue=settings.temporal_task_queue
    )
    await put_schedule(client, SCHEDULE_ID, every(settings.stripe_sweep_minutes, action))
