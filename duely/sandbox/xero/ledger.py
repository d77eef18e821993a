"""The records of one Xero organisation (tenant), in the sandbox's own terms.

Amounts are integer minor units of the record's currency; dates are `date`, moments are
UTC `datetime`. `representations.py` turns them into Xero's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

# Invoice types and statuses as Xero names them. Only sales (ACCREC) and bills (ACCPAY) exist
# here: duely chases the first and must leave the second alone.
SALES = "ACCREC"
BILL = "ACCPAY"
INVOICE_STATUSES = ("DRAFT", "SUBMITTED", "DELETED", "AUTHORISED", "PAID", "VOIDED")


@dataclass(slots=True)
class ContactPerson:
    first_name: str
    last_name: str
    email: str
    include_in_emails: bool


@dataclass(slots=True)
class Phone:
    kind: str  # DEFAULT, DDI, MOBILE, FAX
    number: str = ""
    area_code: str = ""
    country_code: str = ""


@dataclass(slots=True)
class Contact:
    contact_id: str
    name: str
    first_name: str
    last_name: str
    email: str
    updated: datetime
    persons: list[ContactPerson] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    status: str = "ACTIVE"  # ACTIVE, ARCHIVED
    is_customer: bool = True
    is_supplier: bool = False
    currency: str | None = None
    account_number: str = ""


@dataclass(slots=True)
class Account:
    account_id: str
    code: str
    name: str
    kind: str  # Xero's account Type: BANK, REVENUE, CURRENT, ...
    account_class: str  # ASSET, LIABILITY, REVENUE, ...
    currency: str | None
    updated: datetime
    enable_payments: bool = False
    bank_account_number: str = ""
    system_account: str = ""
    reporting_code: str = ""
    status: str = "ACTIVE"

    @property
    def accepts_payments(self) -> bool:
        return self.status == "ACTIVE" and (self.kind == "BANK" or self.enable_payments)


@dataclass(slots=True)
class Payment:
    payment_id: str
    invoice_id: str
    account_id: str
    date: date
    amount: int
    currency: str
    reference: str
    updated: datetime
    payment_type: str = "ACCRECPAYMENT"
    status: str = "AUTHORISED"
    currency_rate: float = 1.0


@dataclass(slots=True)
class Allocation:
    allocation_id: str
    invoice_id: str
    amount: int
    date: date


@dataclass(slots=True)
class CreditNote:
    credit_note_id: str
    number: str
    kind: str  # ACCRECCREDIT or ACCPAYCREDIT
    contact_id: str
    date: date
    status: str
    currency: str
    total: int
    remaining: int
    updated: datetime
    reference: str = ""
    allocations: list[Allocation] = field(default_factory=list)


@dataclass(slots=True)
class PaymentCredit:
    """An overpayment or a prepayment: money received that no invoice took (yet). Xero gives
    both the same shape; `kind` is RECEIVE-OVERPAYMENT or RECEIVE-PREPAYMENT."""

    credit_id: str
    kind: str
    contact_id: str
    date: date
    status: str  # AUTHORISED, PAID (no credit left), VOIDED
    currency: str
    total: int
    remaining: int
    updated: datetime
    reference: str = ""
    allocations: list[Allocation] = field(default_factory=list)


@dataclass(slots=True)
class HistoryNote:
    """One history record of an invoice or a contact: a note added through the API or the
    admin API (Changes "Note"); the other records Xero shows are derived, not stored."""

    when: datetime
    details: str
    user: str
    changes: str = "Note"


@dataclass(slots=True)
class ContactGroup:
    group_id: str
    name: str
    status: str = "ACTIVE"  # ACTIVE, DELETED
    contact_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Invoice:
    invoice_id: str
    number: str
    kind: str  # Xero's Type: ACCREC or ACCPAY
    contact_id: str
    date: date
    due_date: date
    status: str
    currency: str
    sub_total: int
    total_tax: int
    total: int
    amount_due: int
    updated: datetime
    description: str = ""
    reference: str = ""
    amount_paid: int = 0
    amount_credited: int = 0
    expected_payment_date: date | None = None
    fully_paid_on: date | None = None
    payment_ids: list[str] = field(default_factory=list)
    credit_note_ids: list[str] = field(default_factory=list)
    sent_to_contact: bool = True
    currency_rate: float = 1.0
    tax_type: str = "OUTPUT2"
    overpayment_ids: list[str] = field(default_factory=list)
    prepayment_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Organisation:
    organisation_id: str  # also the tenant id
    name: str
    legal_name: str
    base_currency: str
    country_code: str
    timezone: str  # Xero's Windows-style name, e.g. GMTSTANDARDTIME
    version: str  # UK, AU, NZ, US, GLOBAL
    short_code: str
    created: datetime
    sales_tax_basis: str = "ACCRUALS"
    default_sales_tax: str = "Tax Exclusive"


@dataclass(slots=True)
class Ledger:
    """One organisation and everything in it, in creation order."""

    organisation: Organisation
    contacts: dict[str, Contact] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    credit_notes: dict[str, CreditNote] = field(default_factory=dict)
    overpayments: dict[str, PaymentCredit] = field(default_factory=dict)
    prepayments: dict[str, PaymentCredit] = field(default_factory=dict)
    # Notes per invoice or contact id, oldest first.
    history: dict[str, list[HistoryNote]] = field(default_factory=dict)
    contact_groups: dict[str, ContactGroup] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.organisation.organisation_id

    def invoice_by_number(self, number: str) -> Invoice | None:
        for invoice in self.invoices.values():
            if invoice.number == number:
                return invoice
        return None

    def account_by_code(self, code: str) -> Account | None:
        for account in self.accounts.values():
            if account.code == code:
                return account
        return None
