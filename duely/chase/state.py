"""The state of one invoice's chase as plain payloads: what InvoiceChaseWorkflow carries over
a continue-as-new, the instructions people send it, and the view its query returns to the web
UI and the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from duely.chase.plan import InvoiceFacts


class ChaseState(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    PAUSED = "paused"
    DISPUTED = "disputed"
    PROMISED = "promised"
    OFF = "off"
    RECORDING = "recording payment"
    """Money arrived and is not in the ledger yet: nothing is sent meanwhile."""
    FINISHED = "finished"
    """Every step went out; the invoice is still open (a person takes it from here)."""
    PAID = "paid"
    VOIDED = "voided"
    STOPPED = "stopped"


ENDING = {ChaseState.PAID, ChaseState.VOIDED, ChaseState.STOPPED}


@dataclass
class HistoryEntry:
    at: str
    kind: str
    detail: str
    message_id: int | None = None


@dataclass
class ChaseMemory:
    """What the workflow knows that the database plan does not; carried across
    continue-as-new."""

    handled: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    paused: bool = False
    paused_until: str | None = None
    pause_reason: str = ""
    disputed: bool = False
    dispute_reason: str = ""
    promised_until: str | None = None
    passed_over: list[str] = field(default_factory=list)
    awaiting: str | None = None
    awaiting_since: str | None = None
    stopped: bool = False
    facts: InvoiceFacts | None = None
    payments_taken: list[str] = field(default_factory=list)
    """Payment ids this chase was told of: a repeat changes nothing."""
    payments_waiting: list[PaymentNotice] = field(default_factory=list)
    """Told of, not yet placed in the ledger."""
    payment_retry_at: str | None = None
    forced: str | None = None
    """A person's "send-now" or "escalate" not yet acted on: kept over a continue-as-new."""
    promise_to_write: PromiseToPay | None = None
    """A promise not yet written to the ledger (the loop writes it, not the signal handler,
    so a slow ledger never holds up a continue-as-new)."""
    dismissed_promise: str | None = None
    """The latest promised day a person resumed chasing over: an expected payment date in the
    ledger up to that day no longer holds the chase."""
    held: bool = False
    """The chase was held (paused, disputed, promised...) since its last send: when it can
    send again, one reminder goes out, not two on consecutive days."""


@dataclass
class PromiseToPay:
    invoice_id: int
    day: str
    """ISO date the customer promised to pay by."""
    by: str = ""


@dataclass
class ChaseStart:
    organisation_id: int
    invoice_id: int
    customer_id: int
    memory: ChaseMemory | None = None
    only_payments: bool = False
    """Started to place a payment for an invoice nobody was chasing: it places the payment
    and ends, it does not start chasing."""
    history_limit: int | None = None
    """Continue as new at this many history events too (duely.workflows.history)."""


@dataclass
class ChaseAction:
    """A person's instruction from the web UI or the API."""

    by: str = ""
    reason: str = ""
    until: str | None = None
    """An ISO date: the end of a pause, or the promised payment date."""


@dataclass
class PaymentNotice:
    """Money received for this invoice: its share of a payment."""

    amount: int
    currency: str
    reference: str = ""
    source: str = "stripe"
    payment_id: str = ""
    """The payment at its source (a Stripe PaymentIntent); a payment with one is recorded in
    the ledger by the chase, once, however often it is told."""
    paid_at: str = ""
    """ISO instant the money arrived."""


@dataclass
class PlannedSendView:
    key: str
    label: str
    channel: str
    at: str
    status: str
    """"sent", "passed over", "queued" or "planned"."""


@dataclass
class ChaseView:
    """The whole state, for the invoice page and the API."""

    state: str
    reason: str
    next_send_at: str | None
    next_step: str
    paused_until: str | None
    disputed: bool
    promised_until: str | None
    amount_due: int
    currency: str
    due_date: str
    sends: list[PlannedSendView]
    history: list[HistoryEntry]
