"""What the invoice page's chase card, the chase controls, the JSON API and opt-outs
(duely/outbox/opt_outs.py) share: reaching the chase engine (Temporal) without letting an outage
break a page, the live view of an invoice's chase, a person's instructions checked before they are
sent, starting a chase, and switching chasing for a whole customer.

Web code talks to the chase workflows through `duely.chase.control`; this module adds the
time limits and turns "Temporal is down" into one exception, `ChaseEngineDown`, whose text a
person can read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from litestar.datastructures import State
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar
from temporalio.client import Client
from temporalio.service import RPCError

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.control import NotChasing as NotChasing  # web code imports it from here
from duely.chase.eligibility import customer_off_reason, should_chase
from duely.chase.state import ENDING, ChaseState, ChaseView, PlannedSendView
from duely.models import (
    Channel,
    Contact,
    Customer,
    Event,
    Invoice,
    InvoiceStatus,
    Message,
    MessageKind,
    MessageStatus,
    Organisation,
    Payment,
    PaymentStatus,
    Role,
    utcnow,
)
from duely.outbox.opt_outs import TellChases, channel_opt_out_reason
from duely.outbox.send_times import zone_named
from duely.web.auth import CurrentUser

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5
"""How long a page waits to connect to Temporal."""
LIVE_SECONDS = 7
"""How long a page waits for the live state (chase_control's query gives up after 5 s)."""
SIGNAL_SECONDS = 10
MAX_REASON = 500
MAX_DAYS_AHEAD = 5 * 366
"""A pause or a promise further away than this is a typing mistake."""
HOLDING_STATES = {ChaseState.PAUSED, ChaseState.PROMISED}
FORCEABLE_STATES = {ChaseState.SCHEDULED, ChaseState.QUEUED}
"""States in which "send next now" and "escalate now" have something to bring forward."""

ACTION_DONE = {
    Action.PAUSE: "Chasing paused.",
    Action.RESUME: "Chasing resumed.",
    Action.ESCALATE: "Escalated: the escalation step goes out as soon as the send window allows.",
    Action.SEND_NOW: "The next reminder goes out as soon as the send window allows.",
    Action.DISPUTE: "Dispute opened: chasing holds until it is resolved.",
    Action.RESOLVE_DISPUTE: "Dispute resolved: chasing carries on.",
    Action.PROMISE: "Promise to pay recorded.",
    Action.STOP: "Chasing stopped for this invoice.",
}


class ChaseEngineDown(Exception):
    """Temporal could not be reached, or did not answer in time; the text says which."""


class BadChaseInput(ValueError):
    """A person's instruction that cannot be sent as typed; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _reason(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "the chase engine (Temporal) did not answer in time"
    if isinstance(error, RPCError):
        return error.message or error.status.name.lower().replace("_", " ")
    return str(error) or type(error).__name__


@contextlib.asynccontextmanager
async def chase_engine(state: State, seconds: float = SIGNAL_SECONDS) -> AsyncIterator[Client]:
    """The Temporal client, for calls that must finish within `seconds`; any failure to
    reach Temporal (connecting, an RPC error, a time-out) comes out as ChaseEngineDown.
    NotChasing and other errors pass through unchanged."""
    try:
        async with asyncio.timeout(seconds):
            async with asyncio.timeout(CONNECT_SECONDS):
                client = await state.temporal()
            yield client
    except (RPCError, RuntimeError, OSError, TimeoutError) as error:
        # RuntimeError is what a failed connect raises ("Failed client connect: ...").
        log.warning("chase engine unreachable: %s", _reason(error))
        raise ChaseEngineDown(_reason(error)) from error


# --- the live view -----------------------------------------------------------------------------


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _send_label(send: PlannedSendView) -> str:
    """The step's label, and which repeat of it this is (the key is "step.repeat")."""
    _, _, repeat = send.key.rpartition(".")
    if repeat.isdigit() and int(repeat) > 0:
        return f"{send.label}, repeat {repeat}"
    return send.label


@dataclass(frozen=True)
class SendRow:
    label: str
    channel: str
    at: datetime
    status: str
    """"done", "passed over", "queued" or "planned"."""


@dataclass(frozen=True)
class LiveChase:
    """A ChaseView with its instants and days parsed, for templates."""

    state: str
    reason: str
    next_send_at: datetime | None
    next_step: str
    paused_until: date | None
    promised_until: date | None
    disputed: bool
    sends: list[SendRow]

    @classmethod
    def of(cls, view: ChaseView) -> LiveChase:
        return cls(
            state=view.state,
            reason=view.reason,
            next_send_at=_instant(view.next_send_at),
            next_step=view.next_step,
            paused_until=_day(view.paused_until),
            promised_until=_day(view.promised_until),
            disputed=view.disputed,
            sends=[
                SendRow(_send_label(s), s.channel, _instant(s.at), s.status) for s in view.sends
            ],
        )

    @property
    def ended(self) -> bool:
        return self.state in ENDING

    @property
    def held(self) -> bool:
        """Paused or waiting for a promised payment: what Resume lifts."""
        return self.state in HOLDING_STATES

    @property
    def can_force(self) -> bool:
        return self.state in FORCEABLE_STATES and any(s.status == "planned" for s in self.sends)


async def live_view(state: State, invoice: Invoice) -> tuple[ChaseView | None, str]:
    """The chase's live state (None when no chase ever ran), and "" — or, when Temporal could
    not be asked, None and the reason."""
    try:
        async with chase_engine(state, LIVE_SECONDS) as client:
            return await chase_control.view(client, invoice), ""
    except ChaseEngineDown as down:
        return None, str(down)


def needs_live_view(invoice: Invoice) -> bool:
    """A closed invoice whose chase ended (or never ran) has nothing live to show: its page
    then needs no Temporal at all."""
    return invoice.status == InvoiceStatus.OPEN or (
        bool(invoice.chase_state) and invoice.chase_state not in ENDING
    )


# --- the chase card ----------------------------------------------------------------------------


def why_not_chased(organisation: Organisation, invoice: Invoice, customer: Customer) -> str:
    """Why no chase runs for the invoice, in a sentence."""
    if invoice.status == InvoiceStatus.PAID:
        return "The invoice is paid: there is nothing to chase."
    if invoice.status == InvoiceStatus.VOIDED:
        return "The invoice was voided: there is nothing to chase."
    if invoice.status != InvoiceStatus.OPEN:
        return f"{invoice.status.capitalize()} invoices are not chased."
    if invoice.amount_due <= 0:
        return "Nothing is due on this invoice."
    if not invoice.chasing_enabled:
        return "Chasing is switched off for this invoice."
    off = customer_off_reason(organisation, customer)
    if off:
        return f"Not chased: {off}."
    return "Not started yet — it starts with the next sync."


@dataclass(frozen=True)
class ChaseCard:
    """What the invoice page's Chase card shows, and which controls it offers."""

    live: LiveChase | None
    unavailable: str
    """Why the live state could not be read ("" when it was)."""
    mirrored_state: str
    """The last state the chase wrote to the database, shown when the live one is out of reach."""
    why_not: str
    """Why no chase runs, when none does."""
    can_act: bool
    can_start: bool
    start_label: str
    today: date
    """The organisation's today: the earliest day a promise may name."""

    @property
    def running(self) -> bool:
        return self.live is not None and not self.live.ended

    @property
    def tomorrow(self) -> date:
        return self.today + timedelta(days=1)

    @property
    def latest_day(self) -> date:
        return self.today + timedelta(days=MAX_DAYS_AHEAD)


async def chase_card(
    state: State,
    organisation: Organisation,
    invoice: Invoice,
    customer: Customer,
    user: CurrentUser,
    today: date,
) -> ChaseCard:
    view, unavailable = None, ""
    if needs_live_view(invoice):
        view, unavailable = await live_view(state, invoice)
    live = LiveChase.of(view) if view else None
    running = live is not None and not live.ended
    collector = user.has_role(Role.COLLECTOR)
    chaseable = invoice.status == InvoiceStatus.OPEN and invoice.amount_due > 0
    return ChaseCard(
        live=live,
        unavailable=unavailable,
        mirrored_state=invoice.chase_state,
        why_not="" if running else why_not_chased(organisation, invoice, customer),
        can_act=collector and running,
        can_start=collector and chaseable and not running and not unavailable,
        start_label="Start chasing" if not invoice.chasing_enabled else "Start chasing now",
        today=today,
    )


# --- a person's instructions -------------------------------------------------------------------


def clean_action_input(
    action: Action, reason: str | None, until: str | date | None, today: date
) -> tuple[str, str | None]:
    """The reason and the ISO day to send with `action`, checked against the organisation's
    today; raises BadChaseInput. `until` is the end of a pause (optional, a later day) or the
    promised payment date (required, today or later); other actions ignore it."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise BadChaseInput("reason", f"Keep the reason under {MAX_REASON} characters.")
    day = until if isinstance(until, date) else None
    raw = until.strip() if isinstance(until, str) else ""
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise BadChaseInput("until", f"“{raw[:40]}” is not a date: use YYYY-MM-DD.") from None
    if action not in (Action.PAUSE, Action.PROMISE):
        return reason, None
    if day is not None and day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise BadChaseInput("until", "Pick a date within the next five years.")
    if action == Action.PROMISE:
        if day is None:
            raise BadChaseInput("until", "Enter the date the customer promised to pay by.")
        if day < today:
            raise BadChaseInput(
                "until", f"That date has passed: pick {today.isoformat()} or later."
            )
    elif day is not None and day <= today:
        raise BadChaseInput(
            "until",
            "A pause ends on a later day: pick tomorrow or later, or leave the date empty to "
            "pause until someone resumes.",
        )
    return reason, day.isoformat() if day else None


async def act(
    state: State, invoice: Invoice, action: Action, by: str, reason: str, until: str | None
) -> None:
    """Send the instruction; raises chase_control.NotChasing or ChaseEngineDown."""
    async with chase_engine(state) as client:
        await chase_control.act(client, invoice, action, by=by, reason=reason, until=until)


FORCING = {Action.SEND_NOW, Action.ESCALATE}
"""Instructions that send at once, past the send window and the one-a-day cap."""


async def why_not_now(
    session: AsyncSession, invoice: Invoice, customer: Customer, view: ChaseView | None
) -> str:
    """Why "send next now" or "escalate now" cannot send anything, said at once on the page
    (the chase would only write it on the timeline); "" when it can."""
    if invoice.status != InvoiceStatus.OPEN or invoice.amount_due <= 0:
        return "Nothing was sent: the ledger shows nothing due on this invoice."
    if view is not None and view.state not in FORCEABLE_STATES:
        return f"Nothing was sent: {view.reason or view.state}."
    planned = [send for send in view.sends if send.status == "planned"] if view else []
    # A chase just started by a sync lists no sends until it has read its plan; it takes the
    # instruction then. Sends listed and none planned: they have all gone out.
    if view is not None and view.sends and not planned:
        return "Nothing was sent: every step of the schedule has gone out already."
    channel = planned[0].channel if planned else Channel.EMAIL
    opted_out = channel_opt_out_reason(customer, channel)
    if opted_out:
        return f"Nothing was sent: {opted_out}."
    if channel in (Channel.EMAIL, Channel.SMS):
        contacts = await session.exec(select(Contact).where(Contact.customer_id == customer.id))
        field = "email" if channel == Channel.EMAIL else "phone"
        if not any(getattr(contact, field) for contact in contacts):
            what = "an email address" if channel == Channel.EMAIL else "a phone number"
            return f"Nothing was sent: {customer.name} has no contact with {what}."
    return ""


async def reminded_today(
    session: AsyncSession, organisation: Organisation, customer: Customer
) -> Message | None:
    """The reminder the customer already had today (their local day), if any."""
    zone = zone_named(customer.timezone or organisation.timezone)
    now = utcnow()
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    query = (
        select(Message)
        .where(
            Message.customer_id == customer.id,
            Message.kind == MessageKind.REMINDER,
            Message.channel != Channel.CALL_TASK,
            col(Message.status).in_((MessageStatus.SENT, MessageStatus.UNCERTAIN)),
            col(Message.sent_at) >= midnight.astimezone(UTC),
        )
        .order_by(col(Message.sent_at).desc())
    )
    return (await session.exec(query)).first()


@dataclass
class ForcingCheck:
    """What "send next now" or "escalate now" meets before it is sent to the chase."""

    refused: str = ""
    """Why nothing can be sent now; "" when something can."""
    question: str = ""
    """Asked when the customer already had a reminder today; "" when there is none."""


async def check_forcing(
    state: State,
    session: AsyncSession,
    organisation: Organisation,
    invoice: Invoice,
    confirmed: bool,
) -> ForcingCheck:
    """Said at once to the person (the chase would only write it on the timeline)."""
    customer = await session.get(Customer, invoice.customer_id)
    view, _ = await live_view(state, invoice)
    refused = await why_not_now(session, invoice, customer, view)
    if refused or confirmed:
        return ForcingCheck(refused=refused)
    last = await reminded_today(session, organisation, customer)
    if last is None:
        return ForcingCheck()
    zone = zone_named(customer.timezone or organisation.timezone)
    return ForcingCheck(
        question=f"{customer.name} already had a reminder today, at "
        f"{last.sent_at.astimezone(zone):%H:%M} (“{last.subject}”). Send another one now?"
    )


async def start_chasing(state: State, session: AsyncSession, invoice: Invoice) -> None:
    """Switch chasing on for the invoice and start (or re-plan) its chase. Nothing is written
    when Temporal is out of reach (ChaseEngineDown)."""
    async with chase_engine(state) as client:
        invoice.chasing_enabled = True
        session.add(invoice)
        await session.commit()
        await chase_control.tell_chase(client, state.settings.temporal_task_queue, invoice)


# --- a whole customer --------------------------------------------------------------------------


async def open_invoices(session: AsyncSession, customer: Customer) -> list[Invoice]:
    statement = (
        select(Invoice)
        .where(
            Invoice.organisation_id == customer.organisation_id,
            Invoice.customer_id == customer.id,
            Invoice.status == InvoiceStatus.OPEN,
        )
        .order_by(col(Invoice.id))
    )
    return list((await session.exec(statement)).all())


async def customer_plan_changed(state: State, session: AsyncSession, customer: Customer) -> str:
    """The customer's schedule changed: its running chases re-read their plan. Best effort:
    a chase also re-reads its plan each time it wakes to send. Returns a warning, or ""."""
    invoices = await open_invoices(session, customer)
    try:
        async with chase_engine(state, SIGNAL_SECONDS + len(invoices)) as client:
            await chase_control.chasing_changed(client, invoices)
    except ChaseEngineDown as down:
        return str(down)
    return ""


async def switch_customer_chasing(
    state: State, session: AsyncSession, customer: Customer, enabled: bool
) -> str:
    """Switch chasing for every invoice of the customer, then tell their chases: running ones
    re-plan, and switching on starts the chase of each open invoice that has none.

    Switching off always holds (the outbox re-checks the switch before every send), so a
    Temporal outage only delays what the chases show: the reason comes back as a warning.
    Switching on needs Temporal: out of reach, nothing is written and ChaseEngineDown is
    raised; when it fails half-way, the switch is saved and the reason is raised, so that
    asking again finishes the job."""
    if enabled:
        async with chase_engine(state):
            pass  # refuse before writing anything if Temporal is out of reach
    customer.chasing_enabled = enabled
    session.add(customer)
    await session.commit()
    invoices = await open_invoices(session, customer)
    try:
        async with chase_engine(state, SIGNAL_SECONDS + len(invoices)) as client:
            for invoice in invoices:
                if await chase_control.is_running(client, invoice):
                    await chase_control.chasing_changed(client, [invoice])
                elif enabled and should_chase(invoice):
                    await chase_control.tell_chase(
                        client, state.settings.temporal_task_queue, invoice
                    )
    except ChaseEngineDown as down:
        if enabled:
            raise
        return str(down)
    return ""


# --- the outbox --------------------------------------------------------------------------------

OUTBOX_STATUSES = [status.value for status in MessageStatus]
OUTBOX_CHANNELS = [channel.value for channel in Channel]
OUTBOX_KINDS = [kind.value for kind in MessageKind]
TROUBLED = {MessageStatus.FAILED.value, MessageStatus.UNCERTAIN.value}
"""Messages a person must look at: refused, or perhaps sent during a crash."""


@dataclass(frozen=True)
class OutboxFilters:
    """Which messages a list shows; None means "any"."""

    status: str | None = None
    channel: str | None = None
    kind: str | None = None
    customer_id: int | None = None


def outbox_query(org_id: int, filters: OutboxFilters) -> SelectOfScalar[Message]:
    """The organisation's messages matching `filters`, newest first."""
    statement = (
        select(Message)
        .where(Message.organisation_id == org_id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
    )
    if filters.status:
        statement = statement.where(Message.status == filters.status)
    if filters.channel:
        statement = statement.where(Message.channel == filters.channel)
    if filters.kind:
        statement = statement.where(Message.kind == filters.kind)
    if filters.customer_id is not None:
        statement = statement.where(Message.customer_id == filters.customer_id)
    return statement


class NotACallTask(Exception):
    """Only an open call task can be marked done."""


async def mark_done(session: AsyncSession, message: Message, by: str) -> None:
    """A person made the call: the call task is done (again is fine), and the timeline of
    each invoice it was about says who did it."""
    if message.channel != Channel.CALL_TASK or message.status not in (
        MessageStatus.OPEN,
        MessageStatus.DONE,
    ):
        raise NotACallTask("Only an open call task can be marked done.")
    if message.status == MessageStatus.DONE:
        return
    message.status = MessageStatus.DONE
    session.add(message)
    invoice_ids = (
        await session.exec(
            select(Event.invoice_id)
            .where(Event.organisation_id == message.organisation_id)
            .where(Event.message_id == message.id)
            .distinct()
        )
    ).all()
    session.add_all(
        Event(
            organisation_id=message.organisation_id,
            invoice_id=invoice_id,
            kind="call_done",
            detail=f"call task done by {by}",
            message_id=message.id,
        )
        for invoice_id in invoice_ids
    )
    await session.commit()


async def retry_waiting_payments(state: State, session: AsyncSession, organisation_id: int) -> None:
    """After a person changed what places card payments (the account for them, the ledger
    connection): the chases holding payments the ledger refused try again now. If Temporal
    cannot be reached they try again within the hour anyway."""
    invoices = list(
        await session.exec(
            select(Invoice)
            .join(Payment, col(Payment.invoice_id) == col(Invoice.id))
            .where(
                Payment.organisation_id == organisation_id,
                Payment.status == PaymentStatus.PENDING,
            )
            .distinct()
        )
    )
    if not invoices:
        return
    try:
        async with chase_engine(state, SIGNAL_SECONDS + len(invoices)) as client:
            await chase_control.retry_payments(client, invoices)
    except ChaseEngineDown as down:
        log.warning("waiting payments were not told to try again now (%s)", down)


def tell_chases(state: State) -> TellChases:
    """How an opt-out changed from a request tells the customers' running chases (signal
    `chasing_changed`): best effort, with a warning logged when Temporal is out of reach."""

    async def tell(session: AsyncSession, customers: list[Customer]) -> str:
        invoices = [
            invoice for customer in customers for invoice in await open_invoices(session, customer)
        ]
        if not invoices:
            return ""
        try:
            async with chase_engine(state, SIGNAL_SECONDS + len(invoices)) as client:
                await chase_control.chasing_changed(client, invoices)
        except ChaseEngineDown as down:
            log.warning(
                "opt-out changed for customers %s, but their chases were not told (%s): the "
                "outbox re-checks it before sending",
                [customer.id for customer in customers],
                down,
            )
            return str(down)
        return ""

    return tell
