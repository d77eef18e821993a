"""What the organisation is owed, queried in one place for the JSON API and the pages alike.

Every function is scoped by an organisation id. Aging is computed against "today" in the
organisation's time zone (DESIGN section 2), with the buckets of `duely.aging`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from duely.models import Contact, Customer, Event, Invoice, InvoiceStatus, Organisation
from duely.receivables.aging import BUCKET_NAMES, bucket_of, days_overdue, due_date_range

Bucket = Literal["current", "1-30", "31-60", "61-90", "90+"]


# ISO 4217 minor units that are not 2; every other currency has 2 decimals.
def organisation_today(organisation: Organisation) -> date:
    """Today's date where the organisation is: aging and "days overdue" count from it."""
    return datetime.now(ZoneInfo(organisation.timezone)).date()


# --- invoices --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFilters:
    """Which invoices a list shows; None means "any"."""

    status: str | None = None
    bucket: str | None = None
    """An aging bucket name from `duely.receivables.aging.BUCKET_NAMES`."""
    customer_id: int | None = None
    q: str | None = None
    """Part of the invoice number or of the customer's name, case-insensitive."""
    currency: str | None = None


def invoices_query(org_id: int, filters: InvoiceFilters, today: date) -> SelectOfScalar[Invoice]:
    """The organisation's invoices matching `filters`, oldest due date first."""
    statement = (
        select(Invoice)
        .where(Invoice.organisation_id == org_id)
        .order_by(Invoice.due_date, Invoice.id)
    )
    if filters.status:
        statement = statement.where(Invoice.status == filters.status)
    if filters.customer_id is not None:
        statement = statement.where(Invoice.customer_id == filters.customer_id)
    if filters.currency:
        statement = statement.where(Invoice.currency == filters.currency)
    if filters.bucket:
        earliest, latest = due_date_range(filters.bucket, today)
        if earliest:
            statement = statement.where(Invoice.due_date >= earliest)
        if latest:
            statement = statement.where(Invoice.due_date <= latest)
    if filters.q:
        customers = select(Customer.id).where(
            Customer.organisation_id == org_id, col(Customer.name).icontains(filters.q)
        )
        statement = statement.where(
            or_(col(Invoice.number).icontains(filters.q), col(Invoice.customer_id).in_(customers))
        )
    return statement


@dataclass(frozen=True)
class InvoiceAging:
    bucket: str
    days_overdue: int


def invoice_aging(invoice: Invoice, today: date) -> InvoiceAging:
    return InvoiceAging(bucket_of(invoice.due_date, today), days_overdue(invoice.due_date, today))


async def invoice_timeline(
    session: AsyncSession, invoice: Invoice, newest_first: bool = False
) -> list[Event]:
    """The invoice's events in time order (or reversed for people reading the latest first)."""
    order = (
        (col(Event.occurred_at).desc(), col(Event.id).desc())
        if newest_first
        else (col(Event.occurred_at), col(Event.id))
    )
    statement = (
        select(Event)
        .where(Event.organisation_id == invoice.organisation_id, Event.invoice_id == invoice.id)
        .order_by(*order)
    )
    return list((await session.exec(statement)).all())


async def count_invoices(session: AsyncSession, org_id: int) -> int:
    """Every invoice of the organisation, whatever its state ("none yet" versus "none match")."""
    statement = select(func.count()).select_from(Invoice).where(Invoice.organisation_id == org_id)
    return (await session.exec(statement)).one()


async def invoice_currencies(session: AsyncSession, org_id: int) -> list[str]:
    """The currencies the organisation invoices in, A-Z."""
    # A DISTINCT reads every invoice of the organisation (100 ms at 100,000 of them); stepping
    # from each currency to the next larger one reads one entry of ix_invoices_currencies per
    # currency (neither database skips through an index by itself).
    first = (
        select(func.min(Invoice.currency).label("currency"))
        .where(Invoice.organisation_id == org_id)
        .cte("currencies", recursive=True)
    )
    following = select(
        select(func.min(Invoice.currency))
        .where(Invoice.organisation_id == org_id, Invoice.currency > first.c.currency)
        .scalar_subquery()
    ).where(first.c.currency.is_not(None))
    currencies = first.union_all(following)
    statement = (
        select(currencies.c.currency)
        .where(currencies.c.currency.is_not(None))
        .order_by(currencies.c.currency)
    )
    return list((await session.exec(statement)).all())


# --- customers -------------------------------------------------------------------------------


def customers_query(org_id: int, q: str | None = None) -> SelectOfScalar[Customer]:
    """The organisation's customers, by name, optionally those whose name contains `q`."""
    statement = (
        select(Customer)
        .where(Customer.organisation_id == org_id)
        .order_by(Customer.name, Customer.id)
    )
    if q:
        statement = statement.where(col(Customer.name).icontains(q))
    return statement


