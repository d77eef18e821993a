"""Whether an invoice should be chased: every rule of it in one place.

The chase's own holds (paused, disputed, promised, a payment waiting...) are `holds.hold_of`;
these are what the ledger, the organisation and the customer say, read from duely's mirror.
The workflows never read the database: the activities and the web ask these rules and hand
the chase what they found (`InvoiceFacts`).
"""

from __future__ import annotations

from datetime import date, timedelta

from duely.chase.plan import PROMISE_GRACE_DAYS, InvoiceFacts
from duely.models import ChaseMode, Customer, Invoice, InvoiceStatus, Organisation


def should_chase(invoice: Invoice) -> bool:
    """Open, something due, and not switched off for the invoice: a chase should run."""
    return (
        invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0 and invoice.chasing_enabled
    )


def invoice_facts(invoice: Invoice) -> InvoiceFacts:
    """What the ledger says of the invoice, as the chase weighs it (`holds.hold_of`)."""
    return InvoiceFacts(
        number=invoice.number,
        due_date=invoice.due_date.isoformat(),
        currency=invoice.currency,
        amount_due=invoice.amount_due,
        status=invoice.status,
        disputed=invoice.disputed,
        expected_payment_date=invoice.expected_payment_date.isoformat()
        if invoice.expected_payment_date
        else None,
    )


def customer_off_reason(organisation: Organisation, customer: Customer) -> str:
    """Why the customer must not be chased at all now; empty when chasing may go ahead. An
    opt-out is not one: it stops its channel only (`channel_opt_out_reason`), and a call task
    still goes to a person."""
    if organisation.chase_mode == ChaseMode.OFF:
        return "chasing is switched off for the organisation"
    if customer.chasing_enabled is False:
        return "chasing is switched off for this customer"
    if customer.chasing_enabled is None and organisation.chase_mode == ChaseMode.SELECTED:
        return "the organisation chases only customers someone switched on"
    return ""


def why_not_chase_in_ledger(invoice: Invoice) -> str:
    """What the ledger (and the invoice's own switch) say against chasing it; empty when
    nothing. Holds are the chase's to say, at hand-over."""
    if invoice.status == InvoiceStatus.VOIDED:
        return "the invoice was voided"
    if invoice.status == InvoiceStatus.PAID or invoice.amount_due <= 0:
        return "the invoice is paid"
    if invoice.status != InvoiceStatus.OPEN:
        return f"the invoice is {invoice.status}"
    if not invoice.chasing_enabled:
        return "chasing is switched off for this invoice"
    return ""


def why_not_chase(invoice: Invoice, local_day: date) -> str:
    """Why this invoice must be left out of today's reminder, judged by the database mirror
    alone: only for chases too old to answer the hand-over check."""
    reason = why_not_chase_in_ledger(invoice)
    if reason:
        return reason
    if invoice.disputed:
        return "the invoice is disputed"
    promised = invoice.expected_payment_date
    if promised and local_day <= promised + timedelta(days=PROMISE_GRACE_DAYS):
        return f"payment is promised for {promised.isoformat()}"
    return ""
