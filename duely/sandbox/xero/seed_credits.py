"""The credit a seeded organisation holds, and its contact groups, laid over what seed.py made.

From its own random stream (named after the seed), so every id, name and amount seed.py
makes stays what it was, and the same seed gives the same credit: a credit note partly
allocated to an open invoice with credit left over, one not allocated at all, an
overpayment and a prepayment with all their credit left, and two contact groups.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from duely.sandbox.xero.ledger import (
    SALES,
    Allocation,
    ContactGroup,
    CreditNote,
    Invoice,
    Ledger,
    PaymentCredit,
)
from duely.sandbox.xero.store import CREDIT_NOTE, XeroStore

FORCED_BUCKETS = 5  # seed.py's first invoices, one per aging bucket: left as they are


def seed_credit(ledger: Ledger, seed: int, now: datetime) -> None:
    rng = random.Random(f"duely-sandbox-credit-{seed}")  # noqa: S311 - a simulation

    def new_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    today = now.date()
    open_invoices = [
        invoice
        for invoice in list(ledger.invoices.values())[FORCED_BUCKETS:]
        if invoice.kind == SALES
        and invoice.status == "AUTHORISED"
        and invoice.amount_due == invoice.total
        and invoice.date < today
    ]
    _contact_groups(ledger, new_id, today)
    if len(open_invoices) < 4:
        return
    chosen = rng.sample(open_invoices, 4)
    numbers = [int(n.number[3:]) for n in ledger.credit_notes.values() if n.number[3:].isdigit()]
    next_number = max(numbers, default=0) + 1

    def moment(day: date) -> datetime:
        when = datetime.combine(day, time(10), tzinfo=UTC)
        return min(when + timedelta(minutes=rng.randint(0, 480)), now - timedelta(minutes=5))

    def credit_note(invoice: Invoice, total: int, reference: str) -> CreditNote:
        nonlocal next_number
        day = invoice.date + timedelta(days=rng.randint(0, (today - invoice.date).days))
        note = CreditNote(
            credit_note_id=new_id(),
            number=f"CN-{next_number:04d}",
            kind="ACCRECCREDIT",
            contact_id=invoice.contact_id,
            date=day,
            status="AUTHORISED",
            currency=invoice.currency,
            total=total,
            remaining=total,
            updated=moment(day),
            reference=reference,
        )
        next_number += 1
        ledger.credit_notes[note.credit_note_id] = note
        return note

    # Partly allocated: half of it against an open invoice, the rest still to use.
    first = chosen[0]
    note = credit_note(first, max(first.total * 3 // 5, 2), f"Goods returned on {first.number}")
    allocation = Allocation(new_id(), first.invoice_id, note.total // 2, note.date)
    XeroStore.apply_allocation(ledger, CREDIT_NOTE, note, first, allocation)
    first.updated = max(first.updated, note.updated)
    # Not allocated at all.
    second = chosen[1]
    credit_note(second, max(second.total // 4, 1), "Discount agreed")
    # An overpayment and a prepayment, all of their credit left.
    for invoice, kind, records in (
        (chosen[2], "RECEIVE-OVERPAYMENT", ledger.overpayments),
        (chosen[3], "RECEIVE-PREPAYMENT", ledger.prepayments),
    ):
        day = invoice.date + timedelta(days=rng.randint(0, (today - invoice.date).days))
        total = max(invoice.total * rng.randint(5, 30) // 100, 1)
        credit = PaymentCredit(
            credit_id=new_id(),
            kind=kind,
            contact_id=invoice.contact_id,
            date=day,
            status="AUTHORISED",
            currency=invoice.currency,
            total=total,
            remaining=total,
            updated=moment(day),
            reference=f"Paid twice: {invoice.number}" if "OVER" in kind else "Deposit",
        )
        records[credit.credit_id] = credit


def _contact_groups(ledger: Ledger, new_id: Callable[[], str], today: date) -> None:
    """ "Key accounts": the customers with the most invoices; "Slow payers": those with the
    oldest overdue ones."""
    counts: dict[str, int] = {}
    overdue: dict[str, int] = {}
    for invoice in ledger.invoices.values():
        if invoice.kind != SALES:
            continue
        counts[invoice.contact_id] = counts.get(invoice.contact_id, 0) + 1
        if invoice.status == "AUTHORISED" and invoice.due_date < today:
            late = (today - invoice.due_date).days
            overdue[invoice.contact_id] = max(overdue.get(invoice.contact_id, 0), late)
    key = sorted(counts, key=lambda c: (-counts[c], c))[:3]
    slow = sorted(overdue, key=lambda c: (-overdue[c], c))[:3]
    for name, members in (("Key accounts", key), ("Slow payers", slow)):
        group = ContactGroup(new_id(), name, contact_ids=list(members))
        ledger.contact_groups[group.group_id] = group