async def customer_contacts(session: AsyncSession, customer: Customer) -> list[Contact]:
    statement = (
        select(Contact)
        .where(
            Contact.organisation_id == customer.organisation_id,
            Contact.customer_id == customer.id,
        )
        .order_by(Contact.id)
    )
    return list((await session.exec(statement)).all())


async def customer_names(
    session: AsyncSession, org_id: int, customer_ids: Iterable[int]
) -> dict[int, str]:
    ids = set(customer_ids)
    if not ids:
        return {}
    statement = select(Customer.id, Customer.name).where(
        Customer.organisation_id == org_id, col(Customer.id).in_(ids)
    )
    return dict((await session.exec(statement)).all())


async def customer_choices(session: AsyncSession, org_id: int, limit: int) -> list[tuple[int, str]]:
    """(id, name) of the organisation's first `limit` customers by name, for a filter menu."""
    statement = (
        select(Customer.id, Customer.name)
        .where(Customer.organisation_id == org_id)
        .order_by(Customer.name, Customer.id)
        .limit(limit)
    )
    return [(row_id, name) for row_id, name in (await session.exec(statement)).all()]


@dataclass
class CustomerBalance:
    """What one customer owes on its open invoices."""

    open_invoices: int = 0
    outstanding: dict[str, int] = field(default_factory=dict)
    """Amount due in minor units, per currency (never summed across currencies)."""
    oldest_overdue_days: int = 0
    """Days past due of the customer's oldest open invoice; 0 when nothing is overdue."""


async def customer_balances(
    session: AsyncSession, org_id: int, customer_ids: Iterable[int], today: date
) -> dict[int, CustomerBalance]:
    """Each listed customer's open-invoice count, amount due per currency and oldest overdue."""
    ids = set(customer_ids)
    balances = {customer_id: CustomerBalance() for customer_id in ids}
    if not ids:
        return balances
    statement = (
        select(
            Invoice.customer_id,
            Invoice.currency,
            func.count(),
            func.sum(Invoice.amount_due),
            func.min(Invoice.due_date),
        )
        .where(
            Invoice.organisation_id == org_id,
            Invoice.status == InvoiceStatus.OPEN,
            col(Invoice.customer_id).in_(ids),
        )
        .group_by(Invoice.customer_id, Invoice.currency)
        .order_by(Invoice.customer_id, Invoice.currency)
    )
    for customer_id, currency, count, amount_due, oldest_due in await session.exec(statement):
        balance = balances[customer_id]
        balance.open_invoices += count
        balance.outstanding[currency] = int(amount_due or 0)
        balance.oldest_overdue_days = max(
            balance.oldest_overdue_days, days_overdue(oldest_due, today)
        )
    return balances


# --- the dashboard ---------------------------------------------------------------------------


@dataclass
class BucketTotal:
    invoices: int = 0
    amount_due: int = 0
    """Minor units of the row's currency."""

    def add(self, invoices: int, amount_due: int) -> None:
        self.invoices += invoices
        self.amount_due += amount_due


@dataclass
class CurrencyAging:
    """Open invoices of one currency, per aging bucket (every bucket present, in order)."""

    currency: str
    buckets: dict[str, BucketTotal] = field(
        default_factory=lambda: {name: BucketTotal() for name in BUCKET_NAMES}
    )
    total: BucketTotal = field(default_factory=BucketTotal)


async def aging_by_currency(session: AsyncSession, org_id: int, today: date) -> list[CurrencyAging]:
    """Open invoices' count and amount due per currency and aging bucket, currencies A-Z."""
    # Grouping by due date keeps the rows few and lets `bucket_of` (the one definition of the
    # buckets) place them, instead of restating the boundaries in SQL. It is also the fast
    # form: ix_invoices_aging hands the groups over in order, where grouping by a CASE of the
    # due date sorts every open invoice (3-4 times slower at 100,000, on both databases).
    statement = (
        select(Invoice.currency, Invoice.due_date, func.count(), func.sum(Invoice.amount_due))
        .where(Invoice.organisation_id == org_id, Invoice.status == InvoiceStatus.OPEN)
        .group_by(Invoice.currency, Invoice.due_date)
    )
    by_currency: dict[str, CurrencyAging] = {}
    for currency, due_date, count, amount_due in await session.exec(statement):
        # One CurrencyAging per currency, not one made (and thrown away) per row: at 100,000
        # invoices there are a thousand or more due dates.
        aging = by_currency.get(currency)
        if aging is None:
            aging = by_currency[currency] = CurrencyAging(currency)
        amount = int(amount_due or 0)
        aging.buckets[bucket_of(due_date, today)].add(count, amount)
        aging.total.add(count, amount)
    return [by_currency[currency] for currency in sorted(by_currency)]


# --- money -----------------------------------------------------------------------------------
