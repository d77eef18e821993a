"""The activities an invoice's chase runs when money arrives: place the payment in the ledger
(exactly once), thank the customer, and raise the alarm when the ledger will not take it.

Placing is safe to retry and to repeat from a later chase: the payment's row says whether it
was placed, and the ledger is searched for the payment's reference before anything is written
or refused (duely.payments.placing, which also puts shares that arrive together for one
connection into one round of three ledger calls).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from duely.activities.errors import as_application_error
from duely.activities.heartbeat import heartbeating
from duely.db import Database
from duely.delivery import Delivery
from duely.integrations.ledgers.base import LedgerError, LedgerInvoice
from duely.integrations.ledgers.connections import Ledgers
from duely.models import (
    Alert,
    Channel,
    Connection,
    Contact,
    ContactKind,
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageStatus,
    Organisation,
    Payment,
    PaymentSource,
    PaymentStatus,
    utcnow,
)
from duely.money import to_major
from duely.opt_outs import channel_opt_out_reason
from duely.payments.placing import (
    ALREADY_RECORDED,
    RECORDED,
    UNMATCHED,
    LedgerWriteQueue,
    Placed,
    Share,
)
from duely.payments.stripe_accounts import payment_account_for
from duely.settings import Settings


@dataclass
class PaymentShare:
    """One invoice's share of a payment, as its chase holds it."""

    organisation_id: int
    invoice_id: int
    payment_id: str
    amount: int
    currency: str
    paid_at: str
    """ISO instant the money arrived."""

    @property
    def reference(self) -> str:
        """What the ledger payment carries: unique per payment and invoice, and the same on
        every attempt (never derived from the attempt)."""
        return f"duely:{self.payment_id}:{self.invoice_id}"


@dataclass
class Placement:
    outcome: str
    """RECORDED, ALREADY_RECORDED or UNMATCHED."""
    detail: str
    amount_due: int
    """What the invoice still owes afterwards, as far as duely knows."""
    status: str
    """The invoice's status afterwards (duely's InvoiceStatus values)."""


@dataclass
class PaymentTrouble:
    share: PaymentShare
    error: str


