"""What duely mirrors from the accounting system: connections, customers, invoices, payments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from duely.models.base import OrgScoped, money, optional_timestamp, timestamp


class Provider(StrEnum):
    XERO = "xero"
    QUICKBOOKS = "quickbooks"
    ACCOUNTSIQ = "accountsiq"
    CSV = "csv"


PROVIDER_LABELS: dict[str, str] = {  # each ledger's own name, as people write it
    Provider.XERO: "Xero",
    Provider.QUICKBOOKS: "QuickBooks",
    Provider.ACCOUNTSIQ: "AccountsIQ",
    Provider.CSV: "a spreadsheet",
}


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    NEEDS_RECONNECT = "needs_reconnect"
    ERROR = "error"


class ContactKind(StrEnum):
    NORMAL = "normal"
    ESCALATED = "escalated"


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOIDED = "voided"


class PaymentSource(StrEnum):
    STRIPE = "stripe"
    LEDGER = "ledger"


class PaymentStatus(StrEnum):
    PENDING = "pending"
    RECORDED = "recorded"
    UNMATCHED = "unmatched"
    REFUNDED = "refunded"


class Connection(OrgScoped, table=True):
    """One organisation's link to one ledger tenant (Xero tenant, QuickBooks realm, ...)."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("organisation_id", "provider", "external_tenant_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=16)
    external_tenant_id: str = Field(max_length=100)
    tenant_name: str = Field(default="", max_length=200)
    region: str = Field(default="", max_length=32)
    access_token_encrypted: str = Field(default="")
    """Fernet ciphertext; tokens never sit in the database in clear."""
    refresh_token_encrypted: str = Field(default="")
    token_expires_at: datetime | None = optional_timestamp()
    status: str = Field(default=ConnectionStatus.CONNECTED, max_length=20)
    sync_watermark: datetime | None = optional_timestamp()
    """Newest invoice change already mirrored; the next incremental sync starts here."""
    contacts_watermark: datetime | None = optional_timestamp()
    last_full_sync_at: datetime | None = optional_timestamp()
    last_success_at: datetime | None = optional_timestamp()
    last_error: str = Field(default="")
    tokens_refreshed_at: datetime | None = optional_timestamp()
    """Written under the row lock that serialises token refreshes across processes."""
    created_at: datetime = timestamp()


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncRun(OrgScoped, table=True):
    """One pass of LedgerSyncWorkflow, kept for the integration-health view."""

    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    full: bool = Field(default=False)
    status: str = Field(default=SyncStatus.RUNNING, max_length=16)
    workflow_id: str = Field(default="", max_length=200)
    pages: int = Field(default=0)
    contacts_changed: int = Field(default=0)
    invoices_seen: int = Field(default=0)
    invoices_changed: int = Field(default=0)
    error: str = Field(default="")
    started_at: datetime = timestamp()
    finished_at: datetime | None = optional_timestamp()


class Customer(OrgScoped, table=True):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("organisation_id", "connection_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int | None = Field(default=None, foreign_key="connections.id", index=True)
    external_id: str = Field(max_length=100)
    name: str = Field(max_length=300, index=True)
    chasing_enabled: bool | None = Field(default=None)
    """None follows the organisation (chase all, or only customers someone switched on);
    True and False are a person's choice for this customer."""
    email_opted_out_at: datetime | None = optional_timestamp()
    sms_opted_out_at: datetime | None = optional_timestamp()
    schedule_id: int | None = Field(default=None, foreign_key="schedules.id")
    timezone: str = Field(default="", max_length=64)
    """Overrides the organisation's zone for send times when set."""
    average_days_to_pay: int | None = Field(default=None)
    source_updated_at: datetime | None = optional_timestamp()
    created_at: datetime = timestamp()


class Contact(OrgScoped, table=True):
    __tablename__ = "contacts"

    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    first_name: str = Field(default="", max_length=200)
    last_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=50)
    kind: str = Field(default=ContactKind.NORMAL, max_length=16)


