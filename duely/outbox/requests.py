"""What the invoice workflows and a customer's outbox say to each other (plain payloads).

An InvoiceChaseWorkflow decides *when* a step is due and hands a `ReminderRequest` to the
CustomerOutboxWorkflow of its customer, which decides *how and whether*: it batches the
customer's requests into one message per channel, re-reads the invoices, applies opt-out and
the one-a-day cap, sends, and answers each request with a `ReminderOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from duely.chase.plan import InvoiceFacts


@dataclass
class ReminderRequest:
    invoice_id: int
    chase_workflow_id: str
    send_key: str
    step_label: str
    offset_days: int
    channel: str
    template_id: int | None
    recipient_kind: str
    urgent: bool = False
    """A person asked for it now ("send next now", "escalate"): it goes out at once, outside
    the send window and past the one-a-day cap (the page asked them to confirm that)."""


@dataclass
class HandOverCheck:
    """The outbox asks the chase, at the moment of sending, whether its request still applies."""

    send_key: str
    at: str
    """The instant of sending (ISO)."""
    invoice: InvoiceFacts | None = None
    """The invoice as the ledger shows it right now."""


@dataclass
class HandOverAnswer:
    reason: str = ""
    """Why nothing may be sent for the invoice now (a hold); empty when it may."""
    request: ReminderRequest | None = None
    """What to send: the step that applies now, which may be a later one than requested."""
    starting: bool = False
    """The chase has just continued as new and not yet read its plan: ask again shortly."""


@dataclass
class OutboxStart:
    organisation_id: int
    customer_id: int
    pending: list[ReminderRequest] = field(default_factory=list)
    """Requests carried over a continue-as-new."""
    not_before: str | None = None
    gather_seconds: int = 60
    """How long to wait for the customer's other reminders once one arrives: invoices due in
    the same window wake within seconds of each other and should share one message."""
    history_limit: int | None = None
    """Continue as new at this many history events too (duely.workflows.history)."""


class Verdict(StrEnum):
    SENT = "sent"
    """Handed to the mail server / SMS provider (or, for a call task, given to a person)."""
    HELD = "held"
    """Kept in the in-app outbox: no transport is configured."""
    DROPPED = "dropped"
    """Not sent, on purpose (paid, disputed, opted out...); the detail says why."""
    FAILED = "failed"
    """Could not be sent (no address, refused by the server); visible in the outbox."""


@dataclass
class ReminderOutcome:
    invoice_id: int
    send_key: str
    verdict: str
    detail: str
    message_id: int | None = None
    invoice: InvoiceFacts | None = None
    """The invoice as re-read right before sending; None when it was not read."""
    replaced: str = ""
    """The send key of the request this outcome answers, when a later step went out instead
    (`send_key` is then the step that was sent)."""
    held: bool = False
    """Dropped because the chase was on hold at hand-over: not an answer to the step itself,
    which the chase plans again once the hold ends."""


@dataclass
class ReminderBatch:
    organisation_id: int
    customer_id: int
    local_day: str
    """The sending day in the customer's zone: the one-a-day cap counts in it. Empty: the
    activity works it out from `sending_at`."""
    sending_at: str
    """The workflow's clock when it sent (ISO instant)."""
    requests: list[ReminderRequest]


@dataclass
class BatchResult:
    outcomes: list[ReminderOutcome] = field(default_factory=list)
    retry_on: str | None = None
    """Set when nothing was sent because the customer already had a reminder that day (or
    the ledger could not be read): the local day from which to try again."""
    retry_reason: str = ""
    retry_at: str | None = None
    """The instant `retry_on` begins where the customer is (ISO)."""