class PaymentActivities:
    def __init__(self, settings: Settings, db: Database, ledgers: Ledgers, delivery: Delivery):
        self._settings = settings
        self._db = db
        self._ledgers = ledgers
        self._delivery = delivery
        self._queues: dict[int, LedgerWriteQueue] = {}
        """Per connection: shares placed together while a ledger write is in flight."""

    @activity.defn
    async def place_payment(self, share: PaymentShare) -> Placement:
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            organisation = await session.get(Organisation, share.organisation_id)
            row = await _payment_row(session, share, invoice)
            if row.status in (PaymentStatus.RECORDED, PaymentStatus.REFUNDED):
                return Placement(
                    ALREADY_RECORDED,
                    f"{_money(share)} was already recorded in the ledger",
                    invoice.amount_due,
                    invoice.status,
                )
            if row.status == PaymentStatus.UNMATCHED:
                return Placement(UNMATCHED, row.reason, invoice.amount_due, invoice.status)
            connection = await session.get(Connection, invoice.connection_id)
            row.attempts += 1
            session.add(row)
            await session.commit()
        placing = Share(
            reference=share.reference,
            invoice_external_id=invoice.external_id,
            invoice_number=invoice.number,
            amount=share.amount,
            currency=share.currency,
            paid_on=_paid_on(share, organisation),
            account_code=payment_account_for(organisation, share.currency),
        )
        queue = self._queues.setdefault(connection.id, LedgerWriteQueue())
        try:
            ledger = self._ledgers.open(connection)
            async with heartbeating(lambda: share.payment_id):
                placed = await queue.place(ledger, placing, connection.provider)
        except LedgerError as error:
            await self._failed_attempt(share, str(error))
            raise as_application_error(error) from error
        if placed.outcome == UNMATCHED:
            return await self._unmatched(share, placed.reason, placed.after)
        return await self._recorded(share, placed, connection.provider)

    async def _recorded(self, share: PaymentShare, placed: Placed, provider: str) -> Placement:
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
            row.status, row.ledger_payment_id = PaymentStatus.RECORDED, placed.ledger_payment_id
            row.reference, row.last_error, row.updated_at = share.reference, "", utcnow()
            session.add(row)
            if placed.after is not None:
                # The mirror follows the ledger at once; the next sync confirms it.
                invoice.amount_due, invoice.status = placed.after.amount_due, placed.after.status
                session.add(invoice)
            await session.commit()
            where = f"in {provider.title()} (payment {placed.ledger_payment_id})"
            detail = (
                f"{_money(share)} recorded {where}"
                if placed.outcome == RECORDED
                else f"{_money(share)} was already recorded {where}"
            )
            return Placement(placed.outcome, detail, invoice.amount_due, invoice.status)

    async def _unmatched(
        self, share: PaymentShare, reason: str, current: LedgerInvoice | None
    ) -> Placement:
        """Queued for a person. The invoice's mirror follows what the ledger showed (e.g.
        paid), so the chase acts on the truth without waiting for the next sync."""
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
            row.status, row.reason, row.updated_at = PaymentStatus.UNMATCHED, reason, utcnow()
            session.add(row)
            if current is not None:
                invoice.amount_due, invoice.status = current.amount_due, current.status
                session.add(invoice)
            await session.commit()
            return Placement(UNMATCHED, reason, invoice.amount_due, invoice.status)

    async def _failed_attempt(self, share: PaymentShare, error: str) -> None:
        async with self._db.session() as session:
            row = await _payment_row(session, share, await session.get(Invoice, share.invoice_id))
            row.last_error, row.updated_at = error[:2000], utcnow()
            session.add(row)
            await session.commit()

    @activity.defn
    async def payment_not_placed(self, trouble: PaymentTrouble) -> None:
        """The ledger would not take the payment (for now): a person should know."""
        share = trouble.share
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
            session.add(
                Alert(
                    organisation_id=share.organisation_id,
                    key=f"ledger_write:{share.reference}"[:200],
                    kind="ledger_write",
                    detail=f"{_money(share)} paid by card for {invoice.number} is not in the "
                    f"ledger yet: {trouble.error}. duely keeps trying every hour.",
                    invoice_id=invoice.id,
                    payment_id=row.id,
                )
            )
            try:
                await session.commit()
            except IntegrityError:  # alerted already; the row shows the latest error
                await session.rollback()

    @activity.defn
    async def thank_for_payment(self, share: PaymentShare) -> None:
        """One thank-you per payment, however many invoices it paid (the message's unique
        key is the payment); none to a customer who opted out."""
        key = f"thanks:{share.organisation_id}:{share.payment_id}"[:200]
        async with self._db.session() as session:
            organisation = await session.get(Organisation, share.organisation_id)
        async with self._db.session() as session:
            existing = (
                await session.exec(select(Message).where(Message.unique_key == key))
            ).first()
            if existing is None:
                existing = await self._thank_you(session, organisation, share, key)
        if existing is not None:
            await self._delivery.deliver(existing, organisation)

    async def _thank_you(self, session, organisation: Organisation, share: PaymentShare, key: str):
        invoice = await session.get(Invoice, share.invoice_id)
        customer = await session.get(Customer, invoice.customer_id)
        if channel_opt_out_reason(customer, Channel.EMAIL):
            return None
        contacts = list(
            await session.exec(
                select(Contact).where(
                    Contact.customer_id == customer.id, Contact.kind == ContactKind.NORMAL
                )
            )
        )
        shares = list(
            await session.exec(
                select(Payment, Invoice)
                .join(Invoice, Payment.invoice_id == Invoice.id)
                .where(
                    Payment.organisation_id == share.organisation_id,
                    Payment.source == PaymentSource.STRIPE,
                    Payment.external_id == share.payment_id,
                )
                .order_by(Invoice.number)
            )
        )
        total = sum(payment.amount for payment, _ in shares) or share.amount
        numbers = ", ".join(paid.number for _, paid in shares) or invoice.number
        recipients = [contact.email for contact in contacts if contact.email]
        sender = organisation.sender_name or organisation.name
        greeting = contacts[0].first_name if contacts and contacts[0].first_name else customer.name
        amount = f"{share.currency} {to_major(total, share.currency):,.2f}"
        message = Message(
            organisation_id=organisation.id,
            customer_id=customer.id,
            channel=Channel.EMAIL,
            kind=MessageKind.THANK_YOU,
            unique_key=key,
            recipients=", ".join(recipients),
            subject=f"Thank you for your payment to {organisation.name}",
            body=(
                f"Dear {greeting},\n\n"
                f"Thank you for your payment of {amount} for {numbers}. "
                "It has been received and recorded against your account, so there is "
                "nothing more to do.\n\n"
                f"Kind regards,\n{sender}\n"
            ),
        )
        if not recipients:
            message.status = MessageStatus.FAILED
            message.error = f"{customer.name} has no contact with an email address"
        session.add(message)
        try:
            await session.commit()
        except IntegrityError:  # another invoice of the same payment wrote it first
            await session.rollback()
            return (await session.exec(select(Message).where(Message.unique_key == key))).first()
        await session.refresh(message)
        return message


async def _payment_row(session, share: PaymentShare, invoice: Invoice | None) -> Payment:
    """The payment's row for this invoice; the webhook normally wrote it already."""
    query = select(Payment).where(
        Payment.organisation_id == share.organisation_id,
        Payment.source == PaymentSource.STRIPE,
        Payment.external_id == share.payment_id,
        Payment.invoice_ref == str(share.invoice_id),
    )
    row = (await session.exec(query)).first()
    if row is None:
        row = Payment(
            organisation_id=share.organisation_id,
            invoice_id=invoice.id if invoice else None,
            invoice_ref=str(share.invoice_id),
            customer_id=invoice.customer_id if invoice else None,
            amount=share.amount,
            currency=share.currency,
            source=PaymentSource.STRIPE,
            external_id=share.payment_id,
            paid_on=datetime.fromisoformat(share.paid_at).date() if share.paid_at else None,
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        row = (await session.exec(query)).one()
    return row


def _paid_on(share: PaymentShare, organisation: Organisation):
    """The ledger books calendar days: the day the money arrived where the business is."""
    arrived = datetime.fromisoformat(share.paid_at) if share.paid_at else utcnow()
    return arrived.astimezone(ZoneInfo(organisation.timezone)).date()


def _money(share: PaymentShare) -> str:
    return f"{share.currency} {to_major(share.amount, share.currency):,}"


PLACE_PAYMENT = {
    "start_to_close_timeout": timedelta(minutes=5),
    "heartbeat_timeout": timedelta(seconds=20),
    "schedule_to_close_timeout": timedelta(minutes=30),
}
"""A dead worker is noticed within the heartbeat timeout and the placement retried; after
half an hour of a ledger refusing, the chase raises an alert and tries again hourly."""
