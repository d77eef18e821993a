"""What the invoice workflows and a customer's outbox say to each other (plain payloads).

An InvoiceChaseWorkflow decides *when* a step is due and hands a `ReminderRequest` to the
CustomerOutboxWorkflow of its customer, which decides *how and whether*: it batches the
customer's requests into one message per channel, re-reads the invoices, applies opt-out and
the one-a-day cap, sends, and answers each request with a `ReminderOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from duely.chasing.plan import InvoiceFacts


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


@dataclass
class ReminderBatch:
    organisation_id: int
    customer_id: int
    local_day: str
    """The sending day in the customer's zone: the one-a-day cap counts in it."""
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
