"""duely's card payments written into QuickBooks against the sandbox: linked to the invoice,
found again by reference after a lost answer and never written twice, refusals told apart per
payment, and a promise kept in the invoice's private note (QuickBooks has no expected
payment date)."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx
import pytest

from duely.integrations.ledgers.base import LedgerRejected, PaymentToRecord, record_once
from duely.payments.placing import RECORDED, LedgerWriteQueue, Share
from duely.sandbox.faults import FaultRule


def open_invoices(company, count: int) -> list:
    found = [i for i in company.invoices.values() if i.balance > 0 and not i.voided]
    return found[:count]


def card_payment(invoice, amount: int, reference: str) -> PaymentToRecord:
    return PaymentToRecord(
        invoice_external_id=invoice.id,
        amount=amount,
        currency=invoice.currency,
        paid_on=date(2026, 12, 6),
        reference=reference,
        idempotency_key=f"key:{reference}",
    )


def payments_of(company, invoice) -> list:
    return [
        p for p in company.payments.values() if any(line.txn_id == invoice.id for line in p.lines)
    ]


async def test_a_payment_lands_on_its_invoice_once(connected):
    company, ledger = connected.company, connected.ledger
    (invoice,) = open_invoices(company, 1)
    before = invoice.balance
    payment = card_payment(invoice, 1_000, "duely:pi_0123456789abcdefghij:42")

    recorded = await record_once(ledger, payment)
    again = await record_once(ledger, payment)

    assert (again.external_id, again.already_recorded) == (recorded.external_id, True)
    assert invoice.balance == before - 1_000
    (written,) = payments_of(company, invoice)
    assert written.id == recorded.external_id
    assert await ledger.find_payments([payment.reference]) == {
        payment.reference: recorded.external_id
    }


async def test_a_payment_whose_answer_is_lost_is_found_again_not_written_twice(connected):
    sandbox, company, ledger = connected.sandbox, connected.company, connected.ledger
    (invoice,) = open_invoices(company, 1)
    payment = card_payment(invoice, 2_500, "duely:pi_lostanswer00000000000:7")
    sandbox.faults.replace(
        [FaultRule(path_contains="/payment", method="POST", remaining=1, fail_with="drop")]
    )
    with pytest.raises(Exception, match="QuickBooks unreachable"):
        await record_once(ledger, payment)

    retried = await record_once(ledger, payment)

    assert retried.already_recorded
    assert len(payments_of(company, invoice)) == 1


async def test_a_refused_payment_does_not_stop_the_others(connected):
    company, ledger = connected.company, connected.ledger
    first, second = open_invoices(company, 2)
    too_much = card_payment(first, first.balance + 100, "duely:pi_toomuch:1")
    fine = card_payment(second, 500, "duely:pi_fine:2")

    answers = await ledger.record_payments([too_much, fine], "batch-1")

    assert isinstance(answers[0], LedgerRejected) and "6000" in str(answers[0])
    assert not isinstance(answers[1], LedgerRejected)
    assert payments_of(company, first) == [] and len(payments_of(company, second)) == 1


async def test_a_promise_is_kept_in_the_invoices_private_note_and_replaced_by_the_next(
    connected,
):
    company, ledger = connected.company, connected.ledger
    (invoice,) = open_invoices(company, 1)
    invoice.private_note = "Call before delivery"
    await ledger.set_expected_payment_date(invoice.id, date(2027, 1, 10))
    await ledger.set_expected_payment_date(invoice.id, date(2027, 1, 17))
    assert invoice.private_note.splitlines() == [
        "Call before delivery",
        "duely: payment promised for 2027-01-17",
    ]


async def test_open_credit_is_credit_memos_and_unapplied_payments(connected):
    company, ledger = connected.company, connected.ledger
    credit = await ledger.open_credit()
    memos = {m.id: m.balance for m in company.credit_memos.values() if m.balance > 0}
    assert memos, "the seeded company holds credit memos"
    assert {c.external_id: c.remaining for c in credit if c.kind == "credit_note"} == memos
    unapplied = {p.id: p.unapplied for p in company.payments.values() if p.unapplied > 0}
    assert {c.external_id: c.remaining for c in credit if c.kind == "overpayment"} == unapplied


async def test_shares_that_arrive_together_cost_one_read_one_lookup_and_a_write_each(connected):
    """A round of card payments (duely.payments.placing) on QuickBooks: the invoices read once,
    the references looked up once, then one POST /payment per share, each under its own
    requestid. Not the batch endpoint: QuickBooks' requestid covers a whole call, so a batch's
    would depend on which shares happened to travel together, and two rounds composed
    differently could both write one share (tests/xero/test_placing.py pins that for Xero)."""
    company, ledger = connected.company, connected.ledger
    calls: list[str] = []

    async def note(request: httpx.Request) -> None:
        query = request.url.params.get("query", "")
        calls.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]} {query[:21]}")

    ledger._http.event_hooks["request"].append(note)
    invoices = open_invoices(company, 5)
    shares = [
        Share(f"duely:pi_round:{i.id}", i.id, i.doc_number, 700, i.currency, date(2026, 12, 6), "")
        for i in invoices
    ]
    queue = LedgerWriteQueue()
    fates = await asyncio.gather(*(queue.place(ledger, share, "quickbooks") for share in shares))

    assert [fate.outcome for fate in fates] == [RECORDED] * 5
    reads = [
        "GET preferences ",  # the home currency, once for the life of the process
        "GET query select * from Invoice",
        "GET query select * from Payment",
    ]
    assert calls == reads + ["POST payment "] * 5
    assert all(len(payments_of(company, invoice)) == 1 for invoice in invoices)
