"""InvoiceChaseWorkflow and CustomerOutboxWorkflow on Temporal's time-skipping test server:
weeks of a schedule pass in seconds, with the real activities, the real database and a real
SMTP server (aiosmtpd).

The invoices here have no ledger connection (as from a CSV import), so the mirror is what
the outbox re-reads before sending; tests/xero/test_chasing.py covers re-reading Xero.
"""

from __future__ import annotations

from datetime import UTC, date

import pytest
from sqlmodel import select

from duely.chase import control as chase_control
from duely.chase.control import Action
from duely.chase.plan import send_key
from duely.chase.state import ChaseMemory, ChaseStart
from duely.models import (
    Contact,
    Event,
    Invoice,
    ScheduleStep,
    utcnow,
)
from duely.workflows.chase import InvoiceChaseWorkflow
from tests.chase.conftest import DUE, at_london, customer_with_contact, english_org, local
from tests.factories import add_invoice

EXPECTED_REMINDER_DAYS = [
    date(2027, 3, 12),  # -3: Friday
    date(2027, 3, 15),  # due today
    date(2027, 3, 18),  # +3
    date(2027, 3, 30),  # +14 is Easter Monday: the Tuesday after, now in summer time
    date(2027, 4, 5),  # +21 (first repeat)
    date(2027, 4, 12),  # +28 (second repeat)
    date(2027, 4, 14),  # +30 final notice
]
CALL_TASK_DAY = date(2027, 4, 21)  # +37


async def test_walks_the_whole_schedule_across_dst_and_a_holiday(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "walk")
    invoice = add_invoice(db, customer, "INV-WALK", 0, amount=125_000, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(CALL_TASK_DAY, 18))

    messages = harness.messages(customer)
    reminders = [m for m in messages if m.channel == "email"]
    assert [local(m.created_at).date() for m in reminders] == EXPECTED_REMINDER_DAYS
    # Each goes out when the window opens (09:00 local) plus the outbox's minute of gathering:
    # 09:01 GMT before the clocks change, 09:01 BST (08:01 UTC) after.
    assert {local(m.created_at).strftime("%H:%M") for m in reminders} == {"09:01"}
    assert reminders[0].created_at.astimezone(UTC).hour == 9
    assert reminders[3].created_at.astimezone(UTC).hour == 8
    assert [m.status for m in reminders] == ["sent"] * 7
    (call,) = [m for m in messages if m.channel == "call_task"]
    assert local(call.created_at).date() == CALL_TASK_DAY and call.status == "open"

    # Every one reached the SMTP server once, to the contact, with a way to unsubscribe.
    delivered = [r for r in harness.mail.received if r.recipients == ["sam@walk.test"]]
    assert len(delivered) == 7
    assert all("INV-WALK" in r.message.get_content() for r in delivered)
    assert (
        delivered[0].message["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/unsubscribe/")
    )
    assert "GBP 1,250.00" in delivered[0].message.get_content()

    # The timeline says what happened, in order.
    db.expire_all()
    kinds = [e.kind for e in db.exec(select(Event).where(Event.invoice_id == invoice.id))]
    assert kinds.count("reminder_sent") == 8  # seven emails and the call task
    view = await chase_control.view(harness.client, invoice)
    assert view.state == "finished"
    assert [s.status for s in view.sends] == ["done"] * 8


async def test_a_customer_with_three_invoices_due_together_gets_one_email(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "three")
    invoices = [
        add_invoice(db, customer, f"INV-T{n}", 0, amount=10_000 * n, due_date=DUE)
        for n in (1, 2, 3)
    ]
    for invoice in invoices:
        await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))

    (message,) = harness.messages(customer)
    assert local(message.created_at).date() == date(2027, 3, 12)
    assert all(f"INV-T{n}" in message.body for n in (1, 2, 3))
    (received,) = [r for r in harness.mail.received if r.recipients == ["sam@three.test"]]
    assert "INV-T3" in received.message.get_content()


