"""The seed: deterministic, realistic, quick."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from duely.receivables.aging import BUCKET_NAMES, bucket_of
from duely.sandbox.xero.seed import seed_ledger
from duely.sandbox.xero.store import XeroStore

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)


def test_same_seed_same_organisation():
    first, second = seed_ledger(42, 300, now=NOW), seed_ledger(42, 300, now=NOW)
    assert first.tenant_id == second.tenant_id
    assert list(first.invoices) == list(second.invoices)
    assert [i.total for i in first.invoices.values()] == [i.total for i in second.invoices.values()]
    assert [c.name for c in first.contacts.values()] == [c.name for c in second.contacts.values()]
    assert list(first.payments) == list(second.payments)
    other = seed_ledger(43, 300, now=NOW)
    assert other.tenant_id != first.tenant_id
    assert [i.total for i in other.invoices.values()] != [i.total for i in first.invoices.values()]


def test_a_realistic_spread():
    ledger = seed_ledger(7, 300, now=NOW)
    invoices = list(ledger.invoices.values())
    today = NOW.date()
    open_sales = [i for i in invoices if i.kind == "ACCREC" and i.status == "AUTHORISED"]
    assert {bucket_of(i.due_date, today) for i in open_sales} == set(BUCKET_NAMES)
    statuses = {i.status for i in invoices}
    assert {"DRAFT", "AUTHORISED", "PAID", "VOIDED", "DELETED"} <= statuses
    assert any(i.kind == "ACCPAY" for i in invoices)
    assert sum(i.kind == "ACCREC" for i in invoices) > 0.9 * len(invoices)
    assert any(i.amount_paid and i.status == "AUTHORISED" for i in invoices)  # part-paid
    assert any(i.amount_credited for i in invoices) and ledger.credit_notes
    paid = [i for i in invoices if i.status == "PAID"]
    assert all(i.fully_paid_on and i.amount_due == 0 for i in paid)
    assert min(i.fully_paid_on for i in paid).toordinal() < today.toordinal() - 200
    for invoice in invoices:
        assert invoice.total == invoice.sub_total + invoice.total_tax
        if invoice.status in ("AUTHORISED", "PAID"):
            owed = invoice.total - invoice.amount_paid - invoice.amount_credited
            assert invoice.amount_due == owed
        assert (NOW - invoice.updated).days <= 366 and invoice.updated <= NOW
    currencies = [i.currency for i in invoices]
    assert currencies.count("GBP") > len(currencies) / 2 and len(set(currencies)) > 1
    sales_numbers = [i.number for i in invoices if i.kind == "ACCREC"]
    assert sales_numbers == [f"INV-{n:04d}" for n in range(1, len(sales_numbers) + 1)]
    banks = {a.currency: a.code for a in ledger.accounts.values() if a.kind == "BANK"}
    assert banks["GBP"] == "090" and set(banks) >= set(currencies)


def test_contacts_use_reserved_domains_and_have_persons():
    ledger = seed_ledger(3, 500, now=NOW)
    contacts = list(ledger.contacts.values())
    assert 100 <= len(contacts) <= 3000
    emails = [c.email for c in contacts if c.email] + [p.email for c in contacts for p in c.persons]
    assert emails and all(
        e.rsplit("@", 1)[1] in ("example.com", "example.org", "example.net") for e in emails
    )
    assert {len(c.persons) for c in contacts} >= {0, 1, 2, 3}
    assert any(p.include_in_emails for c in contacts for p in c.persons)
    assert len({c.name for c in contacts}) == len(contacts)


def test_ten_thousand_invoices_seed_quickly():
    started = time.monotonic()
    ledger = seed_ledger(1, 10_000, now=NOW)
    assert time.monotonic() - started < 3.0
    assert len(ledger.invoices) == 10_000
    assert len({i.contact_id for i in ledger.invoices.values()}) > 500


def test_apply_payment_marks_paid():
    ledger = seed_ledger(9, 30, now=NOW)
    invoice = next(i for i in ledger.invoices.values() if i.status == "AUTHORISED")
    payment = ledger.payments[next(iter(ledger.payments))]
    payment.invoice_id, payment.amount = invoice.invoice_id, invoice.amount_due
    XeroStore.apply_payment(ledger, invoice, payment)
    assert invoice.status == "PAID" and invoice.amount_due == 0
