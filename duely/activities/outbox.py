"""Activities of CustomerOutboxWorkflow: where the customer's send window is, and sending one
batch of reminders.

`send_reminders` may run more than once for the same batch (a crash, a timeout, a mail
server that is down), so every step is idempotent:
- the message is found by its unique key (kind + customer + local day), which is also what
  caps reminders at one a day: a key taken by another batch means "already reminded today";
- its status says how far delivery got (see duely.delivery), so a retry resumes it and never
  sends it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from duely.activities.chasing import customer_off_reason, invoice_facts, window_of
from duely.activities.errors import as_application_error
from duely.activities.heartbeat import heartbeating
from duely.chasing.plan import PROMISE_GRACE_DAYS, WindowSpec
from duely.chasing.reminders import (
    BatchResult,
    ReminderBatch,
    ReminderOutcome,
    ReminderRequest,
    Verdict,
)
from duely.chasing.templates import context_for, render
from duely.db import Database
from duely.delivery import Delivery
from duely.integrations.ledgers.base import LedgerAuthError, LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.ledger_mirror import Scope, upsert_invoices
from duely.links import PORTAL, UNSUBSCRIBE, LinkTarget, link
from duely.models import (
    Channel,
    Connection,
    Contact,
    ContactKind,
    Customer,
    Invoice,
    InvoiceStatus,
    Message,
    MessageKind,
    MessageStatus,
    Organisation,
    Template,
    utcnow,
)
from duely.settings import Settings

VERDICT_OF_STATUS = {
    MessageStatus.SENT: Verdict.SENT,
    MessageStatus.OPEN: Verdict.SENT,
    MessageStatus.DONE: Verdict.SENT,
    MessageStatus.HELD: Verdict.HELD,
    MessageStatus.FAILED: Verdict.FAILED,
    MessageStatus.UNCERTAIN: Verdict.FAILED,
}


@dataclass
class _Customer:
    organisation: Organisation
    customer: Customer
    contacts: list[Contact]


def why_not_chase(invoice: Invoice, local_day: date) -> str:
    """Why this invoice must be left out of today's reminder; empty when it may go in."""
    if invoice.status == InvoiceStatus.VOIDED:
        return "the invoice was voided"
    if invoice.status == InvoiceStatus.PAID or invoice.amount_due <= 0:
        return "the invoice is paid"
    if invoice.status != InvoiceStatus.OPEN:
        return f"the invoice is {invoice.status}"
    if invoice.disputed:
        return "the invoice is disputed"
    if not invoice.chasing_enabled:
        return "chasing is switched off for this invoice"
    promised = invoice.expected_payment_date
    if promised and local_day <= promised + timedelta(days=PROMISE_GRACE_DAYS):
        return f"payment is promised for {promised.isoformat()}"
    return ""


