"""InvoiceChaseWorkflow: one per open invoice; it owns *when* the invoice is chased.

It walks the invoice's schedule, sleeping until the next step falls due and waking at once on
any signal (a pause, a payment, a changed due date...) to plan again. A due step becomes a
ReminderRequest to the customer's CustomerOutboxWorkflow, which sends it (or says why not)
and answers with a ReminderOutcome. It ends when the invoice is paid, voided or chasing on it
is stopped; it continues as new, carrying its memory, when the history grows long.

Rules worth knowing:
- After downtime (or a pause, dispute or promise) only the latest step that still applies is
  sent; the ones it replaces are written on the timeline as passed over, never sent late.
- A step the outbox answered, whatever the answer, is never requested again.
- Holds stack: a payment waiting > stopped > settled > chasing off > disputed > paused >
  promised (duely.chase.holds). A chase never ends while a payment waits to be placed.
- The outbox asks the chase at the moment of sending (`hand_over`) whether its request still
  applies and which step applies now: the chase's own state is the authority, not a mirror.

Deploys: runs started before the TRUSTED_ENGINE patch keep their old command sequence (the
`_v2` branches) until they continue as new; see tests/replay for the recorded histories.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from functools import cached_property

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from duely.activities.chase import (
        ChaseActivities,
        ChaseNote,
        OutboxHandOver,
        PlanRequest,
    )
    from duely.activities.payments import (
        LEDGER_CONFIGURATION,
        PLACE_PAYMENT,
        UNMATCHED,
        PaymentActivities,
        PaymentShare,
        PaymentTrouble,
    )
    from duely.chase.holds import Hold, hold_of
    from duely.chase.plan import (
        PROMISE_GRACE_DAYS,
        ChasePlan,
        InvoiceFacts,
        Move,
        Send,
        forced_move,
        goes_out,
        next_move,
        planned_sends,
        send_label,
        sends_of,
    )
    from duely.chase.state import (
        ENDING,
        ChaseAction,
        ChaseMemory,
        ChaseStart,
        ChaseState,
        ChaseView,
        HistoryEntry,
        PaymentNotice,
        PlannedSendView,
        PromiseToPay,
    )
    from duely.core.money import format_money, to_major
    from duely.core.temporal import names
    from duely.core.temporal.options import ActivityOptions
    from duely.core.temporal.queues import DELIVERY, LEDGER, queue_for
    from duely.outbox.requests import (
        HandOverAnswer,
        HandOverCheck,
        ReminderOutcome,
        ReminderRequest,
        Verdict,
    )
    from duely.outbox.send_times import wall_time_to_utc
    from duely.workflows.history import history_is_long

OUTBOX_PATIENCE = timedelta(days=10)
"""How long to wait for the outbox's answer (it may wait out a holiday weekend and the
one-a-day cap) before moving on without it."""
HISTORY_KEPT = 200
QUICK: ActivityOptions = {"start_to_close_timeout": timedelta(seconds=30)}
PAYMENT_RETRY = timedelta(hours=1)
"""How long a payment the ledger would not take waits before it is tried again."""
THANKS: ActivityOptions = {
    "start_to_close_timeout": timedelta(seconds=60),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(minutes=10)),
}
LEDGER_CALL: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": timedelta(days=1),
}
PROMISE_WRITE: ActivityOptions = {
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": timedelta(minutes=10),
}
"""The loop writes a promise to the ledger; a ledger that is down for longer is said so on the
timeline (the promise holds in duely regardless)."""
HOLD_LOOKAHEAD = timedelta(days=2)
"""When a hold ends, a due step whose successor falls due within this waits for it: one
reminder, never two steps on consecutive days."""
THANK_EVERY_PAYMENT = "thank-every-payment"
"""Patch: a card payment that leaves something due is thanked too (it was only when it
settled the invoice)."""
CONTINUE_WHEN_ANSWERED = "continue-when-answered"
"""Patch: a chase continues as new only once the outbox has answered its request (it
continued straight after requesting, so a run that was still starting had to answer the
outbox's hand-over question)."""
PAID_WHILE_ENDING = "paid-while-ending"
"""Patch: a payment that arrives while the chase writes its last note is placed before the
chase ends (it used to end with the payment still waiting)."""
TRUSTED_ENGINE = "trusted-engine"
"""Patch: payments before ending, holds withdraw a queued request, instructions change a
queued request, the outbox's hand-over check, the calendar read in an activity."""


def _queue(kind: str) -> str:
    """The task queue of this kind beside the chase's own (duely.core.temporal.queues)."""
    return queue_for(workflow.info().task_queue, kind)


@workflow.defn
class InvoiceChaseWorkflow:
    def __init__(self) -> None:
        self._memory = ChaseMemory()
        self._plan: ChasePlan | None = None
        self._sends: list[Send] = []
        self._dirty = False
        self._replan = False
        self._state: str = ChaseState.SCHEDULED
        self._reason = ""
        self._wake_at: datetime | None = None
        self._unsaved: list[HistoryEntry] = []
        self._published: tuple[str, int, str] | tuple[()] = ()

    def _may_continue_as_new(self) -> bool:
        """Never with a payment waiting to be placed, nor while a request of this run waits in
        the outbox: the outbox asks at the moment of sending, and the run that asked answers.
        (History grows by a handful of events while it waits; Temporal's hard limit is far.)"""
        if self._memory.payments_waiting:
            return False
        return self._memory.awaiting is None or not workflow.patched(CONTINUE_WHEN_ANSWERED)

    @cached_property
    def _v2(self) -> bool:
        """Decided once per run (the first time anything asks), recorded in its history."""
        return workflow.patched(TRUSTED_ENGINE)

    # --- the loop ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: ChaseStart) -> str:
        self._start = start
        if start.memory:
            self._memory = start.memory
        if not self._v2:
            return await self._run_before_trusted_engine(start)
        memory = self._memory
        await self._load_plan()
        while True:
            await self._chase(start)
            self._wake_at = None
            await self._publish(withdraw=memory.awaiting is not None)
            await workflow.wait_condition(workflow.all_handlers_finished)
            # Signals land while the last note is written: a payment among them is placed first.
            if not memory.payments_waiting or not workflow.patched(PAID_WHILE_ENDING):
                return self._state

    async def _chase(self, start: ChaseStart) -> None:
        """Place payments, hold, request reminders and sleep, until the chase has ended."""
        memory = self._memory
        while True:
            self._dirty = False
            if self._replan:
                await self._load_plan()
            if memory.promise_to_write:
                await self._write_promise()
            if self._payments_due():
                await self._place_payments()
            hold = self._hold()
            self._state, self._reason = hold.state, hold.reason
            if hold.held:
                memory.held = True
                if memory.awaiting:
                    await self._withdraw()
            if self._state in ENDING:
                return
            if start.only_payments and not memory.payments_waiting:
                self._state = ChaseState.FINISHED
                self._reason = "the payment was placed; this invoice was not being chased"
                return
            move = Move()
            if hold.held:
                if memory.forced:
                    self._note("not_sent", f"nothing sent now: {self._reason}")
                    memory.forced = None
            elif memory.forced or memory.awaiting is None:
                # A person's instruction changes a queued request rather than waiting behind it.
                move = self._move()
            if move.send:
                await self._request(move)
                continue
            self._wake_at = hold.until if hold.held else move.wake_at
            if memory.awaiting:
                self._state = ChaseState.QUEUED
                self._wake_at = self._awaited_since + OUTBOX_PATIENCE
            elif not hold.held and move.wake_at is None:
                self._state, self._reason = (
                    ChaseState.FINISHED,
                    "every step of the schedule went out",
                )
            await self._publish()
            if history_is_long(start.history_limit) and self._may_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._publish()  # what the handlers wrote meanwhile
                workflow.continue_as_new(replace(start, memory=memory))
            await self._sleep()
            if memory.awaiting and self._patience_ran_out():
                self._note("outbox_silent", "the outbox never answered; moving on")
                self._handled(memory.awaiting)
                memory.awaiting = None

    async def _sleep(self) -> None:
        """Until the next moment to act, or a signal, whichever comes first."""
        timeout = self._wake_at - workflow.now() if self._wake_at else None
        if timeout is None or timeout > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self._dirty, timeout=timeout)
            except TimeoutError:
                # Woken by the clock, about to act: read the plan again, so that edits to
                # the schedule, its templates or the send window made meanwhile apply.
                self._replan = True

    def _hold(self) -> Hold:
        memory = self._memory
        hold = hold_of(memory, self._facts, self._loaded.off_reason, self._start_of, workflow.now())
        if hold.pause_ended:
            memory.paused, memory.paused_until, memory.pause_reason = False, None, ""
            self._note("resumed", "the pause ended")
        if hold.promise_lapsed:
            memory.promised_until = None
            self._note(
                "promise_passed",
                f"the payment promised for {hold.promise_lapsed} has not arrived",
            )
        return hold

    def _move(self) -> Move:
        memory, now = self._memory, workflow.now()
        handled = set(memory.handled)
        if memory.forced:
            move = forced_move(self._sends, handled, escalate=memory.forced == "escalate")
            if move.send is None:
                self._note("not_sent", "nothing sent now: every step of the schedule went out")
            memory.forced = None
            move.urgent = move.send is not None
            return move
        if memory.held and not any(s.at <= now for s in self._sends if s.key not in handled):
            memory.held = False  # the hold ended with nothing overdue: the schedule goes on
        lookahead = timedelta(0)
        if memory.held:
            # Counted from when the reminder would actually go out (the next send window).
            lookahead = HOLD_LOOKAHEAD + (goes_out(self._loaded, now) - now)
        return next_move(self._sends, handled, now, lookahead)

    async def _request(self, move: Move) -> None:
        send = move.send
        if send is None:
            raise ValueError("a move with nothing to send was requested")
        for skipped in move.passed_over:
            self._pass_over(skipped, send)
        request = self._reminder_request(send, move.urgent)
        self._memory.awaiting = send.key
        self._memory.awaiting_since = workflow.now().isoformat()
        self._memory.held = False
        now = " to send now" if move.urgent else ""
        self._note("queued", f"{request.step_label} handed to the outbox{now}")
        await workflow.execute_activity_method(
            ChaseActivities.hand_to_outbox,
            OutboxHandOver(
                self._start.organisation_id,
                self._start.customer_id,
                request,
                self._start.history_limit,
            ),
            **QUICK,
        )

    def _reminder_request(self, send: Send, urgent: bool = False) -> ReminderRequest:
        return ReminderRequest(
            invoice_id=self._start.invoice_id,
            chase_workflow_id=workflow.info().workflow_id,
            send_key=send.key,
            step_label=send_label(send),
            offset_days=send.step.offset_days,
            channel=send.step.channel,
            template_id=send.step.template_id,
            recipient_kind=send.step.recipient_kind,
            urgent=urgent,
        )

    def _pass_over(self, skipped: Send, by: Send) -> None:
        self._handled(skipped.key)
        self._memory.passed_over.append(skipped.key)
        self._note(
            "passed_over", f"{send_label(skipped)} was not sent: {send_label(by)} replaces it"
        )

    async def _withdraw(self) -> None:
        """A hold began while a request waited in the outbox: take it back. The step is not
        done: it is planned again when the hold ends."""
        send = self._send(self._memory.awaiting)
        self._memory.awaiting = None
        what = send_label(send) if send else "the queued reminder"
        self._note("withdrawn", f"{what} taken back from the outbox: {self._reason}")
        await self._publish(withdraw=True)

    async def _write_promise(self) -> None:
        action, self._memory.promise_to_write = self._memory.promise_to_write, None
        if action is None:
            return  # the loop calls this only when a promise waits to be written
        # Written back to the ledger as the expected payment date, so the books show it too.
        try:
            await workflow.execute_activity_method(
                ChaseActivities.promise_in_ledger,
                action,
                task_queue=_queue(LEDGER),
                **PROMISE_WRITE,
            )
        except ActivityError as error:
            cause = error.cause or error
            self._note("ledger_refused", f"the ledger did not take the promised date: {cause}")

    async def _load_plan(self) -> None:
        self._replan = False
        if not self._v2:
            self._plan = await workflow.execute_activity_method(
                ChaseActivities.load_chase_plan, self._start.invoice_id, **QUICK
            )
        else:
            due = self._memory.facts.due_date if self._memory.facts else None
            request = PlanRequest(self._start.invoice_id, due, workflow.now().isoformat())
            self._plan = await workflow.execute_activity_method(
                ChaseActivities.plan_chase, request, **QUICK
            )
        # Signals keep the facts current (sync, payments, the outbox's re-read); the database
        # plan only seeds them. Sends are planned from the current due date.
        if self._memory.facts is None:
            self._memory.facts = self._plan.invoice
        self._plan.invoice = self._memory.facts
        if self._v2:
            self._sends = sends_of(self._plan)
        else:
            with workflow.unsafe.sandbox_unrestricted():
                self._sends = planned_sends(self._plan)

    # --- runs started before TRUSTED_ENGINE (kept until none is left) -------------------------

    async def _run_before_trusted_engine(self, start: ChaseStart) -> str:
        memory = self._memory
        await self._load_plan()
        while True:
            self._dirty = False
            if self._replan:
                await self._load_plan()
            if self._payments_due():
                await self._place_payments()
            self._state, self._reason, hold_until = self._hold_before_trusted_engine()
            if self._state in ENDING:
                break
            if start.only_payments and not memory.payments_waiting:
                self._state = ChaseState.FINISHED
                self._reason = "the payment was placed; this invoice was not being chased"
                break
            move = Move()
            if memory.awaiting is None and self._state == ChaseState.SCHEDULED:
                if memory.forced:
                    move = forced_move(
                        self._sends, set(memory.handled), escalate=memory.forced == "escalate"
                    )
                    memory.forced = None
                else:
                    move = next_move(self._sends, set(memory.handled), workflow.now())
            elif memory.forced:
                self._note(
                    "not_sent", f"nothing sent now: {self._reason or 'a reminder is queued'}"
                )
                memory.forced = None
            if move.send:
                await self._request(move)
                continue
            self._wake_at = hold_until if self._state != ChaseState.SCHEDULED else move.wake_at
            if memory.awaiting:
                self._state = ChaseState.QUEUED
                self._wake_at = self._awaited_since + OUTBOX_PATIENCE
            elif self._state == ChaseState.SCHEDULED and move.wake_at is None:
                self._state, self._reason = (
                    ChaseState.FINISHED,
                    "every step of the schedule went out",
                )
            await self._publish()
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    ChaseStart(
                        start.organisation_id,
                        start.invoice_id,
                        start.customer_id,
                        memory,
                        start.only_payments,
                    )
                )
            await self._sleep()
            if memory.awaiting and self._patience_ran_out():
                self._note("outbox_silent", "the outbox never answered; moving on")
                self._handled(memory.awaiting)
                memory.awaiting = None
        self._wake_at = None
        await self._publish(withdraw=memory.awaiting is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    def _hold_before_trusted_engine(self) -> tuple[str, str, datetime | None]:
        memory = self._memory
        facts = self._facts
        if memory.stopped:
            return ChaseState.STOPPED, "chasing was stopped", None
        if facts.status == "voided":
            return ChaseState.VOIDED, "the invoice was voided", None
        if facts.settled:
            return ChaseState.PAID, "the invoice is paid", None
        if memory.payments_waiting:
            retry = memory.payment_retry_at
            return (
                ChaseState.RECORDING,
                "a payment is being recorded in the ledger",
                self._instant(retry) if retry else None,
            )
        if self._loaded.off_reason:
            return ChaseState.OFF, self._loaded.off_reason, None
        if memory.disputed or facts.disputed:
            return ChaseState.DISPUTED, memory.dispute_reason or "the invoice is disputed", None
        if memory.paused:
            if memory.paused_until is None:
                return ChaseState.PAUSED, memory.pause_reason or "paused", None
            ends = self._start_of(memory.paused_until)
            if workflow.now() < ends:
                return ChaseState.PAUSED, memory.pause_reason or "paused", ends
            memory.paused, memory.paused_until, memory.pause_reason = False, None, ""
            self._note("resumed", "the pause ended")
        promised = max(
            filter(None, (memory.promised_until, facts.expected_payment_date)), default=None
        )
        if promised:
            resumes = self._start_of(promised) + timedelta(days=PROMISE_GRACE_DAYS + 1)
            if workflow.now() < resumes:
                return ChaseState.PROMISED, f"payment promised for {promised}", resumes
            if memory.promised_until:
                memory.promised_until = None
                self._note("promise_passed", f"the payment promised for {promised} has not arrived")
        return ChaseState.SCHEDULED, "", None

    # --- signals from sync, payments and the outbox ----------------------------------------

    @workflow.signal
    def invoice_changed(self, facts: InvoiceFacts) -> None:
        before = self._memory.facts
        if before and before.due_date != facts.due_date:
            self._note(
                "due_date_changed", f"due date moved from {before.due_date} to {facts.due_date}"
            )
            self._replan = True
        if before and before.amount_due != facts.amount_due and not facts.settled:
            self._note(
                "amount_changed",
                f"amount due is now {format_money(facts.amount_due, facts.currency)}",
            )
        self._memory.facts = facts
        self._wake()

    @workflow.signal
    def payment_received(self, payment: PaymentNotice) -> None:
        if payment.payment_id:
            if payment.payment_id not in self._memory.payments_taken:
                self._memory.payments_taken.append(payment.payment_id)
                self._memory.payments_waiting.append(payment)
                self._note(
                    "payment",
                    f"{format_money(payment.amount, payment.currency)} paid by card "
                    f"({payment.payment_id}); recording it in the ledger",
                )
                self._wake()
            return
        # A payment the ledger already holds: only the amount due changes.
        facts = self._facts
        facts.amount_due = max(0, facts.amount_due - payment.amount)
        left = (
            f"; {format_money(facts.amount_due, facts.currency)} still due"
            if facts.amount_due
            else ""
        )
        self._note(
            "payment",
            f"{format_money(payment.amount, payment.currency)} received ({payment.source}){left}",
        )
        self._wake()

    @workflow.signal
    def reminder_outcome(self, outcome: ReminderOutcome) -> None:
        memory = self._memory
        if outcome.invoice:
            memory.facts = self._newer(outcome.invoice)
        awaited = memory.awaiting is not None and memory.awaiting in (
            outcome.send_key,
            outcome.replaced,
        )
        if self._v2 and outcome.verdict == Verdict.DROPPED and (outcome.held or not awaited):
            # Not sent because of a hold (or a request the chase took back): the step is not
            # done; it is planned again when the hold ends.
            if awaited:
                memory.awaiting = None
            self._note("reminder_held", outcome.detail)
            self._wake()
            return
        if outcome.replaced:
            # The outbox sent a later step that had come due by the time it sent.
            sent = self._send(outcome.send_key)
            for send in self._sends:
                if sent and send.at < sent.at and send.key not in memory.handled:
                    self._pass_over(send, sent)
        self._handled(outcome.send_key)
        if awaited:
            memory.awaiting = None
        self._note(f"reminder_{outcome.verdict}", outcome.detail, outcome.message_id)
        self._wake()

    @workflow.signal
    def retry_payments(self) -> None:
        """A person fixed what kept a payment out of the ledger (the account for card
        payments, the connection): try again now rather than within the hour."""
        if self._memory.payments_waiting and self._memory.payment_retry_at:
            self._memory.payment_retry_at = None
            self._note("payment_retry", "trying the payment again: the ledger settings changed")
            self._wake()

    @workflow.signal
    def chasing_changed(self) -> None:
        """The customer opted out or in, chasing was switched, or the schedule changed."""
        self._replan = True
        self._wake()

    # --- payments ----------------------------------------------------------------------------

    def _payments_due(self) -> bool:
        retry = self._memory.payment_retry_at
        return bool(self._memory.payments_waiting) and (
            retry is None or workflow.now() >= self._instant(retry)
        )

    async def _place_payments(self) -> None:
        """Record each waiting payment in the ledger, oldest first. One the ledger will not
        take yet stays waiting (nothing is sent meanwhile) and is tried again later."""
        memory = self._memory
        while memory.payments_waiting:
            notice = memory.payments_waiting[0]
            share = PaymentShare(
                self._start.organisation_id,
                self._start.invoice_id,
                notice.payment_id,
                notice.amount,
                notice.currency,
                notice.paid_at,
            )
            money = format_money(notice.amount, notice.currency)
            try:
                placed = await workflow.execute_activity_method(
                    PaymentActivities.place_payment,
                    share,
                    task_queue=_queue(LEDGER),
                    **PLACE_PAYMENT,
                )
            except ActivityError as error:
                cause = str(error.cause or error)
                memory.payment_retry_at = (workflow.now() + PAYMENT_RETRY).isoformat()
                configuration = getattr(error.cause, "type", "") == LEDGER_CONFIGURATION
                self._note(
                    "ledger_configuration" if configuration else "ledger_write_failed",
                    f"{money} is not in the ledger yet: {cause}",
                )
                await workflow.execute_activity_method(
                    PaymentActivities.payment_not_placed, PaymentTrouble(share, cause), **QUICK
                )
                return
            memory.payments_waiting.pop(0)
            memory.payment_retry_at = None
            facts = self._facts
            facts.amount_due, facts.status = placed.amount_due, placed.status
            if placed.outcome == UNMATCHED:
                self._note("payment_unmatched", f"{money} was not placed: {placed.detail}")
                continue
            left = (
                f"; {format_money(facts.amount_due, facts.currency)} still due"
                if not facts.settled
                else ""
            )
            self._note("payment_recorded", placed.detail + left)
            # One thank-you per payment (the activity keys it by payment): a part payment is
            # thanked too, with what remains due.
            if facts.settled or workflow.patched(THANK_EVERY_PAYMENT):
                await workflow.execute_activity_method(
                    PaymentActivities.thank_for_payment,
                    share,
                    task_queue=_queue(DELIVERY),
                    **THANKS,
                )

    # --- a person's instructions -------------------------------------------------------------

    @workflow.signal
    def pause(self, action: ChaseAction) -> None:
        if action.until and not self._sane_day(action.until):
            self._note("ignored", f"pause until {action.until!r} ignored: not a date duely can use")
            return
        memory = self._memory
        memory.paused, memory.paused_until = True, action.until
        memory.pause_reason = action.reason or "paused"
        until = f" until {action.until}" if action.until else ""
        self._note("paused", f"paused{until} by {action.by or 'someone'}{self._why(action)}")
        self._wake()

    @workflow.signal
    def resume(self, action: ChaseAction) -> None:
        memory = self._memory
        promised = max(
            filter(None, (memory.promised_until, self._facts.expected_payment_date)), default=None
        )
        was_held = memory.paused or promised
        memory.paused, memory.paused_until, memory.pause_reason = False, None, ""
        memory.promised_until = None
        # The ledger keeps its expected payment date (ours, written back, may reach the facts
        # later) until someone changes it there: chasing resumes over it.
        if promised:
            memory.dismissed_promise = max(promised, memory.dismissed_promise or promised)
        if was_held:
            self._note("resumed", f"resumed by {action.by or 'someone'}")
        self._wake()

    @workflow.signal
    def escalate(self, action: ChaseAction) -> None:
        self._memory.forced = "escalate"
        self._note("escalated", f"escalated by {action.by or 'someone'}{self._why(action)}")
        self._wake()

    @workflow.signal
    def send_now(self, action: ChaseAction) -> None:
        self._memory.forced = "send-now"
        self._note("send_now", f"next reminder brought forward by {action.by or 'someone'}")
        self._wake()

    @workflow.signal
    def open_dispute(self, action: ChaseAction) -> None:
        self._memory.disputed = True
        self._memory.dispute_reason = f"disputed: {action.reason}" if action.reason else "disputed"
        self._note(
            "dispute_opened", f"dispute opened by {action.by or 'someone'}{self._why(action)}"
        )
        self._wake()

    @workflow.signal
    def resolve_dispute(self, action: ChaseAction) -> None:
        self._memory.disputed, self._memory.dispute_reason = False, ""
        if self._facts.disputed:
            self._facts.disputed = False
        self._note(
            "dispute_resolved", f"dispute resolved by {action.by or 'someone'}{self._why(action)}"
        )
        self._wake()

    @workflow.signal
    async def promise(self, action: PromiseToPay) -> None:
        if not self._sane_day(action.day):
            self._note("ignored", f"promise for {action.day!r} ignored: not a date duely can use")
            return
        self._memory.promised_until = action.day
        self._note("promised", f"payment promised for {action.day} (told {action.by or 'us'})")
        self._wake()
        if self._v2:
            self._memory.promise_to_write = action  # the loop writes it to the ledger
            return
        try:
            await workflow.execute_activity_method(
                ChaseActivities.promise_in_ledger, action, task_queue=_queue(LEDGER), **LEDGER_CALL
            )
        except ActivityError as error:
            cause = error.cause or error
            self._note("ledger_refused", f"the ledger did not take the promised date: {cause}")
            self._wake()

    @workflow.signal
    def stop(self, action: ChaseAction) -> None:
        self._memory.stopped = True
        self._note("stopped", f"chasing stopped by {action.by or 'someone'}{self._why(action)}")
        self._wake()

    @workflow.query
    def hand_over(self, check: HandOverCheck) -> HandOverAnswer:
        """The outbox is about to send this chase's request: may it, and which step applies
        now? Judged by the chase's own state and the invoice as the ledger shows it."""
        if self._plan is None:
            return HandOverAnswer(starting=True)
        memory = self._memory
        at = self._instant(check.at)
        # The chase's own facts first: a payment it placed after the outbox read the ledger
        # settles the invoice even though that read still shows it owing.
        for facts in (self._facts, check.invoice or self._facts):
            hold = hold_of(memory, facts, self._plan.off_reason, self._start_of, at)
            if hold.held:
                return HandOverAnswer(reason=hold.reason)
        if memory.awaiting != check.send_key:
            return HandOverAnswer(reason="the chase took this request back")
        requested = self._send(check.send_key)
        latest = next_move(self._sends, set(memory.handled), at).send
        if requested and latest and latest.at > requested.at:
            return HandOverAnswer(request=self._reminder_request(latest))
        return HandOverAnswer()

    @workflow.query
    def view(self) -> ChaseView:
        facts = self._facts
        handled, awaiting = set(self._memory.handled), self._memory.awaiting
        passed = set(self._memory.passed_over)
        sends = []
        for send in self._sends:
            if send.key == awaiting:
                status = "queued"
            elif send.key in handled:
                status = "passed over" if send.key in passed else "done"
            else:
                status = "planned"
            sends.append(
                PlannedSendView(
                    send.key, send.step.label, send.step.channel, send.at.isoformat(), status
                )
            )
        upcoming = [s for s in self._sends if s.key not in handled and s.key != awaiting]
        return ChaseView(
            state=self._state,
            reason=self._reason,
            next_send_at=self._wake_at.isoformat() if self._wake_at and upcoming else None,
            next_step=upcoming[0].step.label
            if upcoming and self._state == ChaseState.SCHEDULED
            else "",
            paused_until=self._memory.paused_until,
            disputed=self._state == ChaseState.DISPUTED,
            promised_until=self._memory.promised_until or facts.expected_payment_date,
            amount_due=facts.amount_due,
            currency=facts.currency,
            due_date=facts.due_date,
            sends=sends,
            history=list(self._memory.history),
        )

    # --- bookkeeping -------------------------------------------------------------------------

    @property
    def _facts(self) -> InvoiceFacts:
        return self._memory.facts or self._loaded.invoice

    @property
    def _loaded(self) -> ChasePlan:
        """The plan, which the run reads before anything else (`_load_plan`)."""
        if self._plan is None:
            raise RuntimeError("the chase plan is not loaded yet")
        return self._plan

    @property
    def _awaited_since(self) -> datetime:
        """When the request waiting in the outbox was handed to it (set with `awaiting`)."""
        since = self._memory.awaiting_since
        if since is None:
            raise RuntimeError("a request waits in the outbox with no time it was handed over")
        return self._instant(since)

    def _wake(self) -> None:
        self._dirty = True

    def _newer(self, read: InvoiceFacts) -> InvoiceFacts:
        """The outbox's read of the invoice, unless a payment this chase placed is newer than
        it: a read from before the payment must not make a paid invoice owe again."""
        facts = self._facts
        if not self._v2 or facts is None:
            return read
        if facts.settled and not read.settled:
            return facts
        read.amount_due = min(read.amount_due, facts.amount_due)
        return read

    def _send(self, key: str | None) -> Send | None:
        return next((send for send in self._sends if send.key == key), None)

    def _handled(self, key: str) -> None:
        if key not in self._memory.handled:
            self._memory.handled.append(key)

    def _note(self, kind: str, detail: str, message_id: int | None = None) -> None:
        entry = HistoryEntry(workflow.now().isoformat(), kind, detail, message_id)
        self._memory.history = (self._memory.history + [entry])[-HISTORY_KEPT:]
        self._unsaved.append(entry)

    async def _publish(self, withdraw: bool = False) -> None:
        """Mirror the state into the database (lists, dashboard, timeline) and into the search
        attributes operators filter on, when something changed."""
        facts = self._facts
        now_published = (self._state, facts.amount_due, facts.due_date)
        if not self._unsaved and now_published == self._published and not withdraw:
            return
        if now_published != self._published:
            workflow.upsert_search_attributes(
                [
                    names.ORG.value_set(str(self._start.organisation_id)),
                    names.CUSTOMER.value_set(str(self._start.customer_id)),
                    names.INVOICE_NUMBER.value_set(facts.number),
                    names.CHASE_STATE.value_set(self._state),
                    names.AMOUNT_DUE.value_set(float(to_major(facts.amount_due, facts.currency))),
                    names.DUE_DATE.value_set(self._start_of(facts.due_date, zone="UTC")),
                ]
            )
        note = ChaseNote(
            invoice_id=self._start.invoice_id,
            chase_state=self._state,
            workflow_id=workflow.info().workflow_id,
            events=[(e.at, e.kind, e.detail, e.message_id) for e in self._unsaved],
            disputed=self._state == ChaseState.DISPUTED,
            stop_chasing=self._state == ChaseState.STOPPED,
            withdraw_from_outbox=withdraw,
        )
        self._unsaved = []
        self._published = now_published
        await workflow.execute_activity_method(ChaseActivities.note_chase, note, **QUICK)

    def _patience_ran_out(self) -> bool:
        return workflow.now() >= self._awaited_since + OUTBOX_PATIENCE

    def _start_of(self, day: str, zone: str | None = None) -> datetime:
        timezone = zone or self._loaded.window.timezone
        with workflow.unsafe.sandbox_unrestricted():
            return wall_time_to_utc(date.fromisoformat(day), time(0), timezone)

    @staticmethod
    def _sane_day(text: str) -> bool:
        """A signal is not validated by anyone but us: a date years away would overflow the
        arithmetic and fail every workflow task from then on."""
        try:
            return date(2000, 1, 1) <= date.fromisoformat(text) <= date(2200, 1, 1)
        except ValueError:
            return False

    @staticmethod
    def _instant(text: str) -> datetime:
        return datetime.fromisoformat(text)

    @staticmethod
    def _why(action: ChaseAction) -> str:
        return f": {action.reason}" if action.reason else ""
