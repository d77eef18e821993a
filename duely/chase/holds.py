"""What stops an invoice from being chased right now, as one pure rule.

The chase asks it before planning, and answers the outbox's hand-over check with it, so the
two can never disagree: a reminder goes out only if the chase itself would send it at that
moment. Kept free of Temporal (the workflow passes its clock and calendar) so it is tested on
its own.

Order matters when several hold at once: a payment waiting to be placed comes first (it must
never be dropped, even by a stop), then stopped > voided > paid > chasing off > disputed >
paused > promised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from duely.chase.plan import PROMISE_GRACE_DAYS, InvoiceFacts
from duely.chase.state import ChaseMemory, ChaseState

DayStart = Callable[[str], datetime]
"""The instant an ISO day begins where the customer is."""


@dataclass
class Hold:
    state: str
    reason: str = ""
    until: datetime | None = None
    """When the hold ends by itself (a pause with an end, a promise's grace, a payment retry)."""
    pause_ended: bool = False
    """A pause with an end date is over: the chase forgets it and says so."""
    promise_lapsed: str | None = None
    """The promised day whose grace ran out without the money: the chase says so."""

    @property
    def held(self) -> bool:
        return self.state != ChaseState.SCHEDULED


def promised_day(memory: ChaseMemory, facts: InvoiceFacts) -> str | None:
    """The latest promise in force: the chase's own, or the ledger's expected payment date
    unless a person resumed chasing over it (a later date in the ledger holds again)."""
    ledger = facts.expected_payment_date
    if ledger and memory.dismissed_promise and ledger <= memory.dismissed_promise:
        ledger = None
    return max(filter(None, (memory.promised_until, ledger)), default=None)


def hold_of(
    memory: ChaseMemory, facts: InvoiceFacts, off_reason: str, day_start: DayStart, now: datetime
) -> Hold:
    """The chase's state before planning: SCHEDULED when nothing holds it."""
    if memory.payments_waiting:
        retry = memory.payment_retry_at
        return Hold(
            ChaseState.RECORDING,
            "a payment is being recorded in the ledger",
            datetime.fromisoformat(retry) if retry else None,
        )
    if memory.stopped:
        return Hold(ChaseState.STOPPED, "chasing was stopped")
    if facts.status == "voided":
        return Hold(ChaseState.VOIDED, "the invoice was voided")
    if facts.settled:
        return Hold(ChaseState.PAID, "the invoice is paid")
    if off_reason:
        return Hold(ChaseState.OFF, off_reason)
    if memory.disputed or facts.disputed:
        return Hold(ChaseState.DISPUTED, memory.dispute_reason or "the invoice is disputed")
    pause_ended = False
    if memory.paused:
        reason = memory.pause_reason or "paused"
        if memory.paused_until is None:
            return Hold(ChaseState.PAUSED, reason)
        ends = day_start(memory.paused_until)
        if now < ends:
            return Hold(ChaseState.PAUSED, reason, ends)
        pause_ended = True
    promised = promised_day(memory, facts)
    if promised:
        resumes = day_start(promised) + timedelta(days=PROMISE_GRACE_DAYS + 1)
        if now < resumes:
            return Hold(
                ChaseState.PROMISED, f"payment promised for {promised}", resumes, pause_ended
            )
        if memory.promised_until:
            return Hold(ChaseState.SCHEDULED, "", None, pause_ended, promised)
    return Hold(ChaseState.SCHEDULED, "", None, pause_ended)
