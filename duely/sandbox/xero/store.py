"""The sandbox's ledgers and the only ways they change.

The Xero-shaped API and the admin API call the same methods here, so UpdatedDateUTC and
webhook events behave identically whoever makes a change.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from duely.sandbox.xero.clock import SandboxClock
from duely.sandbox.xero.ledger import SALES, Account, Contact, Invoice, Ledger, Payment
from duely.sandbox.xero.money import to_minor

# Xero's own wording, so a connector that shows the message shows what Xero would say.
EXCEEDS_OUTSTANDING = "Payment amount exceeds the amount outstanding on this document"
NOT_POSITIVE = "Payment amount must be greater than zero"
NOT_AUTHORISED = "Payments can only be made against Authorised documents"
ACCOUNT_REFUSES = "Payments can only be made to bank accounts or accounts with payments enabled"
ALLOCATED = "This document cannot be edited as it has a payment or credit note allocated to it."
NOT_EDITABLE = "Invoice not of valid status for modification"

OPEN_FOR_EDIT = ("DRAFT", "SUBMITTED", "AUTHORISED")
INVOICE_FIELDS = (
    "status",
    "total",
    "amount_due",
    "due_date",
    "expected_payment_date",
    "reference",
    "description",
)
CONTACT_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "status",
    "is_customer",
    "persons",
    "phones",
    "account_number",
)


class XeroValidationError(Exception):
    """A request Xero would refuse with a ValidationException (HTTP 400)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class Change:
    """One change to report through webhooks: what, where, and whether it is new."""

    tenant_id: str
    category: str  # INVOICE, CONTACT, CREDITNOTE
    resource_id: str
    event_type: str  # CREATE, UPDATE


@dataclass(slots=True)
class PaymentRequest:
    """One element of PUT /Payments, as the client wrote it."""

    invoice_id: str | None
    invoice_number: str | None
    account_id: str | None
    account_code: str | None
    date: date
    amount: object
    reference: str = ""


