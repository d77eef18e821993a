from dataclasses import replace
from datetime import date

import pytest
from jinja2.exceptions import SecurityError

from duely.reminders.rendering import (
    PLACEHOLDERS,
    ContactPerson,
    InvoiceLine,
    ReminderContext,
    Sender,
    UnknownPlaceholder,
    check_template,
    format_date,
    render,
    sample_context,
)

TODAY = date(2026, 3, 19)


def context(*invoices: InvoiceLine, customer: str = "Acme Fixings Ltd") -> ReminderContext:
    return ReminderContext(
        contact=ContactPerson("Jo", "Bloggs"),
        customer_name=customer,
        invoices=invoices,
        payment_link="https://pay.example.com/r/abc",
        sender=Sender("Alex Reid", "Reid Joinery"),
        today=TODAY,
    )


def line(number: str, due: date, amount: int, currency: str = "GBP") -> InvoiceLine:
    return InvoiceLine(number, due, currency, total=amount, amount_due=amount)


def body_of(template: str, ctx: ReminderContext) -> str:
    return render("Subject", template, ctx).body


def test_every_placeholder_renders_its_documented_example():
    sample = sample_context(multi=True)
    for placeholder in PLACEHOLDERS:
        if placeholder.name == "invoices":
            rendered = body_of("{{ invoices|map(attribute='number')|join(', ') }}", sample)
            assert rendered == "INV-1042, INV-1057, INV-1063"
        else:
            assert body_of(f"{{{{ {placeholder.name} }}}}", sample) == placeholder.example


def test_money_dates_and_days_are_formatted_for_people():
    ctx = context(
        InvoiceLine("INV-7", date(2026, 3, 5), "GBP", total=150000, amount_due=123450),
        line("INV-8", date(2026, 3, 10), 120000, "JPY"),
        line("INV-9", date(2026, 4, 1), 999),
    )
    template = (
        "{% for item in invoices %}"
        "{{ item.number }}|{{ item.amount_due }}|{{ item.total }}|{{ item.due_date }}|"
        "{{ item.days_overdue }}\n{% endfor %}{{ total_due }}"
    )
    assert body_of(template, ctx).splitlines() == [
        "INV-7|GBP 1,234.50|GBP 1,500.00|5 March 2026|14",
        "INV-8|JPY 120,000|JPY 120,000|10 March 2026|9",
        "INV-9|GBP 9.99|GBP 9.99|1 April 2026|0",
        "GBP 1,244.49 and JPY 120,000",
    ]
    assert format_date(date(2026, 11, 3)) == "3 November 2026"


def test_invoice_is_the_oldest_of_several():
    ctx = context(line("NEW", date(2026, 3, 1), 100), line("OLD", date(2026, 1, 1), 200))
    assert body_of("{{ invoice.number }} {{ invoices|length }}", ctx) == "OLD 2"


def test_a_reminder_needs_an_invoice():
    with pytest.raises(ValueError, match="at least one invoice"):
        render("Hi", "Hi", context())


def test_subjects_never_hold_a_line_break():
    hostile = context(line("INV-1", TODAY, 100), customer="Acme\r\nBcc: thief@example.com")
    subject = "Invoice {{ invoice.number }}\n{% if True %}\nfor {{ customer.name }}\n{% endif %}"
    rendered = render(subject, "Body", hostile).subject
    assert rendered == "Invoice INV-1 for Acme Bcc: thief@example.com"


def test_plain_text_is_not_html_escaped():
    ctx = context(line("INV-1", TODAY, 100), customer="Smith & Sons <Ltd>")
    assert body_of("{{ customer.name }}", ctx) == "Smith & Sons <Ltd>"


def test_a_typo_fails_the_send_rather_than_leaving_a_gap():
    with pytest.raises(UnknownPlaceholder, match="invoice.numbr"):
        render("Hi", "Invoice {{ invoice.numbr }}", sample_context(multi=False))


