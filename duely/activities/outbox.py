"""Activities of CustomerOutboxWorkflow: where the customer's send window is, and sending one
batch of reminders.

`send_reminders` may run more than once for the same batch (a crash, a timeout, a mail
server that is down), so every step is idempotent:
- the message is found by its unique key (kind + customer + local day), which is also what
  caps reminders at one a day: a key taken by another batch means "already reminded today";
- its status says how far delivery got (see duely.outbox.delivery), so a retry resumes it and never
  sends it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from duely.activities.chase import window_of
from duely.activities.errors import as_application_error
from duely.activities.heartbeat import (
    hand_over_if_worker_stops,
    heartbeating,
    unless_worker_stops,
)
from duely.chase.eligibility import (
    customer_off_reason,
    invoice_facts,
    why_not_chase,
    why_not_chase_in_ledger,
)
from duely.chase.plan import WindowSpec
from duely.core.db import Database
from duely.core.links import PORTAL, UNSUBSCRIBE, LinkTarget, link
from duely.integrations.ledgers.base import LedgerAuthError, LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.ledgers.documents import with_online_links
from duely.ledgers.freshness import Freshness
from duely.ledgers.mirror import Scope, upsert_invoices
from duely.models import (
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
    Template,
    utcnow,
)
from duely.outbox.delivery import Delivery
from duely.outbox.opt_outs import channel_opt_out_reason
from duely.outbox.requests import (
    BatchResult,
    HandOverAnswer,
    HandOverCheck,
    ReminderBatch,
    ReminderOutcome,
    ReminderRequest,
    Verdict,
)
from duely.outbox.send_times import next_send_moment, wall_time_to_utc
from duely.receivables.credit import credit_by_currency
from duely.reminders.rendering import ONLINE_URL, TemplateTooLarge, context_for, render
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
class SendMoment:
    customer_id: int
    earliest: str
    """An ISO instant, or an ISO day (from its start in the customer's zone)."""


@dataclass
class _Customer:
    organisation: Organisation
    customer: Customer
    contacts: list[Contact]


class OutboxActivities:
    def __init__(
        self, settings: Settings, db: Database, ledgers: Ledgers, delivery: Delivery
    ) -> None:
        self._settings = settings
        self._db = db
        self._ledgers = ledgers
        self._delivery = delivery
        self._freshness = Freshness(settings, db)

    @activity.defn
    async def outbox_window(self, customer_id: int) -> WindowSpec:
        async with self._db.session() as session:
            customer = await session.get(Customer, customer_id)
            organisation = await session.get(Organisation, customer.organisation_id)
        return window_of(organisation, customer)

    @activity.defn
    async def send_moment(self, when: SendMoment) -> str:
        """The first moment at or after `when.earliest` inside the customer's send window (ISO):
        the calendar is read here, not in the workflow, so a replay never changes its mind."""
        window = (await self.outbox_window(when.customer_id)).window()
        if "T" in when.earliest:
            earliest = datetime.fromisoformat(when.earliest)
        else:  # a day: from its start where the customer is
            earliest = wall_time_to_utc(date.fromisoformat(when.earliest), time(0), window.timezone)
        return next_send_moment(earliest, window).isoformat()

    @activity.defn
    async def send_reminders(self, batch: ReminderBatch) -> BatchResult:
        async with heartbeating(lambda: None, every_seconds=2):
            return await self._send_reminders(batch)

    async def _send_reminders(self, batch: ReminderBatch) -> BatchResult:
        people = await self._customer(batch.customer_id)
        customer = people.customer
        window = window_of(people.organisation, customer).window()
        sending_at = datetime.fromisoformat(batch.sending_at)
        local_day = (
            date.fromisoformat(batch.local_day)
            if batch.local_day
            else sending_at.astimezone(window.zone).date()
        )
        reason = customer_off_reason(people.organisation, customer)
        if reason:
            return BatchResult([_dropped(r, reason) for r in batch.requests])
        try:
            invoices = await self._reread([r.invoice_id for r in batch.requests], sending_at)
        except LedgerAuthError as error:
            # Chasing waits while the connection needs reconnecting: never chase blind.
            return BatchResult(retry_reason=f"the ledger could not be read: {error}")
        except LedgerError as error:
            raise as_application_error(error) from error

        result = BatchResult()
        groups: dict[str, list[tuple[ReminderRequest, ReminderRequest]]] = {
            URGENT: [],
            REMINDER: [],
            CALL: [],
        }
        begun = await self._begun(customer.id, local_day, groups)
        for asked in batch.requests:
            # Nothing of this attempt is handed over yet: a stopping worker's drain need not
            # wait for the checks to come (a query each, seconds on a loaded engine).
            hand_over_if_worker_stops("the customer's reminders")
            invoice = invoices.get(asked.invoice_id)
            if _group_of(asked) in begun:
                # An earlier attempt of this batch began handing its message over: it may have
                # gone, so it is finished (or found uncertain) as it is, and answers for these.
                groups[_group_of(asked)].append((asked, asked))
                continue
            request, reason, held = await self._hand_over_check(asked, invoice, sending_at)
            reason = reason or channel_opt_out_reason(customer, request.channel)
            if reason:
                result.outcomes.append(_dropped(asked, reason, invoice, held))
            else:
                groups[_group_of(request)].append((asked, request))

        for kind, group in groups.items():
            key = _message_key(kind, customer.id, local_day)
            message = await self._message(key)
            if message is not None and message.batch_ref == _batch_ref():
                # An earlier attempt of this batch wrote it: it says what applies now, or it
                # goes, unless its delivery has begun.
                message = await self._recompose(message, people, group, invoices, local_day)
            if not group:
                continue
            if message is not None and message.batch_ref != _batch_ref():
                if kind == CALL:
                    # Today's call task for this customer is already open: it covers these too.
                    result.outcomes += [_answered(a, r, message, invoices) for a, r in group]
                else:
                    next_day = local_day + timedelta(days=1)
                    result.retry_on = next_day.isoformat()
                    result.retry_at = wall_time_to_utc(
                        next_day, time(0), window.timezone
                    ).isoformat()
                    result.retry_reason = "the customer already had a reminder today"
                continue
            if message is None:
                message = await self._compose(key, batch, people, group, invoices, local_day)
            message = await self._delivery.deliver(message, people.organisation)
            result.outcomes += [_answered(a, r, message, invoices) for a, r in group]
        return result

    async def _begun(self, customer_id: int, day: date, groups: dict) -> set[str]:
        """The groups whose message an earlier attempt of this batch began to deliver. One it
        wrote and still holds (a claim not yet lapsed) is waited for: once the claim lapses,
        this attempt recomposes it to what applies."""
        begun = set()
        for kind in groups:
            message = await self._message(_message_key(kind, customer_id, day))
            if message is None or message.batch_ref != _batch_ref():
                continue
            if message.status != MessageStatus.QUEUED:
                begun.add(kind)
            elif message.claimed_until and message.claimed_until > utcnow():
                raise ApplicationError(
                    f"message {message.id} is held by an earlier attempt of this batch",
                    type="DeliveryInProgress",
                    next_retry_delay=message.claimed_until - utcnow() + timedelta(seconds=1),
                )
        return begun

    async def _hand_over_check(
        self, asked: ReminderRequest, invoice: Invoice | None, at: datetime
    ) -> tuple[ReminderRequest, str, bool]:
        """The request as it applies at the moment of sending, or why nothing may be sent for
        its invoice (and whether that is the chase's hold). The ledger speaks for the invoice;
        the chase speaks for itself (paused, disputed, promised, stopped, a payment waiting...)
        and for which step applies now."""
        if invoice is None:
            return asked, "the invoice is gone", False
        reason = why_not_chase_in_ledger(invoice)
        if reason:
            return asked, reason, False
        chase = activity.client().get_workflow_handle(asked.chase_workflow_id)
        check = HandOverCheck(asked.send_key, at.isoformat(), invoice_facts(invoice))
        try:
            for pause in STARTING_CHASE_PAUSES:
                answer = await chase.query(
                    "hand_over", check, result_type=HandOverAnswer, rpc_timeout=QUERY_TIMEOUT
                )
                if not answer.starting:
                    break
                await asyncio.sleep(pause)
        except WorkflowQueryFailedError:
            # A chase that does not know the question (a worker older than the check is still
            # running it): judge by its mirror in the database, as before.
            return asked, why_not_chase(invoice, at.date()), False
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return asked, "the invoice's chase has ended", True
            raise
        if answer.starting:  # still reading its plan: judge by its mirror, as an old chase
            return asked, why_not_chase(invoice, at.date()), False
        if answer.reason:
            return asked, answer.reason, True
        if answer.request is not None:
            answer.request.urgent = asked.urgent
            return answer.request, "", False
        return asked, "", False

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

    async def _reread(self, invoice_ids: list[int], sending_at: datetime) -> dict[int, Invoice]:
        """The invoices as the ledger holds them now: from a sync of their connection that
        began at most DUELY_LEDGER_FRESH_MINUTES before sending (one for every outbox sending
        meanwhile), or else read by id, one batch call per connection."""
        async with self._db.session() as session:
            rows = list(await session.exec(select(Invoice).where(col(Invoice.id).in_(invoice_ids))))
            connection_ids = {row.connection_id for row in rows if row.connection_id}
            connections = [await session.get(Connection, cid) for cid in connection_ids]
        moment = sending_at - timedelta(minutes=self._settings.ledger_fresh_minutes)
        for connection in connections:
            fresh = self._freshness.synced_since(
                activity.client(), connection, moment, SYNC_PATIENCE_SECONDS
            )
            if await unless_worker_stops(fresh, "the customer's reminders"):
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
        group: list[tuple[ReminderRequest, ReminderRequest]],
        invoices: dict[int, Invoice],
        today: date,
    ) -> Message:
        message = Message(
            organisation_id=people.organisation.id,
            customer_id=people.customer.id,
            kind=MessageKind.REMINDER,
            unique_key=key,
            batch_ref=_batch_ref(),
            created_at=datetime.fromisoformat(batch.sending_at),
        )
        await self._fill(message, people, [r for _, r in group], invoices, today)
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

    async def _recompose(
        self,
        message: Message,
        people: _Customer,
        group: list[tuple[ReminderRequest, ReminderRequest]],
        invoices: dict[int, Invoice],
        today: date,
    ) -> Message | None:
        """An earlier attempt of this batch wrote the message and did not send it: it now
        covers exactly what passed this attempt's check (and goes if nothing did). One whose
        delivery has begun is left to finish."""
        now = utcnow()
        if message.status != MessageStatus.QUEUED or (
            message.claimed_until and message.claimed_until > now
        ):
            return message
        async with self._db.session() as session:
            row = await session.get(Message, message.id)
            if not group:
                await session.delete(row)
                await session.commit()
                return None
            await self._fill(row, people, [r for _, r in group], invoices, today)
            session.add(row)
            await session.commit()
            await session.refresh(row)
            return row

    async def _fill(
        self,
        message: Message,
        people: _Customer,
        group: list[ReminderRequest],
        invoices: dict[int, Invoice],
        today: date,
    ) -> None:
        """The message's channel, recipients and words for these requests, as things are."""
        # The most advanced step speaks for the batch: its template, channel and recipients.
        lead = max(group, key=lambda r: r.offset_days)
        escalate = any(r.recipient_kind == ContactKind.ESCALATED for r in group)
        customer = people.customer
        contacts = [c for c in people.contacts if c.kind == ContactKind.NORMAL or escalate]
        channel = lead.channel
        if channel == Channel.SMS:
            recipients = [c.phone for c in contacts if c.phone]
        elif channel == Channel.EMAIL:
            recipients = [c.email for c in contacts if c.email]
        else:
            recipients = []
        lines = [invoices[r.invoice_id] for r in group]
        refused = ""
        try:
            message.subject, message.body = await self._text(lead, people, lines, today)
        except TemplateTooLarge as error:  # it would be as large at every retry: fail it now
            message.subject, message.body, refused = lead.step_label, "", str(error)
        message.channel = channel
        message.recipients = ", ".join(recipients)
        message.status = (
            MessageStatus.OPEN if channel == Channel.CALL_TASK else MessageStatus.QUEUED
        )
        message.error = ""
        if channel != Channel.CALL_TASK and not recipients:
            what = "a phone number" if channel == Channel.SMS else "an email address"
            message.status = MessageStatus.FAILED
            message.error = f"{customer.name} has no contact with {what}"
        if refused:
            message.status, message.error = MessageStatus.FAILED, refused

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
            credit = await credit_by_currency(session, organisation.id, customer.id)
        secret = self._settings.resolved_secret_key
        target = LinkTarget(organisation.id, customer.id)
        payment_link = link(self._settings.public_url, secret, PORTAL, target)
        if template is None:
            raise ApplicationError(
                f"the step {lead.step_label!r} has no template", non_retryable=True
            )
        person = next((c for c in people.contacts if c.kind == ContactKind.NORMAL), None)
        if ONLINE_URL in template.subject + template.body:  # only a template that links it
            invoices = await with_online_links(self._db, self._ledgers, invoices)
        context = context_for(organisation, customer, person, invoices, payment_link, today, credit)
        rendered = await asyncio.to_thread(render, template.subject, template.body, context)
        if lead.channel == Channel.SMS:
            # A text is the subject line and the link; the carrier handles STOP.
            return (
                rendered.subject,
                f"{rendered.subject}. Pay here: {payment_link} Reply STOP to opt out.",
            )
        unsubscribe = link(self._settings.public_url, secret, UNSUBSCRIBE, target)
        footer = f"\n\n--\nTo stop receiving these reminders: {unsubscribe}"
        return rendered.subject, rendered.body + footer