class OutboxActivities:
    def __init__(
        self, settings: Settings, db: Database, ledgers: Ledgers, delivery: Delivery
    ) -> None:
        self._settings = settings
        self._db = db
        self._ledgers = ledgers
        self._delivery = delivery

    @activity.defn
    async def outbox_window(self, customer_id: int) -> WindowSpec:
        async with self._db.session() as session:
            customer = await session.get(Customer, customer_id)
            organisation = await session.get(Organisation, customer.organisation_id)
        return window_of(organisation, customer)

    @activity.defn
    async def send_reminders(self, batch: ReminderBatch) -> BatchResult:
        async with heartbeating(lambda: None, every_seconds=2):
            return await self._send_reminders(batch)

    async def _send_reminders(self, batch: ReminderBatch) -> BatchResult:
        people = await self._customer(batch.customer_id)
        customer = people.customer
        reason = customer_off_reason(people.organisation, customer)
        if reason:
            return BatchResult([_dropped(r, reason) for r in batch.requests])
        try:
            invoices = await self._reread([r.invoice_id for r in batch.requests])
        except LedgerAuthError as error:
            # Chasing waits while the connection needs reconnecting: never chase blind.
            return BatchResult(retry_reason=f"the ledger could not be read: {error}")
        except LedgerError as error:
            raise as_application_error(error) from error

        local_day = date.fromisoformat(batch.local_day)
        result = BatchResult()
        reminders: list[ReminderRequest] = []
        calls: list[ReminderRequest] = []
        for request in batch.requests:
            invoice = invoices.get(request.invoice_id)
            reason = why_not_chase(invoice, local_day) if invoice else "the invoice is gone"
            if reason:
                result.outcomes.append(_dropped(request, reason, invoice))
            else:
                (calls if request.channel == Channel.CALL_TASK else reminders).append(request)

        for group, kind in ((reminders, "reminder"), (calls, "call")):
            if not group:
                continue
            key = f"{kind}:{customer.id}:{batch.local_day}"
            message = await self._message(key)
            if message is not None and message.batch_ref != _batch_ref():
                if kind == "call":
                    # Today's call task for this customer is already open: it covers these too.
                    result.outcomes += [_answered(r, message, invoices) for r in group]
                else:
                    result.retry_on = (local_day + timedelta(days=1)).isoformat()
                    result.retry_reason = "the customer already had a reminder today"
                continue
            if message is None:
                message = await self._compose(key, batch, people, group, invoices)
            message = await self._delivery.deliver(message, people.organisation)
            result.outcomes += [_answered(r, message, invoices) for r in group]
        return result

    # --- reading -----------------------------------------------------------------------------

    async def _customer(self, customer_id: int) -> _Customer:
        async with self._db.session() as session:
            customer = await session.get(Customer, customer_id)
            organisation = await session.get(Organisation, customer.organisation_id)
            contacts = list(
                await session.exec(
                    select(Contact).where(Contact.customer_id == customer_id).order_by(Contact.id)
                )
            )
        return _Customer(organisation, customer, contacts)

    async def _reread(self, invoice_ids: list[int]) -> dict[int, Invoice]:
        """The invoices as the ledger holds them now: one batch call per connection, unless it
        synced moments ago (DUELY_LEDGER_FRESH_MINUTES)."""
        async with self._db.session() as session:
            rows = list(await session.exec(select(Invoice).where(col(Invoice.id).in_(invoice_ids))))
            connection_ids = {row.connection_id for row in rows if row.connection_id}
            connections = [await session.get(Connection, cid) for cid in connection_ids]
        fresh_since = utcnow() - timedelta(minutes=self._settings.ledger_fresh_minutes)
        for connection in connections:
            if self._settings.ledger_fresh_minutes and (
                connection.last_success_at and connection.last_success_at >= fresh_since
            ):
                continue
            external_ids = [r.external_id for r in rows if r.connection_id == connection.id]
            current = await self._ledgers.open(connection).get_invoices(external_ids)
            async with self._db.session() as session:
                scope = Scope(connection.organisation_id, connection.id)
                await upsert_invoices(session, scope, current, run_id=None)
        async with self._db.session() as session:
            rows = await session.exec(select(Invoice).where(col(Invoice.id).in_(invoice_ids)))
            return {row.id: row for row in rows}

    async def _message(self, key: str) -> Message | None:
        async with self._db.session() as session:
            return (await session.exec(select(Message).where(Message.unique_key == key))).first()

    # --- writing -----------------------------------------------------------------------------

    async def _compose(
        self,
        key: str,
        batch: ReminderBatch,
        people: _Customer,
        group: list[ReminderRequest],
        invoices: dict[int, Invoice],
    ) -> Message:
        # The most advanced step speaks for the batch: its template, channel and recipients.
        lead = max(group, key=lambda r: r.offset_days)
        escalate = any(r.recipient_kind == ContactKind.ESCALATED for r in group)
        organisation, customer = people.organisation, people.customer
        contacts = [c for c in people.contacts if c.kind == ContactKind.NORMAL or escalate]
        channel = lead.channel
        if channel == Channel.SMS:
            recipients = [c.phone for c in contacts if c.phone]
        elif channel == Channel.EMAIL:
            recipients = [c.email for c in contacts if c.email]
        else:
            recipients = []
        lines = [invoices[r.invoice_id] for r in group]
        subject, body = await self._text(lead, people, lines, date.fromisoformat(batch.local_day))
        message = Message(
            organisation_id=organisation.id,
            customer_id=customer.id,
            channel=channel,
            kind=MessageKind.REMINDER,
            unique_key=key,
            batch_ref=_batch_ref(),
            recipients=", ".join(recipients),
            subject=subject,
            body=body,
            status=MessageStatus.OPEN if channel == Channel.CALL_TASK else MessageStatus.QUEUED,
            created_at=datetime.fromisoformat(batch.sending_at),
        )
        if channel != Channel.CALL_TASK and not recipients:
            what = "a phone number" if channel == Channel.SMS else "an email address"
            message.status = MessageStatus.FAILED
            message.error = f"{customer.name} has no contact with {what}"
        async with self._db.session() as session:
            session.add(message)
            try:
                await session.commit()
            except IntegrityError:
                # Another attempt of this same batch wrote it first.
                await session.rollback()
                return await self._message(key)
            await session.refresh(message)
            return message

    async def _text(
        self, lead: ReminderRequest, people: _Customer, invoices: list[Invoice], today: date
    ) -> tuple[str, str]:
        organisation, customer = people.organisation, people.customer
        numbers = ", ".join(i.number for i in invoices)
        if lead.channel == Channel.CALL_TASK:
            phones = ", ".join(
                f"{c.first_name} {c.last_name}: {c.phone}".strip()
                for c in people.contacts
                if c.phone
            )
            return (
                f"Call {customer.name} about {numbers}",
                f"{lead.step_label}. Phone: {phones or 'no number on file'}.",
            )
        async with self._db.session() as session:
            template = await session.get(Template, lead.template_id) if lead.template_id else None
        secret = self._settings.resolved_secret_key
        target = LinkTarget(organisation.id, customer.id)
        payment_link = link(self._settings.public_url, secret, PORTAL, target)
        if template is None:
            raise ApplicationError(
                f"the step {lead.step_label!r} has no template", non_retryable=True
            )
        person = next((c for c in people.contacts if c.kind == ContactKind.NORMAL), None)
        context = context_for(organisation, customer, person, invoices, payment_link, today)
        rendered = render(template.subject, template.body, context)
        if lead.channel == Channel.SMS:
            # A text is the subject line and the link; the carrier handles STOP.
            return (
                rendered.subject,
                f"{rendered.subject}. Pay here: {payment_link} Reply STOP to opt out.",
            )
        unsubscribe = link(self._settings.public_url, secret, UNSUBSCRIBE, target)
        footer = f"\n\n--\nTo stop receiving these reminders: {unsubscribe}"
        return rendered.subject, rendered.body + footer


