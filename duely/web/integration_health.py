"""What needs a person in duely's integrations, read once for the pages and the JSON API:
the payments list, ledger connections in trouble, card payments held out of the ledger by a
configuration problem (with what to do), ledger writes that keep failing through an outage,
unmatched payments, webhook deliveries not yet dispatched, and unseen alerts.

A configuration problem (no ledger account for card payments, a grant revoked, a contact
archived) is a person's to fix; an outage (the ledger down or busy) passes by itself. The
two are shown apart: a pending payment's `reason` holds what to do when it is the former.

Every query is scoped by organisation. The only rows shown beyond it are webhook deliveries
not yet matched to any organisation (`organisation_id` NULL): until one is matched, nobody
else would ever see that it is stuck.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from duely.models import (
    Alert,
    Connection,
    ConnectionStatus,
    Invoice,
    Payment,
    PaymentStatus,
    WebhookEvent,
    utcnow,
)
from duely.receivables.queries import customer_names

T = TypeVar("T")

PAYMENT_STATUSES = [status.value for status in PaymentStatus]
ITEMS_SHOWN = 50
"""Each health section lists at most this many rows (its count is the full number)."""
UNMATCHED_MEANS = (
    "a payment duely could not place on an open invoice: already paid in the ledger, voided, "
    "or more than is due; nothing was written to the ledger"
)


class UnknownPaymentStatus(ValueError):
    def __init__(self, raw: str) -> None:
        super().__init__(
            f"unknown payment status {raw!r}: use one of {', '.join(PAYMENT_STATUSES)}"
        )


def payment_status(raw: str | None) -> str | None:
    """A status filter as given (None for "any"); UnknownPaymentStatus for anything else."""
    if raw is None or raw == "":
        return None
    if raw not in PAYMENT_STATUSES:
        raise UnknownPaymentStatus(raw)
    return raw


# --- payments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentFilters:
    """Which payments a list shows; None means "any"."""

    status: str | None = None
    customer_id: int | None = None
    invoice_id: int | None = None


def _newest_first(statement: SelectOfScalar[Payment]) -> SelectOfScalar[Payment]:
    return statement.order_by(col(Payment.created_at).desc(), col(Payment.id).desc())


def payments_query(org_id: int, filters: PaymentFilters) -> SelectOfScalar[Payment]:
    """The organisation's payments matching `filters`, newest first. An invoice's payments
    include unmatched ones that named it (they carry no `invoice_id`, only `invoice_ref`)."""
    statement = select(Payment).where(Payment.organisation_id == org_id)
    if filters.status:
        statement = statement.where(Payment.status == filters.status)
    if filters.customer_id is not None:
        statement = statement.where(Payment.customer_id == filters.customer_id)
    if filters.invoice_id is not None:
        statement = statement.where(
            or_(
                Payment.invoice_id == filters.invoice_id,
                and_(
                    col(Payment.invoice_id).is_(None),
                    Payment.invoice_ref == str(filters.invoice_id),
                ),
            )
        )
    return _newest_first(statement)


async def payment_counts(session: AsyncSession, org_id: int) -> dict[str, int]:
    """Payments per status (every status present, 0 when none), for the page's tabs."""
    statement = (
        select(Payment.status, func.count())
        .where(Payment.organisation_id == org_id)
        .group_by(Payment.status)
    )
    counts = dict.fromkeys(PAYMENT_STATUSES, 0)
    counts.update(dict((await session.exec(statement)).all()))
    return counts


@dataclass(frozen=True)
class PaymentRow:
    """A payment with the names a person reads: its invoice's number and its customer's name.

    `invoice` is the invoice the payment is on, or else the one it named (`invoice_ref`) when
    that is an invoice of the organisation: an unmatched payment still points at what it was for.
    """

    payment: Payment
    invoice: Invoice | None
    customer_id: int | None
    customer_name: str


async def invoices_by_id(
    session: AsyncSession, org_id: int, invoice_ids: Iterable[int | None]
) -> dict[int, Invoice]:
    """The organisation's invoices among `invoice_ids`, in one query (another organisation's
    id finds nothing)."""
    ids = {invoice_id for invoice_id in invoice_ids if invoice_id is not None}
    if not ids:
        return {}
    found = await session.exec(
        select(Invoice).where(Invoice.organisation_id == org_id, col(Invoice.id).in_(ids))
    )
    return {invoice.id: invoice for invoice in found}


def _named_invoice_id(payment: Payment) -> int | None:
    if payment.invoice_id is not None:
        return payment.invoice_id
    ref = payment.invoice_ref.strip()
    return int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 12 else None


async def payment_rows(
    session: AsyncSession, org_id: int, payments: list[Payment]
) -> list[PaymentRow]:
    """Two queries for the whole page, not two per payment."""
    invoices = await invoices_by_id(session, org_id, map(_named_invoice_id, payments))
    rows = []
    for payment in payments:
        named = _named_invoice_id(payment)
        invoice = invoices.get(named) if named is not None else None
        customer_id = payment.customer_id
        if customer_id is None and invoice is not None:
            customer_id = invoice.customer_id
        rows.append(PaymentRow(payment, invoice, customer_id, ""))
    names = await customer_names(session, org_id, {r.customer_id for r in rows if r.customer_id})
    return [
        PaymentRow(r.payment, r.invoice, r.customer_id, names.get(r.customer_id, "")) for r in rows
    ]


# --- integration health ----------------------------------------------------------------------


@dataclass
class Section(Generic[T]):
    """`count` rows need attention; `items` are the first ITEMS_SHOWN of them."""

    count: int = 0
    items: list[T] = field(default_factory=list)


