"""CustomerOutboxWorkflow: one per customer while it has reminders to send; it owns *how and
whether* a customer is contacted.

Invoice workflows hand it ReminderRequests (signal-with-start). It waits for the customer's
next send window, gathers for a minute so that invoices falling due together go out together,
then lets one activity re-read the invoices from the ledger, drop what is paid, voided,
disputed or promised, apply the opt-out and the one-reminder-a-day cap, and send ONE message
covering the rest. Each invoice workflow then hears how its request ended. When nothing is
left to send it ends; the next request starts it again.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from duely.activities.outbox import OutboxActivities
    from duely.chasing.plan import WindowSpec
    from duely.chasing.reminders import (
        BatchResult,
        OutboxStart,
        ReminderBatch,
        ReminderOutcome,
        ReminderRequest,
        Verdict,
    )
    from duely.chasing.send_times import next_send_moment, wall_time_to_utc

QUICK = {"start_to_close_timeout": timedelta(seconds=30)}
SENDING = {
    "start_to_close_timeout": timedelta(minutes=5),
    # It heartbeats while it works: a worker that dies mid-send is noticed in seconds and the
    # batch resumes elsewhere from what its message row says.
    "heartbeat_timeout": timedelta(seconds=10),
    # A mail server that is down is retried for a day, visibly (the message row counts the
    # attempts and keeps the last error), then the requests are answered as failed.
    "schedule_to_close_timeout": timedelta(days=1),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=10)),
}
LEDGER_RETRY = timedelta(hours=1)


@workflow.defn
class CustomerOutboxWorkflow:
    def __init__(self) -> None:
        self._pending: list[ReminderRequest] = []

    @workflow.signal
    def add(self, request: ReminderRequest) -> None:
        # One request per invoice: a newer step of the same invoice replaces the older one.
        self._pending = [r for r in self._pending if r.invoice_id != request.invoice_id]
        self._pending.append(request)

    @workflow.signal
    def withdraw(self, invoice_id: int) -> None:
        self._pending = [r for r in self._pending if r.invoice_id != invoice_id]

    @workflow.query
    def pending(self) -> list[ReminderRequest]:
        return list(self._pending)

    @workflow.run
    async def run(self, start: OutboxStart) -> int:
        for request in start.pending:
            self.add(request)
        window = await self._window(start)
        gather = timedelta(seconds=start.gather_seconds)
        not_before = workflow.now() + gather
        if start.not_before:
            not_before = max(not_before, self._start_of(start.not_before, window))
        sent = 0
        while self._pending:
            earliest = max(workflow.now(), not_before)
            with workflow.unsafe.sandbox_unrestricted():
                send_at = next_send_moment(earliest, window.window())
            if send_at > earliest:
                # Waiting for the window to open: so are the customer's other invoices, whose
                # steps fall due at that same opening. Gather them too.
                send_at += gather
            await workflow.sleep(send_at - workflow.now())
            if not self._pending:
                break  # every request was withdrawn (paid meanwhile)
            batch, self._pending = self._pending, []
            try:
                result: BatchResult = await workflow.execute_activity_method(
                    OutboxActivities.send_reminders,
                    ReminderBatch(
                        organisation_id=start.organisation_id,
                        customer_id=start.customer_id,
                        local_day=workflow.now()
                        .astimezone(window.window().zone)
                        .date()
                        .isoformat(),
                        sending_at=workflow.now().isoformat(),
                        requests=batch,
                    ),
                    **SENDING,
                )
            except ActivityError as error:
                # Sending itself broke (no template, or a day of failures): every request
                # hears it, so no invoice waits for an answer that will not come.
                result = BatchResult([_failed(r, error) for r in batch])
            # Requests the batch did not decide (the customer already had today's reminder,
            # or the ledger could not be read) wait for the next try, unless a newer request
            # of the same invoice arrived meanwhile.
            answered = {(o.invoice_id, o.send_key) for o in result.outcomes}
            for request in batch:
                undecided = (request.invoice_id, request.send_key) not in answered
                if undecided and all(r.invoice_id != request.invoice_id for r in self._pending):
                    self._pending.append(request)
            await self._report(batch, result)
            sent += sum(1 for o in result.outcomes if o.message_id)
            window = await self._window(start)
            not_before = workflow.now() + gather
            if result.retry_on:
                not_before = self._start_of(result.retry_on, window)
            elif result.retry_reason:
                not_before = workflow.now() + LEDGER_RETRY
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    OutboxStart(
                        start.organisation_id,
                        start.customer_id,
                        self._pending,
                        result.retry_on,
                        start.gather_seconds,
                    )
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return sent

    async def _window(self, start: OutboxStart) -> WindowSpec:
        return await workflow.execute_activity_method(
            OutboxActivities.outbox_window, start.customer_id, **QUICK
        )

    async def _report(self, batch: list[ReminderRequest], result: BatchResult) -> None:
        workflow_of = {r.invoice_id: r.chase_workflow_id for r in batch}
        for outcome in result.outcomes:
            invoice = workflow.get_external_workflow_handle(workflow_of[outcome.invoice_id])
            try:
                await invoice.signal("reminder_outcome", outcome)
            except FailureError:
                workflow.logger.info(
                    "invoice workflow %s has ended", workflow_of[outcome.invoice_id]
                )

    @staticmethod
    def _start_of(day: str, window: WindowSpec) -> datetime:
        with workflow.unsafe.sandbox_unrestricted():
            return wall_time_to_utc(date.fromisoformat(day), time(0), window.timezone)


def _failed(request: ReminderRequest, error: ActivityError) -> ReminderOutcome:
    cause = error.cause or error
    return ReminderOutcome(
        invoice_id=request.invoice_id,
        send_key=request.send_key,
        verdict=Verdict.FAILED,
        detail=f"{request.step_label} could not be sent: {cause}",
    )
