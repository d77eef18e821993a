"""The monthly statement: every outstanding invoice of one customer, totals per currency and
the payment link, as plain text. Pure, so the UI and tests can render it too."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from duely.core.money import format_money
from duely.receivables.aging import days_overdue
from duely.receivables.credit import net_due
from duely.reminders.rendering import InvoiceLine, format_date


def statement_subject(business: str, customer: str, day: date) -> str:
    return f"Statement of account from {business} for {customer}, {format_date(day)}"


def statement_body(
    customer: str,
    contact_first_name: str,
    invoices: Sequence[InvoiceLine],
    payment_link: str,
    sender: str,
    day: date,
    credit: Mapping[str, int] | None = None,
) -> str:
    lines = sorted(invoices, key=lambda line: (line.due_date, line.number))
    greeting = f"Dear {contact_first_name}," if contact_first_name else "Hello,"
    rows = []
    for line in lines:
        late = days_overdue(line.due_date, day)
        when = f"{late} days overdue" if late > 0 else f"due {format_date(line.due_date)}"
        rows.append(
            f"  {line.number:<14} {format_money(line.amount_due, line.currency):>16}   {when}"
        )
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.currency] = totals.get(line.currency, 0) + line.amount_due
    # Amounts in different currencies are never added together.
    total_lines = [
        f"  Total {currency}: {format_money(amount, currency)}"
        for currency, amount in totals.items()
    ]
    # Credit (credit notes, overpayments) the business has yet to set against these invoices.
    for owed in net_due(totals.items(), credit or {}):
        if owed.credit:
            total_lines += [
                f"  Credit available {owed.currency}: {format_money(owed.credit, owed.currency)}",
                f"  Net balance {owed.currency}: {format_money(owed.net, owed.currency)}",
            ]
    return "\n".join(
        [
            greeting,
            "",
            f"Here is {customer}'s statement of account as of {format_date(day)}.",
            "",
            "Outstanding invoices:",
            *rows,
            "",
            *total_lines,
            "",
            f"You can see each invoice and pay online here: {payment_link}",
            "",
            "If you have already paid, thank you, and please ignore this statement.",
            "",
            "Kind regards,",
            sender,
        ]
    )
