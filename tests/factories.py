"""Rows for tests: customers and invoices of an organisation, due relative to today."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from duely.models import (
    Alert,
    Connection,
    Credit,
    Customer,
    Invoice,
    Message,
    Payment,
    PaymentSource,
    PaymentStatus,
    WebhookEvent,
    utcnow,
)

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
        external_id=fields.pop("external_id", f"ext-{number}"),
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


def add_payment(
    db,
    org_id: int,
    external_id: str,
    amount: int = 10_000,
    invoice: Invoice | None = None,
    status: str = PaymentStatus.RECORDED,
    currency: str = "GBP",
    **fields,
) -> Payment:
    """A payment's share for `invoice` (its customer too), or one placed on no invoice."""
    values = {
        "invoice_id": invoice.id if invoice else None,
        "invoice_ref": str(invoice.id) if invoice else "",
        "customer_id": invoice.customer_id if invoice else None,
        "source": PaymentSource.STRIPE,
        **fields,
    }
    payment = Payment(
        organisation_id=org_id,
        external_id=external_id,
        amount=amount,
        currency=currency,
        status=status,
        **values,
    )
    db.add(payment)
    db.commit()
    return payment


def add_alert(db, org_id: int, key: str, kind: str = "refund", **fields) -> Alert:
    alert = Alert(organisation_id=org_id, key=key, kind=kind, **fields)
    db.add(alert)
    db.commit()
    return alert


def add_webhook_event(
    db, org_id: int | None, event_id: str, provider: str = "stripe", **fields
) -> WebhookEvent:
    event = WebhookEvent(organisation_id=org_id, provider=provider, event_id=event_id, **fields)
    db.add(event)
    db.commit()
    return event


def add_connection(db, org_id: int, tenant: str, **fields) -> Connection:
    connection = Connection(
        organisation_id=org_id,
        provider=fields.pop("provider", "xero"),
        external_tenant_id=f"tenant-{tenant}",
        tenant_name=tenant,
        **fields,
    )
    db.add(connection)
    db.commit()
    return connection


def add_message(db, customer: Customer, key: str, status: str = "sent", **fields) -> Message:
    """An outbox row for `customer` (a sent email unless `fields` say otherwise)."""
    message = Message(
        organisation_id=customer.organisation_id,
        customer_id=customer.id,
        unique_key=f"test:{customer.organisation_id}:{key}",
        recipients="ap@example.test",
        subject=f"Message {key}",
        body="Dear customer, ...",
        status=status,
        **fields,
    )
    db.add(message)
    db.commit()
    return message


def add_credit(
    db, customer: Customer, connection: Connection, amount: int, currency: str = "GBP", **fields
) -> Credit:
    """Credit the ledger holds for `customer` (a credit note unless `fields` say otherwise)."""
    credit = Credit(
        organisation_id=customer.organisation_id,
        connection_id=connection.id,
        customer_id=customer.id,
        external_id=fields.pop("external_id", f"cn-{amount}-{currency}"),
        kind=fields.pop("kind", "credit_note"),
        currency=currency,
        remaining=amount,
        **fields,
    )
    db.add(credit)
    db.commit()
    return credit