URGENT, REMINDER, CALL = "urgent", "reminder", "call"
"""How requests share messages: a person's "send now" goes alone and past the one-a-day cap;
scheduled reminders share the customer's one message of the day; call tasks share one task."""
QUERY_TIMEOUT = timedelta(seconds=10)
SYNC_PATIENCE_SECONDS = 60
"""How long a batch waits for the connection's fresh sync before reading its invoices by id."""
STARTING_CHASE_PAUSES = (0.1, 0.3, 1, 2, 0)
"""A chase that has just continued as new answers once it has read its plan (a moment)."""


def _group_of(request: ReminderRequest) -> str:
    if request.channel == Channel.CALL_TASK:
        return CALL
    return URGENT if request.urgent else REMINDER


def _message_key(group: str, customer_id: int, local_day: date) -> str:
    """The message's unique key: one reminder and one call task per customer and local day;
    a person's "send now" is its own message, keyed by this attempt's batch."""
    if group == URGENT:
        digest = hashlib.sha256(_batch_ref().encode()).hexdigest()[:16]
        return f"reminder:{customer_id}:{local_day.isoformat()}:now:{digest}"
    return f"{group}:{customer_id}:{local_day.isoformat()}"


def _batch_ref() -> str:
    info = activity.info()
    return f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"


def _dropped(
    request: ReminderRequest, reason: str, invoice: Invoice | None = None, held: bool = False
) -> ReminderOutcome:
    return ReminderOutcome(
        invoice_id=request.invoice_id,
        send_key=request.send_key,
        verdict=Verdict.DROPPED,
        detail=f"{request.step_label} not sent: {reason}",
        invoice=invoice_facts(invoice) if invoice else None,
        held=held,
    )


def _answered(
    asked: ReminderRequest,
    request: ReminderRequest,
    message: Message,
    invoices: dict[int, Invoice],
) -> ReminderOutcome:
    """The outcome of `asked`, which went out as `request` (a later step, when one had come
    due by the time of sending)."""
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
        replaced=asked.send_key if asked.send_key != request.send_key else "",
    )
