"""The activity of StatementRunWorkflow: send this month's statement to every customer of an
organisation that owes something, through the same outbox and delivery as reminders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import select
from temporalio import activity

from duely.activities.heartbeat import hand_over_if_worker_stops
from duely.chase.eligibility import customer_off_reason
from duely.core.db import Database
from duely.core.links import PORTAL, LinkTarget, link
from duely.models import (
    Channel,
    Customer,
    Invoice,
    InvoiceStatus,
    Message,
    MessageKind,
    Organisation,
)
from duely.outbox.delivery import Delivery
from duely.outbox.messages import contacts_of, email_addresses, keep_email_once, message_by_key
from duely.outbox.opt_outs import channel_opt_out_reason
from duely.receivables.credit import credit_by_currency
from duely.reminders.rendering import InvoiceLine
from duely.settings import Settings
from duely.statements.statement import statement_body, statement_subject


@dataclass
class StatementRun:
    organisation_id: int
    local_day: str
    """The statement date in the organisation's zone (ISO)."""
    sending_at: str


@dataclass
class StatementsSent:
    sent: int = 0
    skipped: int = 0


class StatementActivities:
    def __init__(self, settings: Settings, db: Database, delivery: Delivery) -> None:
        self._settings = settings
        self._db = db
        self._delivery = delivery

    @activity.defn
    async def send_statements(self, run: StatementRun) -> StatementsSent:
        """One statement per owing customer a month: the unique key (customer + month) makes
        a retried or repeated run send none twice. Heartbeats its position to resume."""
        details = activity.info().heartbeat_details
        after = details[0] if details else 0
        result = StatementsSent()
        async with self._db.session() as session:
            organisation = await session.get(Organisation, run.organisation_id)
            owing = list(
                await session.exec(
                    select(Customer)
                    .where(
                        Customer.organisation_id == organisation.id,
                        Customer.id > after,
                        Customer.id.in_(
                            select(Invoice.customer_id).where(
                                Invoice.organisation_id == organisation.id,
                                Invoice.status == InvoiceStatus.OPEN,
                                Invoice.amount_due > 0,
                            )
                        ),
                    )
                    .order_by(Customer.id)
                )
            )
        for customer in owing:
            # After the customer in hand, not in the middle of a send (the drain's business).
            hand_over_if_worker_stops("the statement run")
            message = await self._statement(organisation, customer, run)
            if message is None:
                result.skipped += 1
            else:
                await self._delivery.deliver(message, organisation)
                result.sent += 1
            activity.heartbeat(customer.id)
        return result

    async def _statement(
        self, organisation: Organisation, customer: Customer, run: StatementRun
    ) -> Message | None:
        if customer_off_reason(organisation, customer) or channel_opt_out_reason(
            customer, Channel.EMAIL
        ):
            return None
        day = date.fromisoformat(run.local_day)
        key = f"statement:{customer.id}:{day:%Y-%m}"
        async with self._db.session() as session:
            existing = await message_by_key(session, key)
            if existing:
                return existing  # delivery resumes it, or leaves it as it is
            contacts = await contacts_of(session, customer)
            credit = await credit_by_currency(session, organisation.id, customer.id)
            invoices = list(
                await session.exec(
                    select(Invoice).where(
                        Invoice.customer_id == customer.id,
                        Invoice.status == InvoiceStatus.OPEN,
                        Invoice.amount_due > 0,
                    )
                )
            )
            portal = link(
                self._settings.public_url,
                self._settings.resolved_secret_key,
                PORTAL,
                LinkTarget(organisation.id, customer.id),
            )
            message = Message(
                organisation_id=organisation.id,
                customer_id=customer.id,
                channel=Channel.EMAIL,
                kind=MessageKind.STATEMENT,
                unique_key=key,
                recipients=email_addresses(contacts),
                subject=statement_subject(organisation.name, customer.name, day),
                body=statement_body(
                    customer.name,
                    contacts[0].first_name if contacts else "",
                    [
                        InvoiceLine(i.number, i.due_date, i.currency, i.total, i.amount_due)
                        for i in invoices
                    ],
                    portal,
                    organisation.sender,
                    day,
                    credit,
                ),
                created_at=datetime.fromisoformat(run.sending_at),
            )
            return await keep_email_once(session, message, customer)
