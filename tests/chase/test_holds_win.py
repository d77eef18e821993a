"""A person's instruction wins over a queued reminder (issue 11, findings 2, 4 and 5).

The scenario most of these start from: on Friday 12 March 2027 the customer had a reminder
for INV-A; INV-B is synced later that day with its own step due, so its request waits in the
customer's outbox for Monday (one reminder a day). Whatever a person does to INV-B meanwhile
must hold by Monday.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseMemory, ChaseStart, ChaseState
from duely.core.temporal import names
from duely.models import Customer, Event, Invoice, Message
from duely.workflows.chase import InvoiceChaseWorkflow
from tests.chase.conftest import (
    DUE,
    Harness,
    at_london,
    customer_with_contact,
    english_org,
    local,
)
from tests.factories import add_invoice

FRIDAY, SATURDAY, MONDAY = date(2027, 3, 12), date(2027, 3, 13), date(2027, 3, 15)


async def queued_for_monday(harness: Harness, db, org_id: int) -> tuple[Customer, Invoice]:
    english_org(db, org_id)
    customer = customer_with_contact(db, org_id, "queued")
    first = add_invoice(db, customer, "INV-A", 0, due_date=DUE)
    await harness.start(first)
    await harness.skip_to(at_london(FRIDAY, 12))
    second = add_invoice(db, customer, "INV-B", 0, due_date=DUE)
    await harness.start(second)
    await harness.skip_to(at_london(SATURDAY, 10))
    view = await chase_control.view(harness.client, second)
    assert view.state == ChaseState.QUEUED  # the starting point, as a user saw it
    return customer, second


async def outbox_pending(harness: Harness, customer: Customer) -> list:
    outbox = harness.client.get_workflow_handle(
        names.outbox_workflow_id(customer.organisation_id, customer.id)
    )
    return await outbox.query("pending")


def monday_email(harness: Harness, customer: Customer) -> Message:
    friday, monday = harness.messages(customer)
    assert local(friday.created_at).date() == FRIDAY
    assert local(monday.created_at).date() == MONDAY
    return monday


def timeline(db, invoice: Invoice) -> list[tuple[str, str]]:
    db.expire_all()
    events = db.exec(select(Event).where(Event.invoice_id == invoice.id).order_by(Event.id))
    return [(event.kind, event.detail) for event in events]


async def test_pausing_a_queued_chase_withdraws_its_reminder(harness, org_a, db):
    customer, invoice = await queued_for_monday(harness, db, org_a.id)
    await chase_control.act(harness.client, invoice, Action.PAUSE, by="ann", until="2027-05-10")
    await harness.skip_to(at_london(SATURDAY, 11))

    assert (await chase_control.view(harness.client, invoice)).state == ChaseState.PAUSED
    assert invoice.id not in [r.invoice_id for r in await outbox_pending(harness, customer)]
    await harness.skip_to(at_london(MONDAY, 12))
    monday = monday_email(harness, customer)
    assert "INV-A" in monday.body and "INV-B" not in monday.body
    assert any(kind == "withdrawn" for kind, _ in timeline(db, invoice))


async def test_disputing_a_queued_chase_withdraws_its_reminder(harness, org_a, db):
    customer, invoice = await queued_for_monday(harness, db, org_a.id)
    await chase_control.act(harness.client, invoice, Action.DISPUTE, by="ann", reason="damaged")
    await harness.skip_to(at_london(MONDAY, 12))

    assert (await chase_control.view(harness.client, invoice)).state == ChaseState.DISPUTED
    monday = monday_email(harness, customer)
    assert "INV-A" in monday.body and "INV-B" not in monday.body


async def test_a_promise_on_a_queued_chase_withdraws_its_reminder(harness, org_a, db):
    customer, invoice = await queued_for_monday(harness, db, org_a.id)
    await chase_control.act(harness.client, invoice, Action.PROMISE, by="ann", until="2027-03-24")
    await harness.skip_to(at_london(SATURDAY, 11))

    assert (await chase_control.view(harness.client, invoice)).state == ChaseState.PROMISED
    assert invoice.id not in [r.invoice_id for r in await outbox_pending(harness, customer)]
    await harness.skip_to(at_london(MONDAY, 12))
    monday = monday_email(harness, customer)
    assert "INV-A" in monday.body and "INV-B" not in monday.body


async def test_send_now_on_a_queued_chase_sends_at_once(harness, org_a, db):
    customer, invoice = await queued_for_monday(harness, db, org_a.id)
    await chase_control.act(harness.client, invoice, Action.SEND_NOW, by="ann")
    await harness.skip_to(at_london(SATURDAY, 10, 5))

    friday, now = harness.messages(customer)
    assert local(now.created_at) < at_london(SATURDAY, 10, 2)
    assert "INV-B" in now.body and "INV-A" not in now.body
    details = [detail for _, detail in timeline(db, invoice)]
    assert not any(detail.startswith("nothing sent now") for detail in details)


async def test_a_queued_step_overtaken_by_a_later_one_goes_out_as_the_later_one(harness, org_a, db):
    """INV-B's "3 days before due" waited for Monday, when its "due today" step applies: the
    email speaks for the step that applies at hand-over, and the timeline says so exactly."""
    customer, invoice = await queued_for_monday(harness, db, org_a.id)
    await harness.skip_to(at_london(MONDAY, 12))

    monday = monday_email(harness, customer)
    assert "INV-B" in monday.body
    passed = [detail for kind, detail in timeline(db, invoice) if kind == "passed_over"]
    assert len(passed) == 1 and passed[0].endswith("replaces it"), passed
    assert "3 days before due" in passed[0].split(" was not sent: ")[0]
    assert "on the due date" in passed[0].split(" was not sent: ")[1]
    view = await chase_control.view(harness.client, invoice)
    assert view.state == ChaseState.SCHEDULED


async def test_a_pause_that_ends_leads_to_one_reminder_not_two_on_consecutive_days(
    harness, org_a, db
):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "pause")
    invoice = add_invoice(db, customer, "INV-P", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 10), 12))
    # Paused over the -3 and due-date steps; the +3 step falls due the day after it ends.
    await chase_control.act(harness.client, invoice, Action.PAUSE, by="ann", until="2027-03-17")
    await harness.skip_to(at_london(date(2027, 3, 25), 12))

    sent = [local(m.created_at).date() for m in harness.messages(customer)]
    assert sent == [date(2027, 3, 18)], sent


async def test_resuming_after_a_promise_chases_over_the_ledgers_date(harness, org_a, db):
    """The ledger still shows the expected payment date a person resumed over: chasing goes
    on regardless (finding 5)."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "resume")
    invoice = add_invoice(
        db, customer, "INV-R", 0, due_date=DUE, expected_payment_date=date(2027, 4, 30)
    )
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 16), 12))
    assert (await chase_control.view(harness.client, invoice)).state == ChaseState.PROMISED
    assert harness.messages(customer) == []

    await chase_control.act(harness.client, invoice, Action.RESUME, by="ann")
    await harness.skip_to(at_london(date(2027, 3, 19), 12))
    assert (await chase_control.view(harness.client, invoice)).state != ChaseState.PROMISED
    assert len(harness.messages(customer)) == 1


async def test_send_now_given_before_continue_as_new_is_carried_over(harness, org_a, db):
    """Finding 4: a "send now" the chase had not acted on when it continued as new was lost.
    It is kept in the memory the next run starts from, and acted on at once."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "carried")
    invoice = add_invoice(db, customer, "INV-CAN", 0, due_date=DUE)
    await harness.skip_to(at_london(SATURDAY, 10))
    memory = ChaseMemory(forced="send-now")  # what continue_as_new hands the next run
    await harness.client.start_workflow(
        InvoiceChaseWorkflow.run,
        ChaseStart(org_a.id, invoice.id, customer.id, memory),
        id=names.chase_workflow_id(org_a.id, invoice.id),
        task_queue=harness.task_queue,
    )
    await harness.skip_to(at_london(SATURDAY, 10, 5))

    (sent,) = harness.messages(customer)
    assert "INV-CAN" in sent.body and local(sent.created_at) < at_london(SATURDAY, 10, 2)
