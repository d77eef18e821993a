"""A QuickBooks Online company (a realm) as the sandbox keeps it.

Amounts are integers in minor units (pence, cents); every entity has the Id, SyncToken and
MetaData QuickBooks gives it. Ids are numeric strings from one sequence per company. Deleted
entities leave a tombstone, so change data capture can report them with status Deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass
class Customer:
    id: str
    display_name: str
    company_name: str
    given_name: str
    family_name: str
    email: str
    phone: str
    mobile: str
    currency: str
    created: datetime
    updated: datetime
    active: bool = True
    sync_token: int = 0


@dataclass
class SalesLine:
    amount: int
    description: str
    item_name: str = "Services"


@dataclass
class LinkedTxn:
    txn_id: str
    txn_type: str  # Payment, CreditMemo on an invoice; Invoice on a payment line


@dataclass
class Invoice:
    id: str
    doc_number: str
    customer_id: str
    txn_date: date
    due_date: date
    total: int
    balance: int
    currency: str
    bill_email: str
    lines: list[SalesLine]
    created: datetime
    updated: datetime
    email_status: str = "NotSet"  # NotSet, NeedToSend, EmailSent
    private_note: str = ""
    linked: list[LinkedTxn] = field(default_factory=list)
    voided: bool = False
    sync_token: int = 0


@dataclass
class PaymentLine:
    amount: int
    txn_id: str
    txn_type: str = "Invoice"


@dataclass
class Payment:
    id: str
    customer_id: str
    txn_date: date
    total: int
    currency: str
    lines: list[PaymentLine]
    created: datetime
    updated: datetime
    ref_num: str = ""
    unapplied: int = 0
    private_note: str = ""
    sync_token: int = 0


@dataclass
class CreditMemo:
    id: str
    doc_number: str
    customer_id: str
    txn_date: date
    total: int
    balance: int
    currency: str
    lines: list[SalesLine]
    created: datetime
    updated: datetime
    sync_token: int = 0


@dataclass
class Account:
    id: str
    name: str
    account_type: str
    sub_type: str
    classification: str
    currency: str
    created: datetime
    updated: datetime
    balance: int = 0
    active: bool = True
    sync_token: int = 0


@dataclass
class Tombstone:
    """A deleted entity, as change data capture reports it."""

    entity: str
    id: str
    deleted: datetime


@dataclass
class Company:
    realm_id: str
    name: str
    country: str
    currency: str
    email: str
    phone: str
    address_line: str
    city: str
    postal_code: str
    created: datetime
    customers: dict[str, Customer] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    credit_memos: dict[str, CreditMemo] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    tombstones: list[Tombstone] = field(default_factory=list)
    last_id: int = 0
    info_updated: datetime | None = None

    def next_id(self) -> str:
        self.last_id += 1
        return str(self.last_id)

    def records(self, entity: str) -> dict[str, Any]:
        """The entities of one kind by Id; KeyError for a kind the sandbox does not keep."""
        kinds: dict[str, dict[str, Any]] = {
            "Customer": self.customers,
            "Invoice": self.invoices,
            "Payment": self.payments,
            "CreditMemo": self.credit_memos,
            "Account": self.accounts,
        }
        return kinds[entity]

    def customer_balances(self) -> dict[str, int]:
        """What each customer owes: open invoices less unapplied credit (one pass)."""
        balances = dict.fromkeys(self.customers, 0)
        for invoice in self.invoices.values():
            balances[invoice.customer_id] = balances.get(invoice.customer_id, 0) + invoice.balance
        for memo in self.credit_memos.values():
            balances[memo.customer_id] = balances.get(memo.customer_id, 0) - memo.balance
        for payment in self.payments.values():
            balances[payment.customer_id] = balances.get(payment.customer_id, 0) - payment.unapplied
        return balances
