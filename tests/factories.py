"""Rows for tests: customers and invoices of an organisation, due relative to today."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from duely.models import Customer, Invoice, utcnow

LONDON = ZoneInfo("Europe/London")


def today_in(zone: ZoneInfo = LONDON) -> date:
    return utcnow().astimezone(zone).date()


def add_customer(db, org_id: int, name: str, **fields) -> Customer:
    customer = Customer(organisation_id=org_id, external_id=f"ext-{name}", name=name, **fields)
    db.add(customer)
    db.commit()
    return customer


def add_invoice(
    db,
    customer: Customer,
    number: str,
    days_overdue: int,
    amount: int = 10_000,
    currency: str = "GBP",
    status: str = "open",
    due_date: date | None = None,
    **fields,
) -> Invoice:
    invoice = Invoice(
        organisation_id=customer.organisation_id,
        customer_id=customer.id,
        external_id=f"ext-{number}",
        number=number,
        issue_date=date(2026, 1, 1),
        due_date=due_date or today_in() - timedelta(days=days_overdue),
        currency=currency,
        total=amount,
        amount_due=amount,
        status=status,
        **fields,
    )
    db.add(invoice)
    db.commit()
    return invoice
