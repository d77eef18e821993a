"""Deterministic QuickBooks companies: the same seed and clock give the same company.

Customers have names, emails, landlines and mobiles; invoices spread across the aging buckets
(not yet due, 1-30, 31-60, 61-90 and over 90 days overdue), some paid in full and some in part
(with their Payment entities), and a few customers hold an unapplied credit memo. 10,000
invoices seed in well under a second.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from duely.sandbox.quickbooks.company import (
    Account,
    Company,
    CreditMemo,
    Customer,
    Invoice,
    Payment,
    PaymentLine,
    SalesLine,
)
from duely.sandbox.quickbooks.store import QuickBooksStore

COUNTRIES = {
    "GB": ("GBP", "+44 20 7946 0{:03d}", "+44 7700 900{:03d}", "London", "EC1A 1BB"),
    "US": ("USD", "(415) 555-0{:03d}", "(415) 555-1{:03d}", "San Francisco", "94107"),
    "CA": ("CAD", "(604) 555-0{:03d}", "(604) 555-1{:03d}", "Vancouver", "V6B 1A1"),
    "AU": ("AUD", "+61 2 5550 0{:03d}", "+61 491 570 {:03d}", "Sydney", "2000"),
}
FIRST = [
    "Amelia",
    "Oliver",
    "Isla",
    "George",
    "Ava",
    "Harry",
    "Mia",
    "Jack",
    "Sophia",
    "Noah",
    "Grace",
    "Leo",
    "Ella",
    "Oscar",
    "Lily",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Hall",
]
TRADES = [
    "Bakery",
    "Joinery",
    "Florists",
    "Printing",
    "Logistics",
    "Dental",
    "Garage",
    "Studio",
    "Cafe",
    "Plumbing",
]
SERVICES = ["Consulting", "Monthly support", "Installation", "Delivery", "Maintenance"]
# (share of invoices, days after the due date that today is: min, max); negative = not due.
AGING = ((0.30, -29, -1), (0.25, 1, 30), (0.18, 31, 60), (0.12, 61, 90), (0.15, 91, 200))
PAID_SHARE, PART_PAID_SHARE = 0.20, 0.08


def realm_id_for(seed: int) -> str:
    """A 16-digit realm id (like QuickBooks'), the same for the same seed."""
    digest = int(hashlib.sha256(f"realm-{seed}".encode()).hexdigest(), 16)
    return str(9130000000000000 + digest % 10**14)


def seed_company(
    seed: int,
    invoices: int,
    *,
    now: datetime,
    name: str | None = None,
    country: str = "GB",
    customers: int | None = None,
) -> Company:
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    currency, phone, mobile, city, postcode = COUNTRIES[country]
    created = now - timedelta(days=400)
    company = Company(
        realm_id=realm_id_for(seed),
        name=name or f"Sandbox Company {seed}",
        country=country,
        currency=currency,
        email="accounts@example.com",
        phone=phone.format(seed % 1000),
        address_line=f"{seed % 90 + 10} High Street",
        city=city,
        postal_code=postcode,
        created=created,
    )
    _accounts(company, created)
    count = customers or max(25, invoices // 12)
    for number in range(count):
        _customer(company, rng, number, phone, mobile, created)
    people = list(company.customers.values())
    for number in range(invoices):
        _invoice(company, rng, number, rng.choice(people), now)
    for customer in people[:: max(len(people) // max(3, invoices // 60), 1)]:
        _credit_memo(company, rng, customer, now)
    return company


def _accounts(company: Company, when: datetime) -> None:
    for name, kind, sub, classification in (
        ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
        ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
        ("Business Current Account", "Bank", "Checking", "Asset"),
        ("Sales", "Income", "SalesOfProductIncome", "Revenue"),
        ("Services", "Income", "ServiceFeeIncome", "Revenue"),
    ):
        account_id = company.next_id()
        company.accounts[account_id] = Account(
            account_id, name, kind, sub, classification, company.currency, when, when
        )


def _customer(
    company: Company, rng: random.Random, number: int, phone: str, mobile: str, when: datetime
) -> None:
    given, family = rng.choice(FIRST), rng.choice(LAST)
    trade = f"{family} {rng.choice(TRADES)}"
    display = f"{trade} {number + 1}" if number >= len(LAST) * len(TRADES) // 4 else trade
    if any(c.display_name == display for c in company.customers.values()):
        display = f"{display} ({number + 1})"
    slug = "".join(ch for ch in display.lower() if ch.isalnum())[:24]
    customer_id = company.next_id()
    company.customers[customer_id] = Customer(
        id=customer_id,
        display_name=display,
        company_name=display,
        given_name=given,
        family_name=family,
        email=f"{given.lower()}@{slug}.example.com",
        phone=phone.format(number % 1000),
        mobile=mobile.format((number * 7) % 1000) if number % 4 else "",
        currency=company.currency,
        created=when,
        updated=when,
    )


def _invoice(
    company: Company, rng: random.Random, number: int, customer: Customer, now: datetime
) -> None:
    draw, overdue = rng.random(), 0
    for share, low, high in AGING:
        if draw < share:
            overdue = rng.randint(low, high)
            break
        draw -= share
    today = now.date()
    due = today - timedelta(days=overdue)
    txn = due - timedelta(days=30)
    total = rng.randint(40, 4000) * 100 + rng.choice((0, 50, 99))
    when = datetime.combine(txn, now.timetz()) if txn < today else now
    invoice = Invoice(
        id=company.next_id(),
        doc_number=str(1001 + number),
        customer_id=customer.id,
        txn_date=txn,
        due_date=due,
        total=total,
        balance=total,
        currency=customer.currency,
        bill_email=customer.email,
        lines=[SalesLine(total, rng.choice(SERVICES))],
        created=when,
        updated=when,
        email_status="EmailSent" if rng.random() < 0.8 else "NotSet",
    )
    company.invoices[invoice.id] = invoice
    share = rng.random()
    if share < PAID_SHARE + PART_PAID_SHARE:
        paid = total if share < PAID_SHARE else total // rng.choice((2, 3, 4))
        payday = min(due + timedelta(days=rng.randint(-20, 10)), today)
        paid_at = datetime.combine(max(payday, txn), now.timetz())
        payment = Payment(
            id=company.next_id(),
            customer_id=customer.id,
            txn_date=paid_at.date(),
            total=paid,
            currency=customer.currency,
            lines=[PaymentLine(paid, invoice.id)],
            created=paid_at,
            updated=paid_at,
            ref_num=f"BACS-{invoice.doc_number}",
        )
        QuickBooksStore.apply_payment(company, payment)
        invoice.updated = max(invoice.updated, paid_at)
        invoice.sync_token = 1


def _credit_memo(company: Company, rng: random.Random, customer: Customer, now: datetime) -> None:
    total = rng.randint(20, 300) * 100
    when = now - timedelta(days=rng.randint(5, 60))
    memo = CreditMemo(
        id=company.next_id(),
        doc_number=f"CM-{len(company.credit_memos) + 1:03d}",
        customer_id=customer.id,
        txn_date=when.date(),
        total=total,
        balance=total,
        currency=customer.currency,
        lines=[SalesLine(total, "Credit for returned goods")],
        created=when,
        updated=when,
    )
    company.credit_memos[memo.id] = memo
