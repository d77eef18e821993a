"""StripeSweepWorkflow: the periodic catch-up of Stripe events missed as webhooks, started by
the `stripe-sweep` Temporal Schedule that every worker keeps in place
(duely.payments.stripe_sweep_schedule)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from duely.activities.stripe_sweep import StripeSweepActivities


@workflow.defn
class StripeSweepWorkflow:
    @workflow.run
    async def run(self) -> int:
        return await workflow.execute_activity_method(
            StripeSweepActivities.sweep_stripe_events,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=5),
        )
