"""An AccountsIQ company (an entity) as the sandbox keeps it.

Amounts are integers in minor units (cents, pence); the SOAP layer writes them as decimals.
Every posted sales invoice is also a transaction (its own TransactionID, a different number
from its InvoiceID, as in AccountsIQ), and every sales receipt is a transaction; allocations
match a receipt transaction to an invoice transaction and lower both outstanding amounts.
Customer codes are upper case. A company lives in exactly one region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

REGIONS = ("us1", "eu1", "eu2", "uk1")


@dataclass
class Customer:
    account_id: int
    code: str
    name: str
    email: str
    contact: str
    phone: str
    address1: str
    city: str
    post_code: str
    country: str
    currency: str
    credit_term_days: int
    created: datetime
    last_modified: datetime
    active: bool = True


@dataclass
class Invoice:
    invoice_id: int
    transaction_id: int
    account_id: int
    invoice_number: str
    external_reference: str
    description: str
    invoice_date: date
    due_date: date
    created: datetime
    last_modified: datetime
    net: int
    tax: int
    tax_rate_percent: int
    status: str = "Posted"  # InvoiceStatus: Processed, Posted, Cancelled

    @property
    def gross(self) -> int:
        return self.net + self.tax


@dataclass
class Receipt:
    transaction_id: int
    account_id: int
    bank_account_code: str
    check_reference: str
    amount: int
    payment_date: date
    created: datetime
    description: str = ""


@dataclass
class Allocation:
    allocation_id: int
    receipt_transaction_id: int
    invoice_transaction_id: int
    amount: int
    allocation_date: date
    reference: str
    created: datetime


@dataclass
class Bank:
    bank_id: int
    code: str
    """The bank's code in the general ledger (Bank.Code)."""
    bank_account_code: str
    """What a SalesReceipt's BankAccountCode names (Bank.BankAccountCode)."""
    name: str
    currency: str
    iban: str
    sort_code: str


@dataclass
class UserKey:
    key: str
    user_id: str
    revoked: bool = False


@dataclass
class Company:
    company_id: str
    name: str
    region: str
    currency: str
    customers: list[Customer] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    """Every allocation, in order; add one with `allocate`, which keeps the totals below."""
    banks: list[Bank] = field(default_factory=list)
    user_keys: list[UserKey] = field(default_factory=list)
    next_id: int = 1

    def __post_init__(self) -> None:
        # Allocated amounts by transaction id, rebuilt from the list (a snapshot keeps only
        # the list). A statement asks each open item's outstanding amount: summing the whole
        # list each time made a 10,000-invoice company's sync quadratic, most of a minute.
        self._to_invoice: dict[int, int] = {}
        self._from_receipt: dict[int, int] = {}
        for allocation in self.allocations:
            self._count(allocation)

    def take_id(self) -> int:
        value = self.next_id
        self.next_id += 1
        return value

    # --- lookups -------------------------------------------------------------------------

    def customer_by_code(self, code: str) -> Customer | None:
        return next((c for c in self.customers if c.code == code), None)

    def customer_by_id(self, account_id: int) -> Customer | None:
        return next((c for c in self.customers if c.account_id == account_id), None)

    def invoice(self, invoice_id: int) -> Invoice | None:
        return next((i for i in self.invoices if i.invoice_id == invoice_id), None)

    def invoice_by_transaction(self, transaction_id: int) -> Invoice | None:
        return next((i for i in self.invoices if i.transaction_id == transaction_id), None)

    def receipt(self, transaction_id: int) -> Receipt | None:
        return next((r for r in self.receipts if r.transaction_id == transaction_id), None)

    def bank(self, bank_account_code: str) -> Bank | None:
        return next((b for b in self.banks if b.bank_account_code == bank_account_code), None)

    def user_key(self, key: str) -> UserKey | None:
        return next((k for k in self.user_keys if k.key == key), None)

    # --- balances ------------------------------------------------------------------------

    def allocate(self, allocation: Allocation) -> None:
        self.allocations.append(allocation)
        self._count(allocation)

    def _count(self, allocation: Allocation) -> None:
        invoice, receipt = allocation.invoice_transaction_id, allocation.receipt_transaction_id
        self._to_invoice[invoice] = self._to_invoice.get(invoice, 0) + allocation.amount
        self._from_receipt[receipt] = self._from_receipt.get(receipt, 0) + allocation.amount

    def allocated_to_invoice(self, invoice: Invoice) -> int:
        return self._to_invoice.get(invoice.transaction_id, 0)

    def allocated_from_receipt(self, receipt: Receipt) -> int:
        return self._from_receipt.get(receipt.transaction_id, 0)

    def invoice_outstanding(self, invoice: Invoice) -> int:
        if invoice.status == "Cancelled":
            return 0
        return invoice.gross - self.allocated_to_invoice(invoice)

    def receipt_unallocated(self, receipt: Receipt) -> int:
        return receipt.amount - self.allocated_from_receipt(receipt)