async def test_an_email_opt_out_still_leaves_the_call_task(harness, org_a, db):
    """An opt-out stops its channel only: no reminder email goes, each says why on the
    timeline, and the call task still asks a person to ring the customer."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "optout", email_opted_out_at=utcnow())
    invoice = add_invoice(db, customer, "INV-OUT", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(CALL_TASK_DAY, 18))

    (call,) = harness.messages(customer)
    assert call.channel == "call_task" and local(call.created_at).date() == CALL_TASK_DAY
    assert harness.mail.received == []
    db.expire_all()
    dropped = db.exec(
        select(Event.detail).where(Event.invoice_id == invoice.id, Event.kind == "reminder_dropped")
    ).all()
    assert len(dropped) == len(EXPECTED_REMINDER_DAYS)
    assert all(detail.endswith("not sent: the customer opted out of email") for detail in dropped)
    view = await chase_control.view(harness.client, invoice)
    assert view.state == "finished"


async def test_paid_in_the_ledger_as_the_reminder_falls_due_sends_nothing(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "paid")
    invoice = add_invoice(db, customer, "INV-PAID", 0, due_date=DUE)
    await harness.start(invoice)
    # The moment the first reminder is handed to the outbox, the ledger shows it paid.
    await harness.skip_to(at_london(date(2027, 3, 12), 9, 0))
    invoice = db.get(Invoice, invoice.id)
    invoice.status, invoice.amount_due = "paid", 0
    db.commit()
    await harness.skip_to(at_london(date(2027, 5, 1)))

    assert harness.messages(customer) == []
    handle = harness.client.get_workflow_handle(f"chase-{org_a.id}-{invoice.id}")
    assert await harness.outcome(handle) == "paid"


async def test_a_payment_on_the_morning_a_reminder_is_due_sends_nothing(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "signal")
    invoice = add_invoice(db, customer, "INV-SIG", 0, amount=50_000, due_date=DUE)
    await harness.start(invoice)
    # The morning the first reminder is due, before the window opens. (Not at the very instant
    # its timer fires: there the Java test server corrupts its own history when a signal
    # cancels a timer that is firing. The dev server has no such race; see
    # tests/xero/test_chasing.py for "paid at send time" through the ledger.)
    await harness.skip_to(at_london(date(2027, 3, 12), 8, 0))
    handle = harness.client.get_workflow_handle(f"chase-{org_a.id}-{invoice.id}")
    await handle.signal("payment_received", {"amount": 50_000, "currency": "GBP"})
    await harness.skip_to(at_london(date(2027, 3, 13)))
    assert harness.messages(customer) == []
    assert await harness.outcome(handle) == "paid"


async def test_a_paused_chase_resumes_on_its_date(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "pause")
    invoice = add_invoice(db, customer, "INV-PAUSE", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 1)))
    await chase_control.act(
        harness.client, invoice, Action.PAUSE, by="ann@alpha.test", until="2027-03-22"
    )
    await harness.skip_to(at_london(date(2027, 3, 22), 12))

    (message,) = harness.messages(customer)
    # On the 22nd the latest step that applies (+3, "friendly overdue") goes out; the two
    # before it are passed over, not sent late.
    assert local(message.created_at).date() == date(2027, 3, 22)
    view = await chase_control.view(harness.client, invoice)
    (sent,) = [h for h in view.history if h.kind == "reminder_sent"]
    assert sent.detail.startswith("Friendly overdue") and sent.message_id == message.id
    assert [s.status for s in view.sends][:3] == ["passed over", "passed over", "done"]
    assert any(h.kind == "paused" and "ann@alpha.test" in h.detail for h in view.history)


async def test_a_promise_to_pay_stops_chasing_until_it_passes(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "promise")
    invoice = add_invoice(db, customer, "INV-PROM", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 16)))
    sent_before = len(harness.messages(customer))
    await chase_control.act(
        harness.client, invoice, Action.PROMISE, by="customer", until="2027-04-01"
    )
    await harness.skip_to(at_london(date(2027, 4, 4), 23))
    assert len(harness.messages(customer)) == sent_before  # nothing while promised (+3 days grace)
    db.expire_all()
    assert db.get(Invoice, invoice.id).expected_payment_date == date(2027, 4, 1)

    await harness.skip_to(at_london(date(2027, 4, 5), 12))
    latest = harness.messages(customer)[-1]
    assert local(latest.created_at).date() == date(2027, 4, 5)
    view = await chase_control.view(harness.client, invoice)
    assert any(h.kind == "promise_passed" for h in view.history)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_send_now_and_escalate_bring_steps_forward(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "force")
    db.add(
        Contact(
            organisation_id=org_a.id,
            customer_id=customer.id,
            first_name="Fin",
            email="finance-director@force.test",
            kind="escalated",
        )
    )
    db.commit()
    invoice = add_invoice(db, customer, "INV-NOW", 0, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 1), 10))
    await chase_control.act(harness.client, invoice, Action.SEND_NOW, by="ann@alpha.test")
    await harness.skip_to(at_london(date(2027, 3, 2), 10))
    await chase_control.act(harness.client, invoice, Action.ESCALATE, by="ann@alpha.test")
    await harness.skip_to(at_london(date(2027, 3, 3), 12))

    first, second = harness.messages(customer)
    assert local(first.created_at).date() == date(2027, 3, 1)
    assert "finance-director" not in first.recipients
    # Escalating jumps to the final notice, which goes to the escalation contact too.
    assert local(second.created_at).date() == date(2027, 3, 2)
    assert "finance-director@force.test" in second.recipients
    assert "final" in second.subject.lower()


async def test_send_now_goes_out_at_once_even_after_todays_reminder(harness, org_a, db):
    """A person's "send now" is not held back by the one-a-day cap (the page asked them to
    confirm): it goes out within a minute, alone, and the schedule carries on."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "cap")
    first = add_invoice(db, customer, "INV-CAP1", 0, due_date=DUE)
    second = add_invoice(db, customer, "INV-CAP2", 0, due_date=date(2027, 6, 1))
    for invoice in (first, second):
        await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))  # Friday: INV-CAP1's -3 went out
    await chase_control.act(harness.client, second, Action.SEND_NOW, by="ann@alpha.test")
    await harness.skip_to(at_london(date(2027, 3, 12), 12, 5))
    assert len(harness.messages(customer)) == 2
    await harness.skip_to(at_london(date(2027, 3, 15), 12))

    friday, now, monday = harness.messages(customer)
    assert local(friday.created_at).date() == date(2027, 3, 12)
    assert "INV-CAP1" in friday.body and "INV-CAP2" not in friday.body
    assert local(now.created_at) < at_london(date(2027, 3, 12), 12, 2)
    assert "INV-CAP2" in now.body and "INV-CAP1" not in now.body
    assert local(monday.created_at).date() == date(2027, 3, 15)
    assert "INV-CAP1" in monday.body and "INV-CAP2" not in monday.body


