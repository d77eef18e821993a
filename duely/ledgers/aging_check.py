"""duely checks its own receivables against the ledger's: for the customers who owe the most,
what duely's mirror says they owe (open invoices, less their credit) must equal what the
ledger's own aged receivables report says. A difference is an alert on the integration-health
page: a sync that missed a change, or a mapping that reads the ledger wrong.

A customer whose invoices changed in the ledger since the last sync is left for the next check
(the mirror has not caught up yet, so a difference would be a false alarm).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.money import format_money
from duely.integrations.ledgers.base import Ledger, LedgerError
from duely.integrations.ledgers.connections import Ledgers
from duely.models import (
    Alert,
    Connection,
    ConnectionStatus,
    Customer,
    Invoice,
    InvoiceStatus,
    Organisation,
    saved_id,
)
from duely.receivables.queries import organisation_today

log = logging.getLogger(__name__)

CUSTOMERS_PER_CONNECTION = 25
"""Checked per connection per round, those owing the most first: one report call each."""
ALERT_KIND = "aging_mismatch"


@dataclass
class AgingChecked:
    checked: int = 0
    left_for_later: int = 0
    mismatched: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Owing:
    customer_id: int
    name: str
    contact: str
    currency: str
    due: int


async def check_aging(db: Database, ledgers: Ledgers) -> AgingChecked:
    done = AgingChecked()
    async with db.session() as session:
        connections = list(
            await session.exec(
                select(Connection).where(Connection.status != ConnectionStatus.NEEDS_RECONNECT)
            )
        )
    for connection in connections:
        try:
            await _check_connection(db, ledgers, connection, done)
        except (LedgerError, NotImplementedError) as trouble:
            done.problems.append(f"connection {connection.id}: {trouble}")
    return done


async def _check_connection(
    db: Database, ledgers: Ledgers, connection: Connection, done: AgingChecked
) -> None:
    ledger = ledgers.open(connection)
    async with db.session() as session:
        organisation = await session.get(Organisation, connection.organisation_id)
        owing = await _most_owing(session, connection)
    if organisation is None or not owing:
        return
    today = organisation_today(organisation)
    moving = await _changed_since_sync(ledger, connection.sync_watermark)
    credit: dict[tuple[str, str], int] = defaultdict(int)
    for open_credit in await ledger.open_credit():
        credit[(open_credit.contact_external_id.lower(), open_credit.currency)] += (
            open_credit.remaining
        )
    for customer in owing:
        if customer.contact.lower() in moving:
            done.left_for_later += 1
            continue
        ours = customer.due - credit[(customer.contact.lower(), customer.currency)]
        theirs = await ledger.owed_by(customer.contact, today, customer.currency)
        done.checked += 1
        if ours != theirs:
            done.mismatched.append(customer.name)
            detail = (
                f"{customer.name} owes {format_money(ours, customer.currency)} net of credit "
                f"in duely, but {format_money(theirs, customer.currency)} in the ledger's aged "
                f"receivables report on {today:%d %b %Y}. Run a sync; if it stays, tell us."
            )
            await _alert(db, connection.organisation_id, customer, today.isoformat(), detail)


async def _most_owing(session: AsyncSession, connection: Connection) -> list[_Owing]:
    """Customers with open invoices in one currency only (a report is in one currency), most
    owed first."""
    rows = await session.exec(
        select(
            Customer,
            func.min(Invoice.currency),
            func.max(Invoice.currency),
            func.sum(Invoice.amount_due),
        )
        .join(Invoice, col(Invoice.customer_id) == col(Customer.id))
        .where(
            Invoice.connection_id == connection.id,
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.amount_due > 0,
        )
        .group_by(col(Customer.id))
        .order_by(func.sum(Invoice.amount_due).desc())
    )
    single_currency = [
        _Owing(saved_id(customer), customer.name, customer.external_id, lowest, int(due))
        for customer, lowest, highest, due in rows
        if lowest == highest
    ]
    return single_currency[:CUSTOMERS_PER_CONNECTION]


async def _changed_since_sync(ledger: Ledger, watermark: datetime | None) -> set[str]:
    """Contacts (lower-case ids) with an invoice changed in the ledger after the last sync."""
    if watermark is None:
        return set()
    moving: set[str] = set()
    async for page in ledger.changed_invoices(watermark):
        moving |= {
            invoice.contact_external_id.lower()
            for invoice in page.items
            if invoice.updated_at and invoice.updated_at > watermark  # not the re-read second
        }
    return moving


async def _alert(
    db: Database, organisation_id: int, customer: _Owing, day: str, detail: str
) -> None:
    """One alert per customer per day: a difference that lasts is not repeated each round."""
    async with db.session() as session:
        session.add(
            Alert(
                organisation_id=organisation_id,
                key=f"{ALERT_KIND}:{customer.customer_id}:{day}",
                kind=ALERT_KIND,
                detail=detail,
            )
        )
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