def _batch_ref() -> str:
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


def _dropped(
    request: ReminderRequest, reason: str, invoice: Invoice | None = None
) -> ReminderOutcome:
    return ReminderOutcome(
        invoice_id=request.invoice_id,
        send_key=request.send_key,
        verdict=Verdict.DROPPED,
        detail=f"{request.step_label} not sent: {reason}",
        invoice=invoice_facts(invoice) if invoice else None,
    )


def _answered(
    request: ReminderRequest, message: Message, invoices: dict[int, Invoice]
) -> ReminderOutcome:
    verdict = VERDICT_OF_STATUS.get(message.status, Verdict.FAILED)
    channel = {"email": "emailed", "sms": "texted", "call_task": "call task created"}
    detail = f"{request.step_label}: {channel.get(message.channel, message.channel)}"
    if verdict == Verdict.SENT and message.recipients:
        detail += f" to {message.recipients}"
    elif verdict == Verdict.HELD:
        detail += " (kept in the outbox: nothing is configured to deliver it)"
    elif verdict == Verdict.FAILED:
        detail = f"{request.step_label} failed: {message.error}"
    return ReminderOutcome(
        invoice_id=request.invoice_id,
        send_key=request.send_key,
        verdict=verdict,
        detail=detail,
        message_id=message.id,
        invoice=invoice_facts(invoices[request.invoice_id]),
    )
