"""CustomerOutboxWorkflow: one per customer while it has reminders to send; it owns *how and
whether* a customer is contacted.

Invoice workflows hand it ReminderRequests (signal-with-start). It waits for the customer's
next send window, gathers for a minute so that invoices falling due together go out together,
then lets one activity re-read the invoices from the ledger, drop what is paid, voided,
disputed or promised, apply the opt-out and the one-reminder-a-day cap, and send ONE message
covering the rest. Each invoice workflow then hears how its request ended. When nothing is
left to send it ends; the next request starts it again.

A person's "send now" (an urgent request) wakes it at once and goes out alone, outside the
send window. Runs started before the SEND_NOW patch keep their old command sequence.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import cached_property

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    from duely.activities.outbox import OutboxActivities, SendMoment
    from duely.chase.plan import WindowSpec
    from duely.core.temporal.options import ActivityOptions
    from duely.core.temporal.queues import DELIVERY, queue_for
    from duely.outbox.requests import (
        BatchResult,
        OutboxStart,
        ReminderBatch,
        ReminderOutcome,
        ReminderRequest,
        Verdict,
    )
    from duely.outbox.send_times import next_send_moment, wall_time_to_utc
    from duely.workflows.history import history_is_long

QUICK: ActivityOptions = {"start_to_close_timeout": timedelta(seconds=30)}
SENDING: ActivityOptions = {
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
SEND_NOW = "outbox-send-now"
"""Patch: urgent requests, the calendar read in an activity, a later step answering for the
request it replaced."""


@workflow.defn
class CustomerOutboxWorkflow:
    def __init__(self) -> None:
        self._pending: list[ReminderRequest] = []

    @workflow.signal
    def add(self, request: ReminderRequest) -> None:
        # One request per invoice: a newer step of the same invoice replaces the older one.
        self._pending = [r for r in self._pending if r.invoice_id != request.invoice_id]
        self._pending.append(request)

    @cached_property
    def _v2(self) -> bool:
        return workflow.patched(SEND_NOW)

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
        if self._v2:
            return await self._run(start)
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
                    task_queue=queue_for(workflow.info().task_queue, DELIVERY),
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

    async def _run(self, start: OutboxStart) -> int:
        gather = timedelta(seconds=start.gather_seconds)
        not_before = workflow.now() + gather
        if start.not_before:  # carried over a continue-as-new: an instant, or a day
            not_before = max(not_before, await self._send_moment(start, start.not_before))
        sent = 0
        while self._pending:
            if not self._urgent():
                earliest = max(workflow.now(), not_before)
                send_at = await self._send_moment(start, earliest.isoformat())
                if send_at > earliest:
                    # Waiting for the window to open: so are the customer's other invoices,
                    # whose steps fall due at that same opening. Gather them too.
                    send_at += gather
                with contextlib.suppress(TimeoutError):  # the window opened
                    await workflow.wait_condition(
                        self._urgent, timeout=max(send_at - workflow.now(), timedelta(0))
                    )
            if not self._pending:
                break  # every request was withdrawn (paid meanwhile)
            # A person's "send now" goes at once, alone; the others keep their window.
            urgent = [r for r in self._pending if r.urgent]
            batch = urgent or self._pending
            self._pending = [r for r in self._pending if r not in batch]
            result = await self._send(start, batch)
            # Requests the batch did not decide (the customer already had today's reminder,
            # or the ledger could not be read) wait for the next try, unless a newer request
            # of the same invoice arrived meanwhile.
            answered = {(o.invoice_id, o.replaced or o.send_key) for o in result.outcomes}
            for request in batch:
                undecided = (request.invoice_id, request.send_key) not in answered
                if undecided and all(r.invoice_id != request.invoice_id for r in self._pending):
                    self._pending.append(request)
            await self._report(batch, result)
            sent += sum(1 for o in result.outcomes if o.message_id)
            not_before = workflow.now() + gather
            if result.retry_at:
                not_before = datetime.fromisoformat(result.retry_at)
            elif result.retry_reason:
                not_before = workflow.now() + LEDGER_RETRY
            if history_is_long(start.history_limit):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    # not_before: also the wait after a ledger that could not be read
                    replace(start, pending=self._pending, not_before=not_before.isoformat())
                )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return sent

    async def _send_moment(self, start: OutboxStart, earliest: str) -> datetime:
        moment = await workflow.execute_activity_method(
            OutboxActivities.send_moment, SendMoment(start.customer_id, earliest), **QUICK
        )
        return datetime.fromisoformat(moment)

    def _urgent(self) -> bool:
        return any(r.urgent for r in self._pending)

    async def _send(self, start: OutboxStart, batch: list[ReminderRequest]) -> BatchResult:
        try:
            return await workflow.execute_activity_method(
                OutboxActivities.send_reminders,
                ReminderBatch(
                    organisation_id=start.organisation_id,
                    customer_id=start.customer_id,
                    local_day="",  # the activity reads the calendar
                    sending_at=workflow.now().isoformat(),
                    requests=batch,
                ),
                task_queue=queue_for(workflow.info().task_queue, DELIVERY),
                **SENDING,
            )
        except ActivityError as error:
            # Sending itself broke (no template, or a day of failures): every request hears
            # it, so no invoice waits for an answer that will not come.
            return BatchResult([_failed(r, error) for r in batch])

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
