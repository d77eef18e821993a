"""A payment always wins: one that arrives while a chase is ending is placed before it ends
(the chase's last note to the database is an activity, and signals land while it runs).

The failure this guards against was found as a flake in tests/xero's part-payment test (a
second webhook hit the moment the first payment's chase ended); here it is made to happen.
"""

from __future__ import annotations

import uuid

from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseState, PaymentNotice
from duely.core.temporal import names
from duely.models import Invoice, Payment
from tests.chase.conftest import customer_with_contact, english_org, running_harness
from tests.chase.late_payment import PaymentWhileEnding
from tests.factories import add_invoice
from tests.waiting import eventually


def card(amount: int) -> PaymentNotice:
    return PaymentNotice(amount, "GBP", payment_id=f"pi_{uuid.uuid4().hex[:20]}")


async def ended(harness, workflow_id: str) -> str:
    handle = harness.client.get_workflow_handle(workflow_id)

    async def completed() -> bool:
        return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED

    await eventually(completed, f"{workflow_id} never ended")
    return await harness.outcome(handle)


def payments(db, invoice: Invoice) -> set[tuple[str, str]]:
    db.expire_all()
    rows = db.exec(select(Payment).where(Payment.invoice_id == invoice.id))
    return {(row.external_id, row.status) for row in rows}


async def test_a_payment_that_arrives_while_a_payment_only_chase_ends_is_placed(
    settings, db, smtp_server, org_a
):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "ending")
    invoice = add_invoice(db, customer, "INV-END", 10, amount=100_00)
    first, second = card(40_00), card(60_00)
    late = PaymentWhileEnding()
    async with running_harness(settings, db, smtp_server, interceptors=[late]) as harness:
        late.client = harness.client
        chase_id = names.chase_workflow_id(org_a.id, invoice.id)
        late.pay_while_ending(chase_id, second)
        # Not being chased: the first payment starts a chase that only places payments.
        await chase_control.tell_payment(harness.client, harness.task_queue, invoice, first)

        assert await ended(harness, chase_id) == ChaseState.PAID
        assert chase_id in late.delivered

    assert payments(db, invoice) == {
        (first.payment_id, "recorded"),
        (second.payment_id, "recorded"),
    }
    assert db.get(Invoice, invoice.id).amount_due == 0


async def test_a_payment_that_arrives_while_a_stopped_chase_ends_is_placed(
    settings, db, smtp_server, org_a
):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "stopping")
    invoice = add_invoice(db, customer, "INV-STOP", 10, amount=100_00)
    payment = card(100_00)
    late = PaymentWhileEnding()
    async with running_harness(settings, db, smtp_server, interceptors=[late]) as harness:
        late.client = harness.client
        chase_id = names.chase_workflow_id(org_a.id, invoice.id)
        await harness.start(invoice)
        late.pay_while_ending(chase_id, payment)
        await chase_control.act(harness.client, invoice, Action.STOP, by="ann")

        assert await ended(harness, chase_id) == ChaseState.STOPPED
        assert chase_id in late.delivered

    assert payments(db, invoice) == {(payment.payment_id, "recorded")}
    assert db.get(Invoice, invoice.id).amount_due == 0
