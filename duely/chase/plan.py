"""What a chase is made of, as plain data that travels through Temporal, and the pure rule
that decides which reminder is due.

InvoiceChaseWorkflow holds a `ChasePlan` (read from the database by an activity), the set of
sends it has already dealt with, and the holds that stop it (pause, dispute, promise...).
`next_move` turns those and "now" into what to do: send one reminder now, wait until a moment,
or nothing is left. Kept here, without Temporal, so the rule is tested on its own and the
workflow stays a thin loop.

Dates and instants are ISO text: the payloads must survive Temporal's JSON converter as is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from duely.outbox.send_times import MONDAY_TO_FRIDAY, SendWindow, StepTiming, step_send_moment

PROMISE_GRACE_DAYS = 3
"""A promised payment may arrive a few days late before chasing starts again."""


@dataclass
class WindowSpec:
    """A SendWindow in payload form."""

    start: str
    end: str
    country: str
    timezone: str
    subdivision: str = ""
    days: str = MONDAY_TO_FRIDAY

    def window(self) -> SendWindow:
        return SendWindow(
            start=time.fromisoformat(self.start),
            end=time.fromisoformat(self.end),
            country=self.country,
            timezone=self.timezone,
            subdivision=self.subdivision or None,
            days=self.days,
        )


@dataclass
class PlanStep:
    step_id: int
    label: str
    offset_days: int
    channel: str
    template_id: int | None
    recipient_kind: str
    repeat_every_days: int | None = None
    repeat_max_times: int | None = None

    def timing(self) -> StepTiming:
        return StepTiming(
            str(self.step_id), self.offset_days, self.repeat_every_days, self.repeat_max_times
        )


@dataclass
class InvoiceFacts:
    """The invoice as the mirror of the ledger last saw it."""

    number: str
    due_date: str
    currency: str
    amount_due: int
    status: str
    disputed: bool = False
    expected_payment_date: str | None = None

    @property
    def settled(self) -> bool:
        return self.status in ("paid", "voided") or (self.status == "open" and self.amount_due <= 0)


@dataclass
class ChasePlan:
    """Everything the workflow needs from the database; re-read whenever it wakes to send."""

    organisation_id: int
    customer_id: int
    invoice_id: int
    invoice: InvoiceFacts
    window: WindowSpec
    steps: list[PlanStep]
    off_reason: str = ""
    """Why this invoice must not be chased at all (chasing switched off)."""
    send_times: list[SendTime] = field(default_factory=list)
    """When each send falls due, worked out by the activity that read the plan: holidays and
    time-zone rules are calendar data a library upgrade may change, so the workflow keeps the
    answer in its history instead of computing it (a replay must not change its mind)."""
    windows: list[WindowTimes] = field(default_factory=list)
    """The send windows of the weeks ahead, read with the plan for the same reason: when a
    reminder asked for now actually goes out. (Empty in plans read before it existed.)"""


@dataclass
class WindowTimes:
    """One day's send window, as instants (ISO)."""

    opens: str
    closes: str


@dataclass
class SendTime:
    step_id: int
    repeat: int
    at: str


@dataclass(frozen=True)
class Send:
    """One planned reminder: the `repeat`-th send of a step."""

    key: str
    step: PlanStep
    repeat: int
    at: datetime


def send_label(send: Send) -> str:
    """How the timeline and the outbox name a send: "Firm overdue (repeat 2)"."""
    return send.step.label + (f" (repeat {send.repeat})" if send.repeat else "")


def send_key(step_id: int, repeat: int) -> str:
    # The step's database id, not its position: editing other steps keeps what was sent.
    return f"{step_id}.{repeat}"


def planned_sends(plan: ChasePlan) -> list[Send]:
    """Every send of the plan, in time order (ties keep the schedule's order)."""
    window = plan.window.window()
    due = date.fromisoformat(plan.invoice.due_date)
    sends = []
    for step in plan.steps:
        timing = step.timing()
        for repeat in range(timing.send_count):
            at = step_send_moment(due, timing, window, repeat)
            sends.append(Send(send_key(step.step_id, repeat), step, repeat, at))
    return sorted(sends, key=lambda send: send.at)


def send_times(plan: ChasePlan) -> list[SendTime]:
    """The plan's sends as payload: computed outside the workflow, from the calendar."""
    return [
        SendTime(send.step.step_id, send.repeat, send.at.isoformat())
        for send in planned_sends(plan)
    ]


def goes_out(plan: ChasePlan, now: datetime) -> datetime:
    """When a reminder handed to the outbox at `now` goes out: in the next send window."""
    for window in plan.windows:
        if datetime.fromisoformat(window.closes) > now:
            return max(now, datetime.fromisoformat(window.opens))
    return now


def sends_of(plan: ChasePlan) -> list[Send]:
    """The sends of a plan whose `send_times` were worked out already (no calendar needed)."""
    steps = {step.step_id: step for step in plan.steps}
    return [
        Send(
            send_key(time.step_id, time.repeat),
            steps[time.step_id],
            time.repeat,
            datetime.fromisoformat(time.at),
        )
        for time in plan.send_times
        if time.step_id in steps
    ]


@dataclass
class Move:
    send: Send | None = None
    """Send this now."""
    passed_over: list[Send] = field(default_factory=list)
    """Sends whose time came while chasing could not act (downtime, a pause...) and that a
    later step replaces: recorded on the timeline, never sent."""
    wake_at: datetime | None = None
    """When the next send falls due; None when the schedule has nothing left."""
    urgent: bool = False
    """A person asked for it now: the outbox sends it at once."""


def next_move(
    sends: list[Send], handled: set[str], now: datetime, lookahead: timedelta = timedelta(0)
) -> Move:
    """After downtime only the latest step that still applies goes out; the earlier ones it
    replaces are passed over (and said so).

    With a `lookahead` (after a hold ends), a due step whose successor falls due within it
    waits for that successor instead: the customer gets one reminder, not two steps on
    consecutive days."""
    pending = [send for send in sends if send.key not in handled]
    due = [send for send in pending if send.at <= now]
    later = [send for send in pending if send.at > now]
    if due and later and later[0].at <= now + lookahead:
        return Move(wake_at=later[0].at)
    return Move(
        send=due[-1] if due else None,
        passed_over=due[:-1],
        wake_at=later[0].at if later else None,
    )


def forced_move(sends: list[Send], handled: set[str], escalate: bool) -> Move:
    """ "Send next now" brings the next pending send forward; "escalate now" jumps to the next
    pending send to escalation contacts (else the last one), passing over what lies between."""
    pending = [send for send in sends if send.key not in handled]
    if not pending:
        return Move()
    target = pending[0]
    if escalate:
        escalations = [s for s in pending if s.step.recipient_kind == "escalated"]
        target = escalations[0] if escalations else pending[-1]
    index = pending.index(target)
    return Move(send=target, passed_over=pending[:index])