@pytest.mark.parametrize(
    ("subject", "body", "placeholder", "suggestion", "line"),
    [
        ("Invoice {{ invoice.numbr }}", "Body", "invoice.numbr", "invoice.number", 1),
        ("Hi", "Hello\n{{ contact.firstname }},", "contact.firstname", "contact.first_name", 2),
        ("Hi", "Total:\n\n{{ totl_due }}", "totl_due", "total_due", 3),
        ("Hi", "{{ invoice_number }}", "invoice_number", "invoice.number", 1),
        # A loop variable is named as the template writes it, and so is the suggestion.
        (
            "Hi",
            "{% for item in invoices %}\n{{ item.amount }}\n{% endfor %}",
            "item.amount",
            "item.amount_due",
            2,
        ),
        # A branch the sample customer never reaches is still read.
        (
            "Hi",
            "{% if invoice.days_overdue > 400 %}\n{{ sender.nmae }}\n{% endif %}",
            "sender.nmae",
            "sender.name",
            2,
        ),
    ],
)
def test_unknown_placeholders_are_named_with_the_closest_valid_one(
    subject, body, placeholder, suggestion, line
):
    [problem] = check_template(subject, body)
    assert (problem.placeholder, problem.suggestion, problem.line) == (
        placeholder,
        suggestion,
        line,
    )
    assert problem.part == ("subject" if placeholder in subject else "body")
    assert problem.message == (
        f'Line {line}: "{placeholder}" is not a placeholder. Did you mean "{suggestion}"?'
    )


def test_a_placeholder_with_no_near_match_points_to_the_list():
    [problem] = check_template("Hi", "{{ shoe_size }}")
    assert problem.suggestion is None
    assert problem.message.endswith("See the available placeholders.")


def test_a_syntax_error_reports_its_line():
    [problem] = check_template("Hi", "Hello,\n\nInvoice {{ invoice.number }\nThanks")
    assert problem.part == "body"
    assert problem.line == 3
    assert problem.message.startswith("Line 3: unexpected '}'.")


def test_an_unclosed_block_and_an_unknown_filter_are_reported():
    [unclosed] = check_template("Hi", "{% if invoices|length > 1 %}\nSeveral")
    assert "endif" in unclosed.message
    [unknown_filter] = check_template("Hi", "\n{{ invoice.number|uper }}")
    assert unknown_filter.message.startswith("Line 2: No filter named 'uper'.")


def test_empty_parts_are_reported():
    problems = check_template(" ", "")
    assert [problem.message for problem in problems] == [
        "The subject is empty.",
        "The body is empty.",
    ]


@pytest.mark.parametrize(
    "escape",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ invoice.__init__.__globals__ }}",
        "{{ invoice._owner }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ invoices.append(invoice) }}",
        "{{ 9 ** 9 ** 9 }}",
    ],
)
def test_sandbox_escapes_are_refused(escape):
    [problem] = check_template("Hi", f"Hello\n{escape}")
    assert problem.line == 2
    assert problem.message.startswith("Line 2: This is not allowed in a template")
    with pytest.raises(SecurityError):
        render("Hi", escape, sample_context(multi=False))


def test_the_sample_context_is_single_or_multi():
    single, multi = sample_context(multi=False), sample_context(multi=True)
    assert len(single.invoices) == 1
    assert len(multi.invoices) == 3
    assert {invoice.currency for invoice in multi.invoices} == {"GBP", "EUR"}
    assert replace(multi, invoices=multi.invoices[:1]) == single


def test_credit_is_set_against_what_is_due_in_its_own_currency_only():
    ctx = replace(
        context(
            line("INV-1", date(2026, 3, 1), 50000), line("INV-2", date(2026, 3, 2), 9000, "EUR")
        ),
        credit=(("GBP", 12000), ("USD", 500)),
    )
    template = "{{ customer.credit }}|{{ total_due }}|{{ net_due }}"
    assert body_of(template, ctx) == (
        "GBP 120.00 and USD 5.00|GBP 500.00 and EUR 90.00|GBP 380.00 and EUR 90.00"
    )


def test_a_customer_without_credit_owes_the_total_and_a_credit_line_can_be_left_out():
    ctx = context(line("INV-1", date(2026, 3, 1), 50000))
    template = (
        "{{ net_due }}{% if customer.credit %} (after your credit of {{ customer.credit }})"
        "{% endif %}"
    )
    assert body_of(template, ctx) == "GBP 500.00"


def test_credit_larger_than_what_is_due_leaves_nothing_to_pay():
    ctx = replace(context(line("INV-1", date(2026, 3, 1), 5000)), credit=(("GBP", 8000),))
    assert body_of("{{ net_due }}", ctx) == "GBP 0.00"
