"""Card payments placed in the Xero sandbox in rounds (duely.payments.placing): shares that
arrive together for one connection share one read of their invoices and one lookup of their
references, each is written on its own under its own idempotency key, and each share in a
round gets its own fate."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import httpx
import pytest
import pytest_asyncio

from duely.core.db import Database
from duely.integrations.ledgers.base import (
    LedgerRejected,
    LedgerUnavailable,
    PaymentToRecord,
    record_once,
)
from duely.integrations.ledgers.connections import Ledgers
from duely.payments.placing import (
    ALREADY_RECORDED,
    RECORDED,
    UNMATCHED,
    LedgerWriteQueue,
    Placed,
    Share,
)
from duely.sandbox.xero.faults import FaultRule
from tests.xero.conftest import connect_directly

PAYS_IN = "615"
"""The sandbox's clearing account, which takes payments in any currency."""


@pytest.fixture
def sent() -> list[httpx.Request]:
    """Every request made to the ledger, headers and bodies."""
    return []


def writes(requests: list[httpx.Request]) -> list[tuple[str, list[str]]]:
    """Each PUT /Payments as (its Idempotency-Key, the references of the payments it wrote)."""
    return [
        (
            request.headers["Idempotency-Key"],
            [payment["Reference"] for payment in json.loads(request.content)["Payments"]],
        )
        for request in requests
        if request.method == "PUT" and request.url.path.endswith("/Payments")
    ]


@pytest_asyncio.fixture
async def ledger(xero, xero_settings, org_a, sent):
    """A connected tenant's ledger, and the list of calls made to it."""
    tenant = xero.add_tenant("Placing Ltd", 80, seed=33)
    connection = await connect_directly(xero, xero_settings, org_a.id, tenant, "duely-test")
    calls: list[str] = []

    async def note(request: httpx.Request) -> None:
        calls.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]}")
        sent.append(request)

    db = Database(xero_settings.resolved_database_url)
    http = httpx.AsyncClient(timeout=30, event_hooks={"request": [note]})
    ledgers = Ledgers(xero_settings, db, http=http)
    yield tenant, ledgers.open(connection), calls
    await ledgers.aclose()
    await db.dispose()


def open_invoices(tenant) -> list:
    return [
        i
        for i in tenant.invoices.values()
        if i.kind == "ACCREC" and i.status == "AUTHORISED" and i.amount_due > 0
    ]


def share_of(invoice, amount: int | None = None, name: str = "pi_x", account: str = PAYS_IN):
    return Share(
        reference=f"duely:{name}:{invoice.invoice_id}",
        invoice_external_id=invoice.invoice_id,
        invoice_number=invoice.number,
        amount=invoice.amount_due if amount is None else amount,
        currency=invoice.currency,
        paid_on=date(2026, 12, 1),
        account_code=account,
    )


def booked(tenant, share: Share) -> list:
    return [p for p in tenant.payments.values() if p.reference == share.reference]


async def test_shares_that_arrive_together_cost_one_round(ledger):
    tenant, xero_ledger, calls = ledger
    queue = LedgerWriteQueue()
    shares = [share_of(invoice) for invoice in open_invoices(tenant)[:12]]
    fates = await asyncio.gather(*(queue.place(xero_ledger, s, "xero") for s in shares))
    assert [fate.outcome for fate in fates] == [RECORDED] * 12
    # One read and one lookup for the lot (not 12 of each), then a write per share.
    assert calls == ["GET Invoices", "GET Payments"] + ["PUT Payments"] * 12
    for share, fate in zip(shares, fates, strict=True):
        (payment,) = booked(tenant, share)
        assert fate.ledger_payment_id == payment.payment_id and payment.amount == share.amount
        assert fate.after.amount_due == 0 and fate.after.status == "paid"

    # The same shares again (a retry after lost answers) are found, not written twice.
    again = await asyncio.gather(*(queue.place(xero_ledger, s, "xero") for s in shares))
    assert [fate.outcome for fate in again] == [ALREADY_RECORDED] * 12
    assert all(len(booked(tenant, share)) == 1 for share in shares)


