"""Deterministic, realistic Xero organisations for tests, the benchmark and the demo.

The same seed gives the same organisation, ids, names and amounts (dates are laid out
relative to `now`). An organisation has customers (faker names, e-mail addresses on reserved
example domains only) with 0-3 contact persons, a few suppliers with bills (ACCPAY) that a
collections tool must ignore, a chart of accounts with a bank account per currency, and
invoices whose due dates fill every aging bucket: open, part-paid, credited, paid (a year of
history), voided, deleted and draft ones.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from faker import Faker

from duely.sandbox.xero.ledger import (
    BILL,
    SALES,
    Account,
    Allocation,
    Contact,
    ContactPerson,
    CreditNote,
    Invoice,
    Ledger,
    Organisation,
    Payment,
    Phone,
)
from duely.sandbox.xero.money import decimals
from duely.sandbox.xero.seed_credits import seed_credit
from duely.sandbox.xero.store import XeroStore


@dataclass(frozen=True)
class CountryProfile:
    country_code: str
    currency: str
    timezone: str
    version: str
    faker_locale: str
    tax_rate: float
    tax_type: str
    others: tuple[str, ...]  # foreign currencies some customers are billed in


COUNTRIES = {
    "GB": CountryProfile(
        "GB", "GBP", "GMTSTANDARDTIME", "UK", "en_GB", 0.2, "OUTPUT2", ("EUR", "USD", "JPY")
    ),
    "AU": CountryProfile(
        "AU", "AUD", "AUSEASTERNSTANDARDTIME", "AU", "en_AU", 0.1, "OUTPUT", ("NZD", "USD")
    ),
    "NZ": CountryProfile(
        "NZ", "NZD", "NEWZEALANDSTANDARDTIME", "NZ", "en_NZ", 0.15, "OUTPUT2", ("AUD", "USD")
    ),
    "US": CountryProfile(
        "US", "USD", "EASTERNSTANDARDTIME", "US", "en_US", 0.0, "NONE", ("CAD", "EUR")
    ),
}
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
# Rough units of each currency to one of the base currency, so a foreign invoice is about as
# large as a domestic one (JPY, without minor units, is scaled once more in `amount`).
UNIT_SCALE = {"JPY": 1.9, "USD": 1.25, "EUR": 1.15, "CAD": 1.7, "AUD": 1.9, "NZD": 2.1}
# (days overdue at the far end, days overdue at the near end): one open invoice is forced
# into each aging bucket so even a small organisation shows them all.
BUCKET_SPREAD = ((-20, 0), (1, 30), (31, 60), (61, 90), (91, 200))


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:30] or "customer"


def _at(day: date, rng: random.Random) -> datetime:
    """A moment during the working day of `day`, in UTC."""
    seconds = rng.randint(8 * 3600, 18 * 3600)
    return datetime.combine(day, time(), tzinfo=UTC) + timedelta(
        seconds=seconds, milliseconds=rng.randint(0, 999)
    )


class _Seeder:
    def __init__(self, seed: int, profile: CountryProfile, now: datetime) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
        self.ids = _Ids(self.rng)
        self.fake = Faker(profile.faker_locale)
        self.fake.seed_instance(seed)
        self.profile = profile
        self.now = now
        self.today = now.date()
        self.year_ago = now - timedelta(days=365)

    def stamp(self, day: date) -> datetime:
        """UpdatedDateUTC of something last touched on `day`: within the past year, not later
        than now."""
        moment = _at(day, self.rng)
        if moment < self.year_ago:
            moment = self.year_ago + timedelta(seconds=self.rng.randint(0, 30 * 86400))
        return min(moment, self.now - timedelta(seconds=self.rng.randint(1, 3600)))

    # --- the organisation ----------------------------------------------------------------

    def organisation(self, name: str | None) -> Organisation:
        name = name or f"{self.fake.company()} Ltd"
        created = self.now - timedelta(days=self.rng.randint(800, 3000))
        return Organisation(
            organisation_id=self.ids(),
            name=name,
            legal_name=name,
            base_currency=self.profile.currency,
            country_code=self.profile.country_code,
            timezone=self.profile.timezone,
            version=self.profile.version,
            short_code="!" + "".join(self.rng.choices("ABCDEFGHJKLMNPQRSTVWXYZ0123456789", k=5)),
            created=created,
        )

    def accounts(self) -> list[Account]:
        created = self.now - timedelta(days=700)
        accounts = [
            Account(
                self.ids(),
                "090",
                "Business Bank Account",
                "BANK",
                "ASSET",
                self.profile.currency,
                created,
                bank_account_number="20-32-06 43876511",
                reporting_code="ASS",
            ),
            Account(
                self.ids(),
                "200",
                "Sales",
                "REVENUE",
                "REVENUE",
                None,
                created,
                reporting_code="REV",
            ),
            Account(
                self.ids(),
                "400",
                "Advertising",
                "OVERHEADS",
                "EXPENSE",
                None,
                created,
                reporting_code="EXP",
            ),
            Account(
                self.ids(),
                "610",
                "Accounts Receivable",
                "CURRENT",
                "ASSET",
                None,
                created,
                system_account="DEBTORS",
                reporting_code="ASS",
            ),
            Account(
                self.ids(),
                "615",
                "Card Payments Clearing",
                "CURRENT",
                "ASSET",
                None,
                created,
                enable_payments=True,
                reporting_code="ASS",
            ),
            Account(
                self.ids(),
                "800",
                "Accounts Payable",
                "CURRLIAB",
                "LIABILITY",
                None,
                created,
                system_account="CREDITORS",
                reporting_code="LIA",
            ),
            Account(
                self.ids(),
                "820",
                "Sales Tax",
                "CURRLIAB",
                "LIABILITY",
                None,
                created,
                reporting_code="LIA",
            ),
        ]
        for number, currency in enumerate(self.profile.others, start=91):
            accounts.append(
                Account(
                    self.ids(),
                    f"0{number}",
                    f"{currency} Bank Account",
                    "BANK",
                    "ASSET",
                    currency,
                    created,
                    bank_account_number=f"{currency}-{number}-7700",
                    reporting_code="ASS",
                )
            )
        return accounts

    # --- contacts ------------------------------------------------------------------------

    def contacts(self, customers: int, suppliers: int) -> tuple[list[Contact], list[Contact]]:
        names: set[str] = set()
        made = []
        for position in range(customers + suppliers):
            name = self.fake.company()
            while name in names:
                name = f"{name} {self.rng.randint(2, 99)}"
            names.add(name)
            made.append(self.contact(name, supplier=position >= customers))
        return made[:customers], made[customers:]

    def contact(self, name: str, supplier: bool) -> Contact:
        rng = self.rng
        first, last = self.fake.first_name(), self.fake.last_name()
        domain = rng.choice(EMAIL_DOMAINS)
        slug = _slug(name)
        has_email = rng.random() < 0.9
        email = f"accounts.{slug}@{domain}" if has_email else ""
        persons = [
            ContactPerson(
                first_name=(person_first := self.fake.first_name()),
                last_name=(person_last := self.fake.last_name()),
                email=f"{_slug(person_first)}.{_slug(person_last)}@{domain}",
                include_in_emails=rng.random() < 0.5,
            )
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3)))
        ]
        currency = self.profile.currency
        if not supplier and self.profile.others and rng.random() < 0.12:
            currency = rng.choice(self.profile.others)
        phones = [Phone("DEFAULT", f"960{rng.randint(0, 999):03d}", "01632", "44")]
        if rng.random() < 0.4:
            phones.append(Phone("MOBILE", f"7700 900{rng.randint(0, 999):03d}", "", "44"))
        return Contact(
            contact_id=self.ids(),
            name=name,
            first_name=first,
            last_name=last,
            email=email,
            updated=self.stamp(self.today - timedelta(days=rng.randint(0, 700))),
            persons=persons,
            phones=phones,
            status="ARCHIVED" if rng.random() < 0.02 else "ACTIVE",
            is_customer=not supplier,
            is_supplier=supplier,
            currency=currency,
            account_number=f"C{rng.randint(10000, 99999)}" if rng.random() < 0.5 else "",
        )

    # --- invoices ------------------------------------------------------------------------

    def amount(self, currency: str) -> int:
        """A subtotal in minor units: mostly hundreds, sometimes thousands."""
        major = min(max(self.rng.lognormvariate(6.4, 1.0), 25.0), 60_000.0)
        major *= UNIT_SCALE.get(currency, 1.0) if currency != self.profile.currency else 1.0
        if currency == "JPY":
            major *= 100
        places = decimals(currency)
        return round(major * 10**places / 5) * 5 if places else round(major / 10) * 10


def seed_ledger(
    seed: int,
    invoices: int = 300,
    *,
    now: datetime,
    customers: int | None = None,
    name: str | None = None,
    country: str = "GB",
) -> Ledger:
    """A new organisation with `invoices` invoices, the same for the same seed.

    `now` is the sandbox clock's now: due dates and histories are laid out before it.
    """
    seeder = _Seeder(seed, COUNTRIES[country], now)
    rng = seeder.rng
    ledger = Ledger(organisation=seeder.organisation(name))
    for account in seeder.accounts():
        ledger.accounts[account.account_id] = account
    customer_count = customers or max(30, min(3000, invoices // 5))
    buyers, suppliers = seeder.contacts(customer_count, max(3, customer_count // 50))
    for contact in (*buyers, *suppliers):
        ledger.contacts[contact.contact_id] = contact
    banks = {a.currency: a for a in ledger.accounts.values() if a.kind == "BANK"}
    credit_numbers = iter(range(1, invoices + 1))
    weights = [1.0 / (1 + position) ** 0.6 for position in range(len(buyers))]
    chosen_buyers = rng.choices(buyers, weights=weights, k=invoices)
    sales_made = 0
    for position in range(invoices):
        forced = position < len(BUCKET_SPREAD)
        is_bill = not forced and rng.random() < 0.04
        contact = rng.choice(suppliers) if is_bill else chosen_buyers[position]
        sales_made += not is_bill
        invoice = _invoice(seeder, sales_made, contact, is_bill)
        if forced:
            far, near = BUCKET_SPREAD[position]
            invoice.due_date = seeder.today - timedelta(days=rng.randint(far, near))
            invoice.date = invoice.due_date - timedelta(days=30)
            invoice.updated = seeder.stamp(invoice.date)
        else:
            _settle(seeder, ledger, invoice, banks, credit_numbers)
        ledger.invoices[invoice.invoice_id] = invoice
    seed_credit(ledger, seed, now)
    return ledger


def _invoice(seeder: _Seeder, sales_number: int, contact: Contact, is_bill: bool) -> Invoice:
    rng = seeder.rng
    currency = contact.currency or seeder.profile.currency
    issued = seeder.today - timedelta(days=int(rng.triangular(0, 420, 15)))
    sub_total = seeder.amount(currency)
    tax = round(sub_total * seeder.profile.tax_rate)
    # Sales invoices are numbered by Xero in sequence; a bill carries its supplier's number.
    number = f"INV-{sales_number:04d}" if not is_bill else f"SUP-{rng.randint(1000, 99999)}"
    reference = f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.7 else ""
    return Invoice(
        invoice_id=seeder.ids(),
        number=number,
        kind=BILL if is_bill else SALES,
        contact_id=contact.contact_id,
        date=issued,
        due_date=issued + timedelta(days=rng.choice((7, 14, 30, 30, 30, 30, 45, 60))),
        status="AUTHORISED",
        currency=currency,
        sub_total=sub_total,
        total_tax=tax,
        total=sub_total + tax,
        amount_due=sub_total + tax,
        updated=seeder.stamp(issued),
        description=rng.choice(
            (
                "Consulting services",
                "Monthly support",
                "Goods as per order",
                "Installation",
                "Annual licence",
                "Delivery and handling",
                "Maintenance visit",
            )
        ),
        reference=reference,
        tax_type=seeder.profile.tax_type,
    )


def _settle(
    seeder: _Seeder, ledger: Ledger, invoice: Invoice, banks: dict, credit_numbers: Iterator[int]
) -> None:
    """Give an invoice its life so far: drafted, voided, paid (in part), credited or open."""
    rng = seeder.rng
    age = (seeder.today - invoice.date).days
    roll = rng.random()
    if roll < 0.03:
        invoice.status = "DRAFT"
        invoice.sent_to_contact = False
        return
    if roll < 0.04:
        invoice.status = "SUBMITTED"
        invoice.sent_to_contact = False
        return
    if roll < 0.06:
        invoice.status, invoice.amount_due, invoice.sent_to_contact = "DELETED", 0, False
        return
    if roll < 0.08:
        invoice.status, invoice.amount_due = "VOIDED", 0
        invoice.updated = seeder.stamp(invoice.date + timedelta(days=rng.randint(1, 20)))
        return
    paid_odds = 0.9 if age > 120 else 0.65 if age > 60 else 0.4 if age > 30 else 0.12
    bank = banks.get(invoice.currency) or banks[seeder.profile.currency]
    if rng.random() < paid_odds:
        last = min(invoice.due_date + timedelta(days=rng.randint(-15, 40)), seeder.today)
        last = max(last, invoice.date)
        if rng.random() < 0.2:
            first = invoice.total * rng.randint(20, 60) // 100
            _pay(seeder, ledger, invoice, bank, first, max(invoice.date, last - timedelta(14)))
        _pay(seeder, ledger, invoice, bank, invoice.amount_due, last)
        return
    extra = rng.random()
    if extra < 0.15:
        part = invoice.total * rng.randint(15, 70) // 100
        when = min(invoice.date + timedelta(days=rng.randint(5, 40)), seeder.today)
        _pay(seeder, ledger, invoice, bank, part, when)
    elif extra < 0.2 and invoice.kind == SALES:
        _credit(seeder, ledger, invoice, next(credit_numbers))


def _pay(
    seeder: _Seeder, ledger: Ledger, invoice: Invoice, bank: Account, amount: int, day: date
) -> None:
    payment = Payment(
        payment_id=seeder.ids(),
        invoice_id=invoice.invoice_id,
        account_id=bank.account_id,
        date=day,
        amount=amount,
        currency=invoice.currency,
        reference=f"BACS {invoice.number}" if seeder.rng.random() < 0.6 else "",
        updated=seeder.stamp(day),
        payment_type="ACCRECPAYMENT" if invoice.kind == SALES else "ACCPAYPAYMENT",
    )
    XeroStore.apply_payment(ledger, invoice, payment)
    invoice.updated = max(invoice.updated, payment.updated)


def _credit(seeder: _Seeder, ledger: Ledger, invoice: Invoice, number: int) -> None:
    rng = seeder.rng
    amount = invoice.total * rng.randint(10, 50) // 100
    day = min(invoice.date + timedelta(days=rng.randint(3, 30)), seeder.today)
    note = CreditNote(
        credit_note_id=seeder.ids(),
        number=f"CN-{number:04d}",
        kind="ACCRECCREDIT",
        contact_id=invoice.contact_id,
        date=day,
        status="PAID",
        currency=invoice.currency,
        total=amount,
        remaining=0,
        updated=seeder.stamp(day),
        reference=f"Credit against {invoice.number}",
        allocations=[Allocation(seeder.ids(), invoice.invoice_id, amount, day)],
    )
    ledger.credit_notes[note.credit_note_id] = note
    invoice.credit_note_ids.append(note.credit_note_id)
    invoice.amount_credited += amount
    invoice.amount_due -= amount
    invoice.updated = max(invoice.updated, note.updated)
