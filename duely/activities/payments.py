"""The activities an invoice's chase runs when money arrives: place the payment in the ledger
(exactly once), thank the customer, and raise the alarm when the ledger will not take it.

Placing is safe to retry and to repeat from a later chase: the payment's row says whether it
was placed, one attempt at a time holds it (duely.payments.placing_claims), and the ledger is
searched for the payment's reference before anything is written or refused
(duely.payments.placing, which also puts shares that arrive together for one connection into
one round of reads). An invoice no ledger holds is paid in duely itself
(duely.payments.unledgered). A configuration problem fails at once, with what to do
(duely.payments.ledger_trouble); an outage is retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from duely.activities.errors import as_application_error
from duely.activities.heartbeat import heartbeating
from duely.core.db import Database
from duely.core.money import format_money
from duely.core.temporal.options import ActivityTimeouts
from duely.integrations.ledgers.base import LedgerError, LedgerInvoice
from duely.integrations.ledgers.connections import Ledgers
from duely.models import (
    Alert,
    Channel,
    Connection,
    Customer,
    Invoice,
    Message,
    MessageKind,
    Organisation,
    Payment,
    PaymentSource,
    PaymentStatus,
    utcnow,
)
from duely.outbox.delivery import Delivery
from duely.outbox.messages import contacts_of, email_addresses, keep_email_once, message_by_key
from duely.outbox.opt_outs import channel_opt_out_reason
from duely.payments import placing_claims
from duely.payments.ledger_trouble import CONNECTIONS, what_to_do
from duely.payments.placing import (
    ALREADY_RECORDED,
    RECORDED,
    LedgerWriteQueue,
    Placed,
    Share,
)
from duely.payments.placing import (
    UNMATCHED as UNMATCHED,  # the chase workflow reads it here (duely.payments reaches the db)
)
from duely.payments.records import add_once
from duely.payments.stripe_accounts import payment_account_for
from duely.payments.unledgered import record_in_duely
from duely.settings import Settings

LEDGER_CONFIGURATION = "LedgerConfiguration"
"""The ApplicationError type of a configuration problem (non-retryable): the chase tells
integration health and waits for a person instead of retrying."""
PLACEMENT_IN_PROGRESS = "PlacementInProgress"
"""The ApplicationError type of an attempt that found another one placing the payment."""
CONFIGURATION_ALERT = "ledger_configuration"
"""The alert kind of a payment a configuration problem keeps out of the ledger."""


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
            row = await _payment_row(session, share, invoice)
            organisation = await session.get(Organisation, share.organisation_id)
            connection = (
                await session.get(Connection, invoice.connection_id)
                if invoice.connection_id is not None
                else None
            )
        if done := _settled(share, row, invoice):
            return done
        if invoice.connection_id is None:
            return await self._record_in_duely(share, row, invoice.number)
        if connection is None:  # the connection was deleted under its invoices
            todo = (
                f"the ledger connection {invoice.number} came from no longer exists. Connect "
                f"that ledger again on {CONNECTIONS}"
            )
            await self._failed_attempt(share, "no such ledger connection", todo, tried=True)
            raise ApplicationError(todo, type=LEDGER_CONFIGURATION, non_retryable=True)
        held = await placing_claims.claim(self._db, row.id)
        if held is None:
            return await self._claimed_elsewhere(share)
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
            async with (
                heartbeating(lambda: share.payment_id),
                placing_claims.kept(self._db, held),
            ):
                try:
                    ledger = self._ledgers.open(connection)
                    placed = await queue.place(ledger, placing, connection.provider)
                except LedgerError as error:
                    todo = what_to_do(
                        error, connection.provider, share.currency, placing.account_code
                    )
                    await self._failed_attempt(share, str(error), todo)
                    if todo:
                        problem = ApplicationError(
                            todo, type=LEDGER_CONFIGURATION, non_retryable=True
                        )
                        raise problem from error
                    raise as_application_error(error) from error
                if placed.outcome == UNMATCHED:
                    return await self._unmatched(share, placed.reason, placed.after)
                return await self._recorded(share, placed, connection.provider)
        except placing_claims.ClaimLost as lost:
            raise _in_progress(share, invoice, placing_claims.CLAIM_LEASE) from lost

    async def _claimed_elsewhere(self, share: PaymentShare) -> Placement:
        """Another attempt holds the payment: what it achieved, or wait for its claim to end."""
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
        if done := _settled(share, row, invoice):
            return done
        left = (row.placing_until or utcnow()) - utcnow()
        raise _in_progress(share, invoice, max(left, timedelta(seconds=1)))

    async def _record_in_duely(self, share: PaymentShare, row: Payment, number: str) -> Placement:
        """An invoice no ledger holds (imported from a file): duely's records are the books."""
        booked = await record_in_duely(
            self._db, row.id, share.invoice_id, share.amount, share.currency
        )
        if booked.outcome == UNMATCHED:
            detail = booked.reason
        else:
            done = "recorded" if booked.outcome == RECORDED else "was already recorded"
            detail = (
                f"{format_money(share.amount, share.currency)} {done} in duely; {number} is not "
                "linked to a ledger, so record the payment in your accounts too"
            )
        return Placement(booked.outcome, detail, booked.amount_due, booked.status)

    async def _recorded(self, share: PaymentShare, placed: Placed, provider: str) -> Placement:
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
            row.status, row.ledger_payment_id = PaymentStatus.RECORDED, placed.ledger_payment_id
            row.reference, row.last_error, row.updated_at = share.reference, "", utcnow()
            row.reason = ""
            session.add(row)
            if placed.after is not None:
                # The mirror follows the ledger at once; the next sync confirms it.
                invoice.amount_due, invoice.status = placed.after.amount_due, placed.after.status
                session.add(invoice)
            await session.commit()
            where = f"in {provider.title()} (payment {placed.ledger_payment_id})"
            detail = (
                f"{format_money(share.amount, share.currency)} recorded {where}"
                if placed.outcome == RECORDED
                else f"{format_money(share.amount, share.currency)} was already recorded {where}"
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

    async def _failed_attempt(
        self, share: PaymentShare, error: str, todo: str, tried: bool = False
    ) -> None:
        """The row shows the latest error and, for a configuration problem, what a person must
        do (`reason`, empty for an outage): the integration-health view tells them apart.
        `tried`: count this attempt (a claimed attempt was counted when it claimed)."""
        async with self._db.session() as session:
            row = await _payment_row(session, share, await session.get(Invoice, share.invoice_id))
            row.last_error, row.reason, row.updated_at = error[:2000], todo, utcnow()
            row.attempts += int(tried)
            session.add(row)
            await session.commit()

    @activity.defn
    async def payment_not_placed(self, trouble: PaymentTrouble) -> None:
        """The ledger would not take the payment (for now): a person should know, and know
        whether it is theirs to fix (a configuration problem) or an outage that passes."""
        share = trouble.share
        async with self._db.session() as session:
            invoice = await session.get(Invoice, share.invoice_id)
            row = await _payment_row(session, share, invoice)
            paid = f"{format_money(share.amount, share.currency)} paid by card for {invoice.number}"
            if row.reason:
                kind = CONFIGURATION_ALERT
                detail = (
                    f"{paid} is not in the ledger, and will not be until someone acts: "
                    f"{row.reason}. duely tries again by itself every hour, and at once when "
                    "the card payment settings are saved or the ledger is reconnected: the "
                    "first try after the fix records the payment and the invoice's chase "
                    "carries on, with nothing more to do here."
                )
            else:
                kind = "ledger_write"
                detail = (
                    f"{paid} is not in the ledger yet: {trouble.error}. This looks temporary "
                    "(the ledger did not answer, or asked duely to slow down): duely tries again "
                    "by itself every hour until the ledger takes it."
                )
            key = f"{kind}:{share.reference}"[:200]
            alert = Alert(
                organisation_id=share.organisation_id,
                key=key,
                kind=kind,
                detail=detail,
                invoice_id=invoice.id,
                payment_id=row.id,
            )
            session.add(alert)
            try:
                await session.commit()
            except IntegrityError:  # alerted already: the alert says the latest
                await session.rollback()
                await session.exec(
                    update(Alert)
                    .where(
                        col(Alert.organisation_id) == share.organisation_id, col(Alert.key) == key
                    )
                    .values(detail=detail)
                )
                await session.commit()

    @activity.defn
    async def thank_for_payment(self, share: PaymentShare) -> None:
        """One thank-you per payment, however many invoices it paid (the message's unique
        key is the payment); none to a customer who opted out."""
        key = f"thanks:{share.organisation_id}:{share.payment_id}"[:200]
        async with self._db.session() as session:
            organisation = await session.get(Organisation, share.organisation_id)
        async with self._db.session() as session:
            existing = await message_by_key(session, key)
            if existing is None:
                existing = await self._thank_you(session, organisation, share, key)
        if existing is not None:
            await self._delivery.deliver(existing, organisation)

    async def _thank_you(
        self, session: AsyncSession, organisation: Organisation, share: PaymentShare, key: str
    ) -> Message | None:
        invoice = await session.get(Invoice, share.invoice_id)
        customer = await session.get(Customer, invoice.customer_id)
        if channel_opt_out_reason(customer, Channel.EMAIL):
            return None
        contacts = await contacts_of(session, customer)
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
        greeting = contacts[0].first_name if contacts and contacts[0].first_name else customer.name
        amount = format_money(total, share.currency)
        owing = [paid for _, paid in shares if paid.amount_due > 0 and paid.status == "open"]
        if owing:  # a part payment: thanked too, and what remains said plainly
            left = sum(paid.amount_due for paid in owing)
            rest = (
                "It has been recorded against your account; "
                f"{format_money(left, share.currency)} remains due on "
                f"{', '.join(paid.number for paid in owing)}."
            )
        else:
            rest = (
                "It has been received and recorded against your account, so there is "
                "nothing more to do."
            )
        message = Message(
            organisation_id=organisation.id,
            customer_id=customer.id,
            channel=Channel.EMAIL,
            kind=MessageKind.THANK_YOU,
            unique_key=key,
            recipients=email_addresses(contacts),
            subject=f"Thank you for your payment to {organisation.name}",
            body=(
                f"Dear {greeting},\n\n"
                f"Thank you for your payment of {amount} for {numbers}. {rest}\n\n"
                f"Kind regards,\n{organisation.sender}\n"
            ),
        )
        # Another invoice of the same payment may write it first: then that one is sent.
        return await keep_email_once(session, message, customer)


async def _payment_row(
    session: AsyncSession, share: PaymentShare, invoice: Invoice | None
) -> Payment:
    """The payment's row for this invoice; the webhook normally wrote it already."""
    query = select(Payment).where(
        Payment.organisation_id == share.organisation_id,
        Payment.source == PaymentSource.STRIPE,
        Payment.external_id == share.payment_id,
        Payment.invoice_ref == str(share.invoice_id),
    )
    row = (await session.exec(query)).first()
    if row is None:
        written = await add_once(
            session,
            Payment(
                organisation_id=share.organisation_id,
                invoice_id=invoice.id if invoice else None,
                invoice_ref=str(share.invoice_id),
                customer_id=invoice.customer_id if invoice else None,
                amount=share.amount,
                currency=share.currency,
                source=PaymentSource.STRIPE,
                external_id=share.payment_id,
                paid_on=datetime.fromisoformat(share.paid_at).date() if share.paid_at else None,
            ),
        )
        if not written and invoice is not None:  # the rollback expired it; callers use it
            await session.refresh(invoice)
        row = (await session.exec(query)).one()
    return row


def _settled(share: PaymentShare, row: Payment, invoice: Invoice) -> Placement | None:
    """What became of a payment no attempt needs to place any more; None while pending."""
    if row.status in (PaymentStatus.RECORDED, PaymentStatus.REFUNDED):
        return Placement(
            ALREADY_RECORDED,
            f"{format_money(share.amount, share.currency)} was already recorded",
            invoice.amount_due,
            invoice.status,
        )
    if row.status == PaymentStatus.UNMATCHED:
        return Placement(UNMATCHED, row.reason, invoice.amount_due, invoice.status)
    return None


def _in_progress(share: PaymentShare, invoice: Invoice, wait: timedelta) -> ApplicationError:
    """Retryable: another attempt is placing this payment right now; try when its claim ends."""
    return ApplicationError(
        f"{format_money(share.amount, share.currency)} for {invoice.number} is being placed by "
        "another attempt right now; this one waits for it and writes nothing",
        type=PLACEMENT_IN_PROGRESS,
        next_retry_delay=wait,
    )


def _paid_on(share: PaymentShare, organisation: Organisation) -> date:
    """The ledger books calendar days: the day the money arrived where the business is."""
    arrived = datetime.fromisoformat(share.paid_at) if share.paid_at else utcnow()
    return arrived.astimezone(ZoneInfo(organisation.timezone)).date()


PLACE_PAYMENT: ActivityTimeouts = {
    "start_to_close_timeout": timedelta(minutes=5),
    "heartbeat_timeout": timedelta(seconds=20),
    "schedule_to_close_timeout": timedelta(minutes=30),
}
"""A dead worker is noticed within the heartbeat timeout and the placement retried (after its
claim runs out); after half an hour of a ledger outage, or at once for a configuration problem
(non-retryable), the chase raises an alert and tries again hourly."""
