"""LedgerSyncWorkflow: one pass of mirroring a ledger connection into duely.

Started by the connection's Temporal Schedule (every 15 minutes by default), and by "Sync now"
and ledger webhooks, which trigger the same schedule so that passes of one connection never
overlap (a trigger during a pass is buffered and runs right after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from duely.activities.fan_out import FanOutActivities
    from duely.activities.sync import (
        LedgerSyncActivities,
        PassProgress,
        SyncFailure,
        SyncOutcome,
        SyncPlan,
    )
    from duely.core.temporal.options import ActivityOptions
    from duely.core.temporal.queues import SYNC, queue_for


@dataclass
class SyncRequest:
    connection_id: int


@dataclass
class SyncSummary:
    run_id: int
    full: bool = False
    invoices_changed: int = 0
    skipped: str = ""


PAGE_PASS: ActivityOptions = {
    "start_to_close_timeout": timedelta(hours=2),
    "schedule_to_close_timeout": timedelta(hours=6),
    # Pages heartbeat; a worker that dies mid-pass is noticed within a minute and the pass
    # resumes elsewhere from its last page.
    "heartbeat_timeout": timedelta(minutes=1),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=5)),
}
BOOKKEEPING: ActivityOptions = {"start_to_close_timeout": timedelta(seconds=30)}


def _pass_queue() -> str:
    """Pages are read on the sync queue, with its own limits (duely.core.temporal.queues): the
    workflow's own queue, unless it was started on the chase queue before syncs moved."""
    return queue_for(workflow.info().task_queue, SYNC)


@workflow.defn
class LedgerSyncWorkflow:
    @workflow.run
    async def run(self, request: SyncRequest) -> SyncSummary:
        plan: SyncPlan = await workflow.execute_activity_method(
            LedgerSyncActivities.begin_sync, request.connection_id, **BOOKKEEPING
        )
        if plan.skip_reason:
            return SyncSummary(plan.run_id, skipped=plan.skip_reason)
        try:
            contacts: PassProgress = await workflow.execute_activity_method(
                LedgerSyncActivities.sync_contacts, plan, task_queue=_pass_queue(), **PAGE_PASS
            )
            invoices: PassProgress = await workflow.execute_activity_method(
                LedgerSyncActivities.sync_invoices, plan, task_queue=_pass_queue(), **PAGE_PASS
            )
            await workflow.execute_activity_method(
                LedgerSyncActivities.sync_missing_contacts,
                plan,
                task_queue=_pass_queue(),
                **PAGE_PASS,
            )
            # Every changed invoice's chase hears of it: open ones start or re-plan, paid and
            # voided ones end.
            await workflow.execute_activity_method(
                FanOutActivities.fan_out_chases, plan, **PAGE_PASS
            )
        except ActivityError as error:
            message = str(error.cause) if error.cause else str(error)
            await workflow.execute_activity_method(
                LedgerSyncActivities.fail_sync, SyncFailure(plan.run_id, message), **BOOKKEEPING
            )
            raise ApplicationError(f"sync failed: {message}", non_retryable=True) from error
        await workflow.execute_activity_method(
            LedgerSyncActivities.finish_sync,
            SyncOutcome(plan.run_id, plan.full, contacts, invoices),
            **BOOKKEEPING,
        )
        return SyncSummary(plan.run_id, plan.full, invoices.changed)