async def test_one_reminder_a_day_a_second_waits_for_the_next_business_day(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "cap")
    first = add_invoice(db, customer, "INV-CAP1", 0, due_date=DUE)
    await harness.start(first)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))  # Friday: INV-CAP1's -3 went out
    # An invoice synced later that day whose own -3 step is due: the customer had today's
    # reminder, so it waits for Monday, and goes with INV-CAP1's in one email.
    second = add_invoice(db, customer, "INV-CAP2", 0, due_date=DUE)
    await harness.start(second)
    await harness.skip_to(at_london(date(2027, 3, 12), 15))
    assert len(harness.messages(customer)) == 1
    await harness.skip_to(at_london(date(2027, 3, 15), 12))

    friday, monday = harness.messages(customer)
    assert local(friday.created_at).date() == date(2027, 3, 12)
    assert "INV-CAP1" in friday.body and "INV-CAP2" not in friday.body
    assert local(monday.created_at).date() == date(2027, 3, 15)
    assert "INV-CAP1" in monday.body and "INV-CAP2" in monday.body


async def test_an_sms_step_texts_the_contact(harness, org_a, db):
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "text")
    contact = db.exec(select(Contact).where(Contact.customer_id == customer.id)).one()
    contact.phone = "+44 7700 900123"
    first_step = db.exec(
        select(ScheduleStep)
        .where(ScheduleStep.organisation_id == org_a.id)
        .order_by(ScheduleStep.position)
    ).first()
    first_step.channel = "sms"
    db.commit()
    invoice = add_invoice(db, customer, "INV-SMS", 0, amount=43_210, due_date=DUE)
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 12), 12))

    (message,) = harness.messages(customer)
    assert message.channel == "sms" and message.status == "sent"
    (text,) = harness.twilio.messages.values()
    assert text.to == "+447700900123"
    assert "INV-SMS" in text.body and "/pay/" in text.body and "Reply STOP" in text.body


