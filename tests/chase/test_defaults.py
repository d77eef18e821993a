from datetime import date

import pytest

from duely.models.chasing import Channel
from duely.models.ledger import ContactKind
from duely.reminders.defaults import DEFAULT_SCHEDULE, DEFAULT_TEMPLATES, TemplatePlan
from duely.reminders.rendering import (
    ContactPerson,
    InvoiceLine,
    ReminderContext,
    Sender,
    check_template,
    render,
)

TODAY = date(2026, 3, 19)
LINK = "https://pay.example.com/r/k7Qx9"
TEMPLATES = pytest.mark.parametrize("template", DEFAULT_TEMPLATES, ids=lambda t: t.name)


def context(*invoices: InvoiceLine) -> ReminderContext:
    return ReminderContext(
        contact=ContactPerson("Jo", "Bloggs"),
        customer_name="Acme Fixings Ltd",
        invoices=invoices,
        payment_link=LINK,
        sender=Sender("Alex Reid", "Reid Joinery"),
        today=TODAY,
    )


def assert_reads_cleanly(subject: str, body: str) -> None:
    for text in (subject, body):
        assert "{{" not in text and "{%" not in text and "}}" not in text
    assert "\n" not in subject
    assert "\n\n\n" not in body
    assert LINK in body
    assert body.startswith("Hello Jo,") or body.startswith("Dear Jo,")
    assert body.endswith("Kind regards,\n\nAlex Reid\nReid Joinery")


def test_the_five_templates_escalate_in_tone():
    assert [(t.name, t.tone) for t in DEFAULT_TEMPLATES] == [
        ("Before due", "friendly"),
        ("Due today", "friendly"),
        ("Friendly overdue", "friendly"),
        ("Firm overdue", "firm"),
        ("Final notice", "final"),
    ]


@TEMPLATES
def test_every_default_template_passes_the_save_check(template: TemplatePlan):
    assert check_template(template.subject, template.body) == []


@TEMPLATES
def test_one_invoice(template: TemplatePlan):
    invoice = InvoiceLine("INV-2001", date(2026, 3, 5), "GBP", total=150000, amount_due=123450)
    message = render(template.subject, template.body, context(invoice))
    assert_reads_cleanly(message.subject, message.body)
    assert "INV-2001" in message.subject
    assert "GBP 1,234.50" in message.body
    assert "5 March 2026" in message.body
    assert "GBP 1,500.00" not in message.body  # the amount still due, not the invoice total
    if template.tone != "friendly":
        assert "14 days overdue" in message.body


@TEMPLATES
def test_three_invoices_in_two_currencies(template: TemplatePlan):
    invoices = (
        InvoiceLine("INV-2003", date(2026, 3, 22), "EUR", total=30000, amount_due=30000),
        InvoiceLine("INV-2001", date(2026, 3, 5), "GBP", total=150000, amount_due=100000),
        InvoiceLine("INV-2002", date(2026, 3, 12), "GBP", total=20000, amount_due=20000),
    )
    message = render(template.subject, template.body, context(*invoices))
    assert_reads_cleanly(message.subject, message.body)
    assert "Total: GBP 1,200.00 and EUR 300.00" in message.body
    listed = [row for row in message.body.splitlines() if row.startswith("- Invoice")]
    assert listed == [
        "- Invoice INV-2001, due 5 March 2026: GBP 1,000.00",
        "- Invoice INV-2002, due 12 March 2026: GBP 200.00",
        "- Invoice INV-2003, due 22 March 2026: EUR 300.00",
    ]


def test_the_standard_schedule():
    steps = DEFAULT_SCHEDULE.steps
    assert DEFAULT_SCHEDULE.name == "Standard"
    assert [step.offset_days for step in steps] == [-3, 0, 3, 14, 30, 37]
    assert [step.channel for step in steps] == ["email"] * 5 + ["call_task"]
    assert {step.channel for step in steps} <= set(Channel)


def test_offsets_ascend_and_repeats_end_before_the_next_step():
    steps = DEFAULT_SCHEDULE.steps
    for step, after in zip(steps, steps[1:], strict=False):
        last_send = step.offset_days + (step.repeat_every_days or 0) * (step.repeat_max_times or 0)
        assert step.offset_days < after.offset_days
        assert last_send < after.offset_days
    firm = next(step for step in steps if step.template == "Firm overdue")
    assert (firm.repeat_every_days, firm.repeat_max_times) == (7, 2)


def test_steps_name_only_templates_that_exist():
    names = {template.name for template in DEFAULT_TEMPLATES}
    assert len(names) == len(DEFAULT_TEMPLATES)
    for step in DEFAULT_SCHEDULE.steps:
        if step.channel == Channel.CALL_TASK:
            assert step.template is None
        else:
            assert step.template in names
    assert {step.template for step in DEFAULT_SCHEDULE.steps} - {None} == names


def test_only_the_final_notice_reaches_escalated_contacts():
    for step in DEFAULT_SCHEDULE.steps:
        assert set(step.recipient_kinds) <= set(ContactKind)
        assert ContactKind.NORMAL in step.recipient_kinds
        escalated = ContactKind.ESCALATED in step.recipient_kinds
        assert escalated == (step.template == "Final notice")
