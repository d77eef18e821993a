"""What every ledger client offers duely, in duely's own terms (DESIGN section 4).

Clients translate their provider's records into these plain dataclasses: money in integer minor
units, calendar dates as `date`, instants as aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True)
class LedgerPerson:
    first_name: str
    last_name: str
    email: str
    phone: str = ""
    escalation: bool = False
    """Escalated contacts hear from duely only when a chase escalates."""


@dataclass(frozen=True)
class LedgerContact:
    external_id: str
    name: str
    people: tuple[LedgerPerson, ...]
    updated_at: datetime | None
    archived: bool = False


@dataclass(frozen=True)
class LedgerInvoice:
    external_id: str
    number: str
    reference: str
    contact_external_id: str
    contact_name: str
    issue_date: date
    due_date: date
    currency: str
    total: int
    amount_due: int
    status: str
    """One of duely's InvoiceStatus values."""
    expected_payment_date: date | None
    updated_at: datetime | None
    deleted: bool = False
    """Gone from the ledger (QuickBooks' change feed says so); only `external_id` and
    `updated_at` are known then."""


@dataclass(frozen=True)
class LedgerCredit:
    """Money the customer has with the business, not yet set against an invoice: what is left
    of a credit note, an overpayment or a prepayment."""

    external_id: str
    kind: str  # credit_note, overpayment, prepayment
    number: str
    contact_external_id: str
    issue_date: date | None
    currency: str
    remaining: int
    """Minor units."""


@dataclass(frozen=True)
class LedgerContactGroup:
    """A group of contacts the business keeps in its ledger ("Key accounts", "Slow payers")."""

    name: str
    contact_external_ids: tuple[str, ...]


@dataclass(frozen=True)
class LedgerOrganisation:
    name: str
    country: str
    timezone: str
    """IANA name, or empty when the provider's zone has no known equivalent."""
    base_currency: str


@dataclass(frozen=True)
class PaymentToRecord:
    invoice_external_id: str
    amount: int
    currency: str
    paid_on: date
    reference: str
    """Unique per payment and invoice; found again by lookup after a lost response."""
    idempotency_key: str
    account_code: str = ""
    contact_external_id: str = ""
    """The invoice's customer in the ledger, when the caller has just read the invoice
    (QuickBooks names the customer on a payment; given, it need not read the invoice again)."""


@dataclass(frozen=True)
class RecordedPayment:
    external_id: str
    already_recorded: bool = False


@dataclass
class Changes:
    """One page of changed records, and where to resume for the next page."""

    items: list = field(default_factory=list)
    next_cursor: datetime | None = None
    next_page: int = 1
    done: bool = True


class LedgerError(Exception):
    """Base of every failure a ledger client reports."""


class LedgerAuthError(LedgerError):
    """The grant is gone (revoked, refresh token expired): a person must reconnect."""


class LedgerRejected(LedgerError):
    """The ledger refused the request on business grounds; retrying cannot help."""


class LedgerRateLimited(LedgerError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LedgerUnavailable(LedgerError):
    """Network failure or 5xx: worth retrying later."""


class Ledger(Protocol):
    """One connected ledger tenant."""

    needs_payment_account: bool
    """Whether a payment must name the account it is paid into (Xero: yes; QuickBooks: no,
    it goes to Undeposited Funds unless one is named)."""

    def changed_contacts(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        """Pages of contacts changed after `since` (all when None), oldest change first."""
        ...

    def changed_invoices(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        """Pages of sales invoices changed after `since` (all when None), oldest first."""
        ...

    async def get_invoices(self, external_ids: list[str]) -> list[LedgerInvoice]: ...

    async def owed_by(self, contact_external_id: str, as_of: date, currency: str) -> int:
        """What the ledger's own aged receivables report says the contact owes at `as_of`,
        net of unused credit, in minor units of `currency`."""
        ...

    async def open_credit(self) -> list[LedgerCredit]:
        """Every customer credit with something left to set against invoices."""
        ...

    async def contact_groups(self) -> list[LedgerContactGroup]:
        """The ledger's active contact groups, with their contacts."""
        ...

    async def get_contacts(self, external_ids: list[str]) -> list[LedgerContact]: ...

    async def find_payments(self, references: list[str]) -> dict[str, str]:
        """The ledger's payment id for each reference it holds a payment with (one call for
        many references)."""
        ...

    async def record_payments(
        self, payments: list[PaymentToRecord], idempotency_key: str
    ) -> list[RecordedPayment | LedgerRejected]:
        """Write them in one call, with no lookup first (the caller has looked); the answer for
        each in order: the recorded payment, or why the ledger refused that one."""
        ...

    async def set_expected_payment_date(self, invoice_external_id: str, day: date) -> None: ...

    async def invoice_pdf(self, invoice_external_id: str) -> bytes: ...

    async def online_invoice_url(self, invoice_external_id: str) -> str:
        """The ledger's own page of the invoice, which the customer opens without signing in."""
        ...

    async def add_notes(
        self, invoice_external_id: str, notes: list[str], idempotency_key: str
    ) -> None:
        """Add notes to the invoice's history in the ledger, oldest first, in one call."""
        ...

    async def organisation(self) -> LedgerOrganisation: ...


async def record_once(ledger: Ledger, payment: PaymentToRecord) -> RecordedPayment:
    """Record one payment once: looked up by its reference, then written (the ledger's
    refusal raised)."""
    if existing := (await ledger.find_payments([payment.reference])).get(payment.reference):
        return RecordedPayment(existing, already_recorded=True)
    (answer,) = await ledger.record_payments([payment], payment.idempotency_key)
    if isinstance(answer, LedgerRejected):
        raise answer
    return answer