async def test_a_continued_chase_remembers_what_it_sent(harness, org_a, db):
    """What continue-as-new carries: a chase started with the memory of the first three
    sends goes on with the fourth, and does not send those three again."""
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "memory")
    invoice = add_invoice(db, customer, "INV-MEM", 0, due_date=DUE)
    steps = db.exec(
        select(ScheduleStep)
        .where(ScheduleStep.organisation_id == org_a.id)
        .order_by(ScheduleStep.position)
    ).all()
    handled = [send_key(step.id, 0) for step in steps[:3]]
    await harness.client.start_workflow(
        InvoiceChaseWorkflow.run,
        ChaseStart(org_a.id, invoice.id, customer.id, ChaseMemory(handled=handled)),
        id=f"chase-{org_a.id}-{invoice.id}",
        task_queue=harness.task_queue,
    )
    await harness.skip_to(at_london(date(2027, 3, 31), 12))

    (message,) = harness.messages(customer)
    assert local(message.created_at).date() == date(2027, 3, 30)  # +14, Easter Tuesday


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_mail_server_that_is_down_is_retried_visibly(harness, org_a, db, smtp_server):
    catcher, _ = smtp_server
    english_org(db, org_a.id)
    customer = customer_with_contact(db, org_a.id, "down")
    invoice = add_invoice(db, customer, "INV-DOWN", 0, due_date=DUE)
    catcher.refuse = True  # 421: the server is there but not taking mail
    await harness.start(invoice)
    await harness.skip_to(at_london(date(2027, 3, 12), 9, 5))
    (message,) = harness.messages(customer)
    assert message.status == "queued" and message.attempts >= 1
    assert "421" in message.error

    catcher.refuse = False
    await harness.skip_to(at_london(date(2027, 3, 12), 12))
    (message,) = harness.messages(customer)
    assert message.status == "sent" and message.attempts >= 2
    assert [r.recipients for r in catcher.received] == [["sam@down.test"]]


async def test_chasing_selected_customers_chases_only_those_switched_on(harness, org_a, db):
    organisation = english_org(db, org_a.id)
    organisation.chase_mode = "selected"
    db.commit()
    chosen = customer_with_contact(db, org_a.id, "chosen", chasing_enabled=True)
    others = customer_with_contact(db, org_a.id, "others")  # follows the organisation
    for customer, number in ((chosen, "INV-SEL1"), (others, "INV-SEL2")):
        await harness.start(add_invoice(db, customer, number, 0, due_date=DUE))
    await harness.skip_to(at_london(date(2027, 3, 12), 12))

    assert len(harness.messages(chosen)) == 1
    assert harness.messages(others) == []
