"""Deterministic AccountsIQ companies: the same seed and clock give the same company.

Customers have upper-case codes, names, contacts and emails; invoices spread across the aging
buckets (not yet due, 1-30, 31-60, 61-90 and over 90 days overdue), some paid in full and some
in part (with their sales receipts into the company's bank account, allocated to them).
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from duely.sandbox.accountsiq.company import (
    Allocation,
    Bank,
    Company,
    Customer,
    Invoice,
    Receipt,
    UserKey,
)

FIRST = ["Aoife", "Cian", "Niamh", "Sean", "Saoirse", "Conor", "Ciara", "Darragh", "Emma", "Oisin"]
LAST = ["Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "O'Brien", "Doyle", "Lynch", "Nolan"]
TRADES = ["Bakery", "Joinery", "Florists", "Printing", "Logistics", "Dental", "Garage", "Cafe"]
SERVICES = ["Consulting", "Monthly support", "Installation", "Delivery", "Maintenance"]
# (share of invoices, days after the due date that today is: min, max); negative = not due.
AGING = ((0.30, -29, -1), (0.25, 1, 30), (0.18, 31, 60), (0.12, 61, 90), (0.15, 91, 200))
PAID_SHARE, PART_PAID_SHARE = 0.20, 0.08
CURRENCIES = {"eu1": "EUR", "eu2": "EUR", "uk1": "GBP", "us1": "USD"}
DEMO_BANK_CODE = "BANK01"
DEMO_BANK_ACCOUNT_CODE = "CURRENT"


def _digest(seed: int, what: str) -> str:
    return hashlib.sha256(f"accountsiq:{seed}:{what}".encode()).hexdigest()


def default_company_id(seed: int) -> str:
    return "sbx" + _digest(seed, "company")[:8]


def default_user_key(seed: int) -> str:
    return _digest(seed, "user-key")[:32]


def seed_company(
    seed: int,
    invoices: int,
    *,
    now: datetime,
    name: str | None = None,
    region: str = "eu1",
    company_id: str | None = None,
    user_key: str | None = None,
    customers: int | None = None,
) -> Company:
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    currency = CURRENCIES.get(region, "EUR")
    company = Company(
        company_id=company_id or default_company_id(seed),
        name=name or f"Sandbox Company {seed}",
        region=region,
        currency=currency,
        next_id=1000,
    )
    company.user_keys.append(UserKey(user_key or default_user_key(seed), "sandbox.user"))
    company.banks.append(
        Bank(
            bank_id=company.take_id(),
            code=DEMO_BANK_CODE,
            bank_account_code=DEMO_BANK_ACCOUNT_CODE,
            name="Current account",
            currency=currency,
            iban="IE29AIBK93115212345678",
            sort_code="93-11-52",
        )
    )
    start = now - timedelta(days=400)
    count = customers if customers is not None else max(3, min(200, invoices // 6 or 3))
    for n in range(count):
        first, last, trade = rng.choice(FIRST), rng.choice(LAST), rng.choice(TRADES)
        business = f"{last} {trade}"
        letters = "".join(ch for ch in f"{last}{trade}".upper() if ch.isalpha())[:6]
        domain = f"{last.lower().replace(chr(39), '')}-{trade.lower()}.example"
        company.customers.append(
            Customer(
                account_id=company.take_id(),
                code=f"{letters}{n + 1:03d}",
                name=business,
                email=f"accounts+{n + 1}@{domain}",
                contact=f"{first} {last}",
                phone=f"+353 1 555 {n:04d}",
                address1=f"{n + 1} Main Street",
                city="Dublin",
                post_code="D02 X285",
                country="Ireland",
                currency=currency,
                credit_term_days=rng.choice((14, 30, 30, 45)),
                created=start,
                last_modified=start,
            )
        )
    bank = company.banks[0]
    for n in range(invoices):
        customer = company.customers[n % len(company.customers)]
        draw = rng.random()
        low, high = AGING[-1][1], AGING[-1][2]
        for share, lo, hi in AGING:
            if draw < share:
                low, high = lo, hi
                break
            draw -= share
        overdue_days = rng.randint(low, high)
        due = (now - timedelta(days=overdue_days)).date()
        invoice_date = due - timedelta(days=customer.credit_term_days)
        created = datetime.combine(invoice_date, now.timetz()).replace(microsecond=0)
        created = min(created, now)
        net = rng.randint(40, 4000) * 100 + rng.choice((0, 50, 99))
        rate = rng.choice((23, 23, 13, 0))
        invoice = Invoice(
            invoice_id=company.take_id(),
            transaction_id=company.take_id(),
            account_id=customer.account_id,
            invoice_number=f"INV-{n + 1:05d}",
            external_reference=f"SO-{seed % 1000:03d}-{n + 1:05d}",
            description=rng.choice(SERVICES),
            invoice_date=invoice_date,
            due_date=due,
            created=created,
            last_modified=created,
            net=net,
            tax=net * rate // 100,
            tax_rate_percent=rate,
        )
        company.invoices.append(invoice)
        paid = rng.random()
        if paid < PAID_SHARE + PART_PAID_SHARE and overdue_days > -20:
            amount = invoice.gross if paid < PAID_SHARE else invoice.gross // 2
            paid_on = min(due, now.date())
            receipt = Receipt(
                transaction_id=company.take_id(),
                account_id=customer.account_id,
                bank_account_code=bank.bank_account_code,
                check_reference=f"BANKREF-{n + 1:05d}",
                amount=amount,
                payment_date=paid_on,
                created=min(datetime.combine(paid_on, now.timetz()), now),
            )
            company.receipts.append(receipt)
            company.allocate(
                Allocation(
                    allocation_id=company.take_id(),
                    receipt_transaction_id=receipt.transaction_id,
                    invoice_transaction_id=invoice.transaction_id,
                    amount=amount,
                    allocation_date=paid_on,
                    reference=receipt.check_reference,
                    created=receipt.created,
                )
            )
    return company
