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
from duely.sandbox.xero.ledger import (
    BILL,
    SALES,
    Account,
    Allocation,
    Contact,
    CreditNote,
    HistoryNote,
    Invoice,
    Ledger,
    Payment,
    PaymentCredit,
)
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

    def create_contact(self, tenant_id: str, contact: Contact) -> Contact:
        """A contact added "in Xero" (the admin API): a CONTACT CREATE event."""
        ledger = self.ledger(tenant_id)
        contact.updated = self.clock.now()
        ledger.contacts[contact.contact_id] = contact
        self._notify(Change(tenant_id, "CONTACT", contact.contact_id, "CREATE"))
        return contact

    # --- credit: credit notes, overpayments, prepayments ---------------------------------

    def create_credit_note(
        self,
        tenant_id: str,
        contact_id: str,
        amount: object,
        *,
        when: date | None = None,
        reference: str = "",
        currency: str | None = None,
    ) -> CreditNote:
        """An AUTHORISED sales credit note (ACCRECCREDIT) for a contact, all of it still to be
        allocated: a CREDITNOTE CREATE event. KeyError for an unknown contact, ValueError for
        an amount that is not a positive number."""
        ledger = self.ledger(tenant_id)
        contact = ledger.contacts[contact_id]
        currency = currency or contact.currency or ledger.organisation.base_currency
        total = to_minor(amount, currency)
        if total <= 0:
            raise ValueError("a credit note's amount must be greater than zero")
        numbers = [
            int(n.number[3:]) for n in ledger.credit_notes.values() if n.number[3:].isdigit()
        ]
        note = CreditNote(
            credit_note_id=str(uuid.uuid4()),
            number=f"CN-{max(numbers, default=0) + 1:04d}",
            kind=SALES_CREDIT,
            contact_id=contact_id,
            date=when or self.clock.today(),
            status="AUTHORISED",
            currency=currency,
            total=total,
            remaining=total,
            updated=self.clock.now(),
            reference=reference,
        )
        ledger.credit_notes[note.credit_note_id] = note
        self._notify(Change(tenant_id, "CREDITNOTE", note.credit_note_id, "CREATE"))
        return note

    def credit_source(self, ledger: Ledger, kind: str, source_id: str) -> CreditSource:
        """The credit note, overpayment or prepayment `source_id`; KeyError when none."""
        records: dict = {
            CREDIT_NOTE: ledger.credit_notes,
            OVERPAYMENT: ledger.overpayments,
            PREPAYMENT: ledger.prepayments,
        }[kind]
        return records[source_id.lower()]

    def allocation_errors(
        self, ledger: Ledger, kind: str, source: CreditSource, request: AllocationRequest
    ) -> list[str]:
        """What Xero would refuse about allocating `source` to an invoice, in its words."""
        label = CREDIT_LABELS[kind]
        invoice = ledger.invoices.get((request.invoice_id or "").lower())
        if invoice is None and request.invoice_number:
            invoice = ledger.invoice_by_number(request.invoice_number)
        if invoice is None:
            return ["Invoice could not be found"]
        errors = []
        if source.status not in ("AUTHORISED", "PAID"):
            errors.append(f"{label} must be authorised before it can be allocated")
        wanted_type = BILL if source.kind in ("ACCPAYCREDIT", "SPEND-OVERPAYMENT") else SALES
        if invoice.kind != wanted_type:
            errors.append(f"{label} cannot be allocated to an incorrect invoice type")
        if invoice.status == "PAID":
            errors.append(ALREADY_PAID_OFF)
        elif invoice.status != "AUTHORISED":
            errors.append(f"{label} can only be allocated to an authorised invoice")
        if invoice.contact_id != source.contact_id:
            errors.append(f"{label} and invoice must be for the same contact")
        if invoice.currency != source.currency:
            errors.append(f"{label} and invoice must be in the same currency")
        try:
            amount = to_minor(request.amount, source.currency)
        except ValueError:
            return [*errors, "Amount must be a number"]
        if amount <= 0:
            errors.append("Amount must be greater than zero")
        elif amount > source.remaining or (
            invoice.status == "AUTHORISED" and amount > invoice.amount_due
        ):
            errors.append(f"{label} {GREATER_THAN_OUTSTANDING}")
        return errors

    def allocate(
        self, tenant_id: str, kind: str, source_id: str, request: AllocationRequest
    ) -> Allocation:
        """Allocate part or all of a credit note, overpayment or prepayment to an invoice:
        the invoice's AmountDue falls and AmountCredited rises (PAID when nothing is left
        due), the source's RemainingCredit falls (PAID when none is left). KeyError for an
        unknown source, XeroValidationError when Xero would refuse it."""
        ledger = self.ledger(tenant_id)
        source = self.credit_source(ledger, kind, source_id)
        errors = self.allocation_errors(ledger, kind, source, request)
        if errors:
            raise XeroValidationError(errors)
        invoice = ledger.invoices.get((request.invoice_id or "").lower())
        if invoice is None:
            invoice = ledger.invoice_by_number(request.invoice_number or "")
        assert invoice is not None
        allocation = Allocation(
            allocation_id=str(uuid.uuid4()),
            invoice_id=invoice.invoice_id,
            amount=to_minor(request.amount, source.currency),
            date=request.date or self.clock.today(),
        )
        self.apply_allocation(ledger, kind, source, invoice, allocation)
        source.updated = self.clock.now()
        if kind == CREDIT_NOTE:
            self._notify(Change(tenant_id, "CREDITNOTE", source_id.lower(), "UPDATE"))
        self._touch_invoice(ledger, invoice)
        return allocation

    @staticmethod
    def apply_allocation(
        ledger: Ledger, kind: str, source: CreditSource, invoice: Invoice, allocation: Allocation
    ) -> None:
        """Book a validated allocation: the seed uses this too, without dating or events."""
        source.allocations.append(allocation)
        source.remaining -= allocation.amount
        if source.remaining == 0:
            source.status = "PAID"
        ids = {
            CREDIT_NOTE: invoice.credit_note_ids,
            OVERPAYMENT: invoice.overpayment_ids,
            PREPAYMENT: invoice.prepayment_ids,
        }[kind]
        source_id = source.credit_note_id if isinstance(source, CreditNote) else source.credit_id
        if source_id not in ids:
            ids.append(source_id)
        invoice.amount_credited += allocation.amount
        invoice.amount_due -= allocation.amount
        if invoice.amount_due == 0:
            invoice.status = "PAID"
            invoice.fully_paid_on = allocation.date

    # --- history and notes ---------------------------------------------------------------

    @staticmethod
    def check_note(details: str) -> None:
        """XeroValidationError when Xero would refuse the note's text."""
        if not details.strip():
            raise XeroValidationError([EMPTY_NOTE])
        if len(details) > MAX_NOTE_LENGTH:
            raise XeroValidationError([NOTE_TOO_LONG])

    def add_note(self, tenant_id: str, resource_id: str, details: str, user: str) -> HistoryNote:
        """A note on an invoice or a contact (Xero's History and Notes). Xero leaves the
        record's UpdatedDateUTC alone, and so does the sandbox. KeyError for an unknown id,
        XeroValidationError for an empty note."""
        ledger = self.ledger(tenant_id)
        resource_id = resource_id.lower()
        if resource_id not in ledger.invoices and resource_id not in ledger.contacts:
            raise KeyError(resource_id)
        self.check_note(details)
        note = HistoryNote(when=self.clock.now(), details=details, user=user)
        ledger.history.setdefault(resource_id, []).append(note)
        return note


# Allocations: which kind of credit, and how Xero names it in its messages.
CREDIT_NOTE, OVERPAYMENT, PREPAYMENT = "credit_note", "overpayment", "prepayment"
CREDIT_LABELS = {CREDIT_NOTE: "Credit Note", OVERPAYMENT: "Overpayment", PREPAYMENT: "Prepayment"}
SALES_CREDIT = "ACCRECCREDIT"
GREATER_THAN_OUTSTANDING = "cannot be allocated as amount is greater than amount outstanding"
ALREADY_PAID_OFF = "The invoice you are trying to allocate to has already been paid off"
EMPTY_NOTE = "The Details field is required"
# Xero's History and Notes documentation: Details has a maximum length of 250 characters.
NOTE_TOO_LONG = "The Details field must be 250 characters or fewer"
MAX_NOTE_LENGTH = 250
CreditSource = CreditNote | PaymentCredit


@dataclass(slots=True)
class AllocationRequest:
    """One element of PUT .../Allocations, as the client wrote it."""

    invoice_id: str | None
    invoice_number: str | None
    amount: object
    date: date | None = None
