"""Card payments on invoices that no ledger holds (imported from a file): duely's own records
are all the books duely has, so the payment is recorded there, exactly once.

The payment's row moves from pending to recorded and the invoice's amount due goes down in one
transaction, each with a compare-and-set: a second attempt for the same share finds the payment
recorded and changes nothing; two payments for one invoice cannot both take the same amount
due. A payment the invoice cannot take (paid, voided, another currency, more than is due) is
unmatched, for a person, as with a ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import case, update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.money import to_major
from duely.models import Invoice, InvoiceStatus, Payment, PaymentStatus, utcnow
from duely.payments.placing import ALREADY_RECORDED, RECORDED, UNMATCHED

Row = TypeVar("Row", Invoice, Payment)


@dataclass(frozen=True)
class Booked:
    outcome: str
    """RECORDED, ALREADY_RECORDED or UNMATCHED."""
    reason: str
    """Why it is unmatched."""
    amount_due: int
    status: str


async def record_in_duely(
    db: Database, payment_id: int, invoice_id: int, amount: int, currency: str
) -> Booked:
    """Record the pending payment row `payment_id` against the invoice, once."""
    now = utcnow()
    async with db.session() as session:
        marked = await session.exec(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == PaymentStatus.PENDING)
            .values(
                status=PaymentStatus.RECORDED,
                reason="",
                last_error="",
                attempts=col(Payment.attempts) + 1,
                updated_at=now,
            )
        )
        if marked.rowcount == 1 and amount > 0:
            taken = await session.exec(
                update(Invoice)
                .where(
                    col(Invoice.id) == invoice_id,
                    col(Invoice.status) == InvoiceStatus.OPEN,
                    col(Invoice.currency) == currency,
                    col(Invoice.amount_due) >= amount,
                )
                .values(
                    amount_due=col(Invoice.amount_due) - amount,
                    status=case(
                        (col(Invoice.amount_due) == amount, InvoiceStatus.PAID),
                        else_=col(Invoice.status),
                    ),
                )
            )
            if taken.rowcount == 1:
                await session.commit()
                invoice = await _fresh(session, Invoice, invoice_id)
                return Booked(RECORDED, "", invoice.amount_due, invoice.status)
        await session.rollback()
        invoice = await _fresh(session, Invoice, invoice_id)
        payment = await _fresh(session, Payment, payment_id)
        if payment.status in (PaymentStatus.RECORDED, PaymentStatus.REFUNDED):
            return Booked(ALREADY_RECORDED, "", invoice.amount_due, invoice.status)
        if payment.status == PaymentStatus.UNMATCHED:
            return Booked(UNMATCHED, payment.reason, invoice.amount_due, invoice.status)
        reason = why_not(invoice, amount, currency)
        await session.exec(
            update(Payment)
            .where(col(Payment.id) == payment_id, col(Payment.status) == PaymentStatus.PENDING)
            .values(status=PaymentStatus.UNMATCHED, reason=reason, updated_at=now)
        )
        await session.commit()
        payment = await _fresh(session, Payment, payment_id)
        outcome = UNMATCHED if payment.status == PaymentStatus.UNMATCHED else ALREADY_RECORDED
        return Booked(outcome, payment.reason, invoice.amount_due, invoice.status)


async def _fresh(session: AsyncSession, model: type[Row], row_id: int) -> Row:
    """The row as the database holds it now. The payment row and its invoice exist: the
    caller read both before asking for the payment to be recorded."""
    row = await session.get(model, row_id, populate_existing=True)
    if row is None:
        raise LookupError(f"{model.__name__} {row_id} is not in the database")
    return row


def why_not(invoice: Invoice, amount: int, currency: str) -> str:
    """Why the invoice, as duely holds it, cannot take the payment."""
    number, nothing = invoice.number, "the payment was not recorded against it"
    if amount <= 0:
        return f"the payment is of {currency} {to_major(amount, currency):,}; {nothing}"
    if invoice.status == InvoiceStatus.VOIDED:
        return f"{number} is voided in duely; {nothing}"
    if invoice.status == InvoiceStatus.PAID or invoice.amount_due <= 0:
        return f"{number} is already paid in duely; {nothing}"
    if invoice.status != InvoiceStatus.OPEN:
        return f"{number} is not open in duely ({invoice.status}); {nothing}"
    if invoice.currency != currency:
        return f"the payment is in {currency} but {number} is in {invoice.currency}; {nothing}"
    due = f"{invoice.currency} {to_major(invoice.amount_due, invoice.currency):,}"
    return (
        f"{currency} {to_major(amount, currency):,} is more than the {due} still due on "
        f"{number}; {nothing}"
    )