class XeroStore:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.ledgers: dict[str, Ledger] = {}
        self.listeners: list[Callable[[Change], None]] = []

    # --- reading -------------------------------------------------------------------------

    def ledger(self, tenant_id: str) -> Ledger:
        """The tenant's ledger; KeyError when there is none."""
        return self.ledgers[tenant_id]

    def add_ledger(self, ledger: Ledger) -> Ledger:
        self.ledgers[ledger.tenant_id] = ledger
        return ledger

    def _notify(self, change: Change) -> None:
        for listener in self.listeners:
            listener(change)

    def _invoice(self, ledger: Ledger, invoice_id: str) -> Invoice:
        invoice = ledger.invoices.get(invoice_id)
        if invoice is None:
            raise KeyError(invoice_id)
        return invoice

    def _touch_invoice(self, ledger: Ledger, invoice: Invoice) -> None:
        invoice.updated = self.clock.now()
        self._notify(Change(ledger.tenant_id, "INVOICE", invoice.invoice_id, "UPDATE"))

    # --- payments ------------------------------------------------------------------------

    def payment_errors(self, ledger: Ledger, request: PaymentRequest) -> list[str]:
        """What Xero would refuse about one payment, in its words; empty when it is fine."""
        invoice = self._find_invoice(ledger, request)
        if invoice is None:
            return ["Invoice could not be found"]
        account = self._find_account(ledger, request)
        errors = []
        if account is None:
            errors.append("Account could not be found")
        elif not account.accepts_payments:
            errors.append(ACCOUNT_REFUSES)
        if invoice.status != "AUTHORISED":
            errors.append(NOT_AUTHORISED)
        try:
            amount = to_minor(request.amount, invoice.currency)
        except ValueError:
            return [*errors, "Payment amount must be a number"]
        if amount <= 0:
            errors.append(NOT_POSITIVE)
        elif amount > invoice.amount_due:
            errors.append(EXCEEDS_OUTSTANDING)
        return errors

    def _find_invoice(self, ledger: Ledger, request: PaymentRequest) -> Invoice | None:
        if request.invoice_id:
            return ledger.invoices.get(request.invoice_id.lower())
        if request.invoice_number:
            return ledger.invoice_by_number(request.invoice_number)
        return None

    def _find_account(self, ledger: Ledger, request: PaymentRequest) -> Account | None:
        if request.account_id:
            return ledger.accounts.get(request.account_id.lower())
        if request.account_code:
            return ledger.account_by_code(request.account_code)
        return None

    def record_payment(self, tenant_id: str, request: PaymentRequest) -> Payment:
        """Apply one payment to its invoice; XeroValidationError when Xero would refuse it."""
        ledger = self.ledger(tenant_id)
        errors = self.payment_errors(ledger, request)
        if errors:
            raise XeroValidationError(errors)
        invoice = self._find_invoice(ledger, request)
        account = self._find_account(ledger, request)
        assert invoice is not None and account is not None
        payment = Payment(
            payment_id=str(uuid.uuid4()),
            invoice_id=invoice.invoice_id,
            account_id=account.account_id,
            date=request.date,
            amount=to_minor(request.amount, invoice.currency),
            currency=invoice.currency,
            reference=request.reference,
            updated=self.clock.now(),
            payment_type="ACCRECPAYMENT" if invoice.kind == SALES else "ACCPAYPAYMENT",
        )
        self.apply_payment(ledger, invoice, payment)
        self._touch_invoice(ledger, invoice)
        return payment

    @staticmethod
    def apply_payment(ledger: Ledger, invoice: Invoice, payment: Payment) -> None:
        """Book a validated payment: the seed uses this too, without dating or events."""
        ledger.payments[payment.payment_id] = payment
        invoice.payment_ids.append(payment.payment_id)
        invoice.amount_paid += payment.amount
        invoice.amount_due -= payment.amount
        if invoice.amount_due == 0:
            invoice.status = "PAID"
            invoice.fully_paid_on = payment.date

    # --- invoices ------------------------------------------------------------------------

    def set_expected_payment_date(self, tenant_id: str, invoice_id: str, when: date) -> Invoice:
        ledger = self.ledger(tenant_id)
        invoice = self._invoice(ledger, invoice_id)
        if invoice.status not in OPEN_FOR_EDIT:
            raise XeroValidationError([NOT_EDITABLE])
        if invoice.amount_paid or invoice.amount_credited:
            raise XeroValidationError([ALLOCATED])
        invoice.expected_payment_date = when
        self._touch_invoice(ledger, invoice)
        return invoice

    def update_invoice(self, tenant_id: str, invoice_id: str, changes: dict) -> Invoice:
        """An edit made "in Xero" by a person (the admin API): no business rules but Xero's
        own bookkeeping (PAID books a payment for what is due; VOIDED/DELETED owe nothing).
        """
        ledger = self.ledger(tenant_id)
        invoice = self._invoice(ledger, invoice_id)
        for name, value in changes.items():
            if name == "status":
                self._set_status(ledger, invoice, value)
            elif name in ("total", "amount_due"):
                setattr(invoice, name, int(value))
                if name == "total":
                    invoice.sub_total, invoice.total_tax = int(value), 0
            elif name in ("due_date", "expected_payment_date", "reference", "description"):
                setattr(invoice, name, value)
            else:
                raise ValueError(f"{name} cannot be changed")
        self._touch_invoice(ledger, invoice)
        return invoice

    def _set_status(self, ledger: Ledger, invoice: Invoice, status: str) -> None:
        if status == "PAID" and invoice.amount_due > 0:
            bank = next(a for a in ledger.accounts.values() if a.kind == "BANK")
            payment = Payment(
                payment_id=str(uuid.uuid4()),
                invoice_id=invoice.invoice_id,
                account_id=bank.account_id,
                date=self.clock.today(),
                amount=invoice.amount_due,
                currency=invoice.currency,
                reference="Paid in Xero",
                updated=self.clock.now(),
                payment_type="ACCRECPAYMENT" if invoice.kind == SALES else "ACCPAYPAYMENT",
            )
            self.apply_payment(ledger, invoice, payment)
        elif status in ("VOIDED", "DELETED"):
            invoice.amount_due = 0
        invoice.status = status

    def touch_invoices(self, tenant_id: str, count: int, rng: random.Random) -> list[str]:
        """Change `count` random open sales invoices the way people do in Xero: a due date
        pushed out, a reference corrected. Returns their ids.
        """
        ledger = self.ledger(tenant_id)
        open_ids = [
            i.invoice_id
            for i in ledger.invoices.values()
            if i.kind == SALES and i.status == "AUTHORISED"
        ]
        chosen = rng.sample(open_ids, min(count, len(open_ids)))
        for position, invoice_id in enumerate(chosen):
            invoice = ledger.invoices[invoice_id]
            if position % 2:
                invoice.reference = f"{invoice.reference} (amended)".strip()
            else:
                invoice.due_date += timedelta(days=rng.randint(3, 21))
            self._touch_invoice(ledger, invoice)
        return chosen

    # --- contacts ------------------------------------------------------------------------

    def update_contact(self, tenant_id: str, contact_id: str, changes: dict) -> Contact:
        ledger = self.ledger(tenant_id)
        contact = ledger.contacts.get(contact_id)
        if contact is None:
            raise KeyError(contact_id)
        for name, value in changes.items():
            if name not in CONTACT_FIELDS:
                raise ValueError(f"{name} cannot be changed")
            setattr(contact, name, value)
        contact.updated = self.clock.now()
        self._notify(Change(tenant_id, "CONTACT", contact_id, "UPDATE"))
        return contact