class Invoice(OrgScoped, table=True):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organisation_id", "connection_id", "external_id"),
        # What the receivables pages read at 100,000 invoices (issue 17, migration 0014): the
        # invoice list in due-date order a page at a time, and its count, without a sort (of
        # one status, of any status, of one customer); the dashboard's aging per currency from
        # the index alone, already grouped; the currency menu by skipping from one currency to
        # the next. SQLite plans without statistics, so each list has an index whose leading
        # columns are exactly its equalities: given less, it picked an index that reads every
        # invoice of the organisation.
        Index("ix_invoices_list_order", "organisation_id", "status", "due_date", "id"),
        Index("ix_invoices_any_status_order", "organisation_id", "due_date", "id"),
        # Also what the customers' foreign key needs (it replaces ix_invoices_customer_id).
        Index(
            "ix_invoices_customer_order",
            "customer_id",
            "organisation_id",
            "status",
            "due_date",
            "id",
        ),
        Index(
            "ix_invoices_aging",
            "organisation_id",
            "status",
            "currency",
            "due_date",
            "amount_due",
        ),
        Index("ix_invoices_currencies", "organisation_id", "currency"),
    )

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int | None = Field(default=None, foreign_key="connections.id", index=True)
    customer_id: int = Field(foreign_key="customers.id")
    """Indexed by ix_invoices_customer_order (above)."""
    external_id: str = Field(max_length=100)
    number: str = Field(default="", max_length=100, index=True)
    reference: str = Field(default="", max_length=255)
    """The customer's own reference (often their purchase order number)."""
    issue_date: date
    due_date: date = Field(index=True)
    currency: str = Field(max_length=3)
    total: int = money()
    amount_due: int = money()
    status: str = Field(default=InvoiceStatus.OPEN, max_length=16, index=True)
    expected_payment_date: date | None = None
    online_url: str = Field(default="", max_length=500)
    """The ledger's own page of the invoice (Xero's online invoice), once a reminder asked."""
    disputed: bool = Field(default=False)
    chasing_enabled: bool = Field(default=True)
    chase_state: str = Field(default="", max_length=32)
    """Mirror of the chase workflow's state, for lists and the dashboard."""
    workflow_id: str = Field(default="", max_length=200)
    source_updated_at: datetime | None = optional_timestamp()
    synced_run_id: int | None = Field(default=None, index=True)
    """The sync run that last changed this invoice; fan-out picks up exactly those."""
    created_at: datetime = timestamp()


class CustomerGroup(OrgScoped, table=True):
    """A customer's membership of a contact group kept in the ledger, as the last sync read
    it: schedules can be assigned by group (Schedule.contact_group)."""

    __tablename__ = "customer_groups"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)


class Credit(OrgScoped, table=True):
    """Money a customer has with the business, not yet set against an invoice (what is left of
    a credit note, an overpayment, a prepayment), as the ledger said at the last sync. What
    the customer owes, net, is their invoices' amount due less this, currency by currency."""

    __tablename__ = "credits"
    __table_args__ = (UniqueConstraint("organisation_id", "connection_id", "kind", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    connection_id: int = Field(foreign_key="connections.id", index=True, ondelete="CASCADE")
    customer_id: int = Field(foreign_key="customers.id", index=True, ondelete="CASCADE")
    external_id: str = Field(max_length=100)
    kind: str = Field(max_length=16)
    """credit_note, overpayment or prepayment."""
    number: str = Field(default="", max_length=100)
    issue_date: date | None = None
    currency: str = Field(max_length=3)
    remaining: int = money()
    synced_at: datetime = timestamp()


class Payment(OrgScoped, table=True):
    """A payment's share for one invoice (a card payment for three invoices is three rows),
    or a payment duely could not place (unmatched, with the reason)."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint(
            "organisation_id",
            "source",
            "external_id",
            "invoice_ref",
            name="uq_payments_source_payment_invoice",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id", index=True)
    invoice_ref: str = Field(default="", max_length=64)
    """The invoice the payment named (duely's id), kept even when no such invoice exists."""
    customer_id: int | None = Field(default=None, foreign_key="customers.id", index=True)
    amount: int = money()
    currency: str = Field(max_length=3)
    source: str = Field(max_length=16)
    external_id: str = Field(default="", max_length=200, index=True)
    """The payment's id at its source (Stripe PaymentIntent, ledger payment)."""
    ledger_payment_id: str = Field(default="", max_length=200)
    status: str = Field(default=PaymentStatus.PENDING, max_length=16, index=True)
    reason: str = Field(default="")
    """Why a payment is unmatched, in words a person can act on."""
    paid_on: date | None = None
    reference: str = Field(default="", max_length=200)
    """What the ledger payment carries, to be found again after a lost answer."""
    placing_until: datetime | None = optional_timestamp()
    """While set and in the future, one attempt is placing this payment in the ledger: no
    other may start."""
    attempts: int = Field(default=0)
    """Ledger writes tried; with `last_error`, what the integration-health view shows."""
    last_error: str = Field(default="")
    created_at: datetime = timestamp()
    updated_at: datetime | None = optional_timestamp()