@dataclass(frozen=True)
class ConnectionTrouble:
    kind: str
    """CONFIGURATION (a person must act) or OUTAGE (duely retries by itself)."""
    what_to_do: str


CONFIGURATION, OUTAGE = "configuration", "outage"


@dataclass
class Health:
    connections: Section[Connection]
    configuration_problems: Section[PaymentRow]
    """Payments a configuration problem keeps out of the ledger: a person must act."""
    failing_payments: Section[PaymentRow]
    """Payments an outage keeps out of the ledger for now: duely retries by itself."""
    unmatched_payments: Section[PaymentRow]
    webhooks: Section[WebhookEvent]
    alerts: Section[Alert]
    alert_invoices: dict[int, Invoice]
    """The invoices the shown alerts name, for their numbers and links."""
    connection_troubles: dict[int, ConnectionTrouble] = field(default_factory=dict)
    """Per shown connection: a configuration problem or an outage, and what to do."""

    @property
    def all_clear(self) -> bool:
        return not any(
            section.count
            for section in (
                self.connections,
                self.configuration_problems,
                self.failing_payments,
                self.unmatched_payments,
                self.webhooks,
                self.alerts,
            )
        )


async def _section(session: AsyncSession, statement: SelectOfScalar) -> Section:
    total = (
        await session.exec(select(func.count()).select_from(statement.order_by(None).subquery()))
    ).one()
    if not total:
        return Section()
    return Section(total, list((await session.exec(statement.limit(ITEMS_SHOWN))).all()))


def troubled_connections(org_id: int) -> SelectOfScalar[Connection]:
    return (
        select(Connection)
        .where(
            Connection.organisation_id == org_id,
            or_(Connection.status != ConnectionStatus.CONNECTED, Connection.last_error != ""),
        )
        .order_by(col(Connection.id))
    )


def _held_back(org_id: int) -> SelectOfScalar[Payment]:
    """Payments still waiting for their ledger write after at least one failed try."""
    return select(Payment).where(
        Payment.organisation_id == org_id,
        Payment.status == PaymentStatus.PENDING,
        Payment.attempts > 0,
    )


def configuration_problems(org_id: int) -> SelectOfScalar[Payment]:
    """Held back by a configuration problem: `reason` says what a person must do."""
    return _newest_first(_held_back(org_id).where(Payment.reason != ""))


def failing_payments(org_id: int) -> SelectOfScalar[Payment]:
    """Held back by an outage (the last try failed for a reason that passes by itself)."""
    return _newest_first(_held_back(org_id).where(Payment.reason == ""))


def connection_trouble(connection: Connection) -> ConnectionTrouble:
    """Whether a troubled connection needs a person, and what they should do."""
    ledger = connection.provider.title()
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        return ConnectionTrouble(
            CONFIGURATION,
            f"Reconnect {ledger} on the Connections page: duely's access was revoked or has "
            f"expired, so nothing is read from or written to {ledger} until then. Card "
            "payments received meanwhile wait in duely and go in by themselves within the "
            "hour after reconnecting.",
        )
    return ConnectionTrouble(
        OUTAGE,
        f"Nothing to do unless it goes on: duely tries {ledger} again by itself at the next sync.",
    )


def undispatched_webhooks(org_id: int) -> SelectOfScalar[WebhookEvent]:
    return (
        select(WebhookEvent)
        .where(
            col(WebhookEvent.processed_at).is_(None),
            or_(
                WebhookEvent.organisation_id == org_id,
                col(WebhookEvent.organisation_id).is_(None),
            ),
        )
        .order_by(col(WebhookEvent.received_at).desc(), col(WebhookEvent.id).desc())
    )


def unseen_alerts(org_id: int) -> SelectOfScalar[Alert]:
    return (
        select(Alert)
        .where(Alert.organisation_id == org_id, col(Alert.seen_at).is_(None))
        .order_by(col(Alert.created_at).desc(), col(Alert.id).desc())
    )


async def alerts_section(
    session: AsyncSession, org_id: int
) -> tuple[Section[Alert], dict[int, Invoice]]:
    """The unseen alerts, and the invoices they name (for their numbers and links)."""
    alerts = await _section(session, unseen_alerts(org_id))
    return alerts, await invoices_by_id(session, org_id, (a.invoice_id for a in alerts.items))


async def integration_health(session: AsyncSession, org_id: int) -> Health:
    configuration = await _section(session, configuration_problems(org_id))
    failing = await _section(session, failing_payments(org_id))
    unmatched = await _section(
        session, payments_query(org_id, PaymentFilters(status=PaymentStatus.UNMATCHED))
    )
    alerts, alert_invoices = await alerts_section(session, org_id)
    connections = await _section(session, troubled_connections(org_id))
    return Health(
        connections=connections,
        configuration_problems=Section(
            configuration.count, await payment_rows(session, org_id, configuration.items)
        ),
        failing_payments=Section(failing.count, await payment_rows(session, org_id, failing.items)),
        unmatched_payments=Section(
            unmatched.count, await payment_rows(session, org_id, unmatched.items)
        ),
        webhooks=await _section(session, undispatched_webhooks(org_id)),
        alerts=alerts,
        alert_invoices=alert_invoices,
        connection_troubles={c.id: connection_trouble(c) for c in connections.items},
    )


async def mark_alert_seen(
    session: AsyncSession, alert: Alert, when: datetime | None = None
) -> None:
    """Marking twice keeps the first time: that is when a person first dealt with it."""
    if alert.seen_at is None:
        alert.seen_at = when or utcnow()
        session.add(alert)
        await session.commit()