async def test_each_share_gets_its_own_fate(ledger, xero):
    tenant, xero_ledger, calls = ledger
    first, second, third, fourth, fifth = open_invoices(tenant)[:5]
    earlier = share_of(first, name="pi_earlier")
    await record_once(
        xero_ledger,
        PaymentToRecord(
            first.invoice_id,
            earlier.amount,
            earlier.currency,
            earlier.paid_on,
            earlier.reference,
            earlier.reference,
            PAYS_IN,
        ),
    )
    xero.store.update_invoice(tenant.tenant_id, fourth.invoice_id, {"status": "VOIDED"})
    due = second.amount_due  # the sandbox's invoice object follows its payments
    half = due // 2
    refusing = next(a.code for a in tenant.accounts.values() if a.code and not a.accepts_payments)
    shares = [
        earlier,  # written by an attempt whose answer was lost
        share_of(second, half, name="pi_half"),
        share_of(second, due, name="pi_rest"),  # more than the half it leaves
        share_of(third, account=refusing),
        share_of(fourth),
        share_of(fifth, account=""),
    ]
    calls.clear()
    queue = LedgerWriteQueue()
    fates = await asyncio.gather(
        *(queue.place(xero_ledger, s, "xero") for s in shares), return_exceptions=True
    )

    assert isinstance(fates[0], Placed) and fates[0].outcome == ALREADY_RECORDED
    assert fates[1].outcome == RECORDED and fates[1].after.amount_due == due - half
    assert fates[2].outcome == UNMATCHED and "more than the" in fates[2].reason
    assert isinstance(fates[3], LedgerRejected)
    assert fates[4].outcome == UNMATCHED and "voided in Xero" in fates[4].reason
    assert "no ledger account" in str(fates[5])
    assert [len(booked(tenant, share)) for share in shares] == [1, 1, 0, 0, 0, 0]
    # Two writes (the half, and the one the account refused); the second share for an
    # invoice waited for a round of its own (which wrote nothing).
    assert calls == ["GET Invoices", "GET Payments", "PUT Payments", "PUT Payments"] + [
        "GET Invoices",
        "GET Payments",
    ]


async def test_ledger_idempotency_key_depends_only_on_payment_and_invoice(ledger, sent):
    """A share's write is the same request under the same key whatever else travels in its
    round: alone, with one companion or with another, its key is its reference
    (`duely:{payment}:{invoice}`). (A key made from the round's composition let two rounds
    composed differently both write the same share.)"""
    tenant, xero_ledger, _ = ledger
    first, second, third = open_invoices(tenant)[:3]
    rounds = [
        [share_of(first, 100, name="pi_alone")],
        [share_of(first, 100, name="pi_together"), share_of(second, name="pi_companion")],
        [share_of(first, 100, name="pi_other"), share_of(third, name="pi_third")],
    ]
    for shares in rounds:
        queue = LedgerWriteQueue()
        fates = await asyncio.gather(*(queue.place(xero_ledger, s, "xero") for s in shares))
        assert {fate.outcome for fate in fates} == {RECORDED}

    written = writes(sent)
    assert len(written) == 5  # one write per share, each carrying that share alone
    for key, references in written:
        assert references == [key]
    assert sorted(key for key, _ in written) == sorted(
        share.reference for shares in rounds for share in shares
    )
    assert "duely:pi_alone:" + first.invoice_id in dict(written)


async def test_a_failed_call_fails_the_round_and_writes_nothing(ledger, xero):
    tenant, xero_ledger, _ = ledger
    shares = [share_of(invoice) for invoice in open_invoices(tenant)[:3]]
    xero.faults.replace(
        [FaultRule(path_contains="/Payments", method="GET", remaining=1, fail_with="drop")]
    )
    queue = LedgerWriteQueue()
    fates = await asyncio.gather(
        *(queue.place(xero_ledger, s, "xero") for s in shares), return_exceptions=True
    )
    assert all(isinstance(fate, LedgerUnavailable) for fate in fates)
    assert all(booked(tenant, share) == [] for share in shares)
