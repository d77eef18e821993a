"""GET /Reports/AgedReceivablesByContact?contactId=...&date=...&fromDate=...&toDate=...

Xero's layout for this report (its spec's example): a Header row (Date, Number, Due Date,
the overdue text, Total, Paid, Credited, Due); a Section with the Opening Balance; a Section
with one Row per sales invoice still owing at the report date (each cell carrying the
invoice's id as an `invoiceID` attribute, the fourth saying "N days overdue") and a
SummaryRow "Total"; a Section with the SummaryRow "Closing Balance". Amounts are strings
with the currency's decimals.

Computed from the sandbox's ledger as at the report date: payments and allocations dated
after it are not counted, so Paid, Credited and Due are what they were that day. Credit the
customer has not used (credit notes, overpayments, prepayments with RemainingCredit) is a
negative row, so Due totals what the customer owes net of credit. Only invoices dated from
`fromDate` (default: the oldest open one) to `toDate` (default: the report date) are listed;
older ones still owing make the opening balance. `date` defaults to the end of the month.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from litestar import Request, Response, get

from duely.sandbox.xero.accounting import API_PATH, Call
from duely.sandbox.xero.dates import ms_timestamp, parse_request_date
from duely.sandbox.xero.errors import not_found, validation_response
from duely.sandbox.xero.ledger import SALES, Allocation, Contact, Ledger
from duely.sandbox.xero.money import decimals

HEADER = ("Date", "Number", "Due Date", "", "Total", "Paid", "Credited", "Due")
COUNTED_STATUSES = ("AUTHORISED", "PAID")


@dataclass(frozen=True, slots=True)
class Line:
    """One invoice or unused credit as at the report date, in minor units."""

    kind: str  # invoiceID, creditNoteID, overpaymentID, prepaymentID
    record_id: str
    day: date
    number: str
    due_date: date | None
    total: int
    paid: int
    credited: int

    @property
    def due(self) -> int:
        return self.total - self.paid - self.credited


def _after(allocations: list[Allocation], when: date, invoice_id: str | None = None) -> int:
    return sum(
        a.amount
        for a in allocations
        if a.date > when and (invoice_id is None or a.invoice_id == invoice_id)
    )


def report_lines(ledger: Ledger, contact_id: str, when: date) -> list[Line]:
    """What the contact owed at `when`, invoice by invoice, and its unused credit, oldest
    first."""
    lines = []
    for invoice in ledger.invoices.values():
        if (
            invoice.contact_id != contact_id
            or invoice.kind != SALES
            or invoice.status not in COUNTED_STATUSES
            or invoice.date > when
        ):
            continue
        paid_later = sum(
            ledger.payments[p].amount for p in invoice.payment_ids if ledger.payments[p].date > when
        )
        credited_later = 0
        for ids, records in (
            (invoice.credit_note_ids, ledger.credit_notes),
            (invoice.overpayment_ids, ledger.overpayments),
            (invoice.prepayment_ids, ledger.prepayments),
        ):
            for credit_id in ids:
                credit_later = _after(records[credit_id].allocations, when, invoice.invoice_id)
                credited_later += credit_later
        paid = invoice.amount_paid - paid_later
        credited = invoice.amount_credited - credited_later
        line = Line(
            "invoiceID",
            invoice.invoice_id,
            invoice.date,
            invoice.number,
            invoice.due_date,
            # The invoice's total as its amounts add up (an admin edit may set AmountDue).
            invoice.amount_due + invoice.amount_paid + invoice.amount_credited,
            paid,
            credited,
        )
        if line.due:
            lines.append(line)
    for note in ledger.credit_notes.values():
        if note.contact_id == contact_id and note.kind == "ACCRECCREDIT":
            _credit_line(lines, "creditNoteID", note.credit_note_id, note.number, note, when)
    for label, records in (
        ("Overpayment", ledger.overpayments),
        ("Prepayment", ledger.prepayments),
    ):
        for credit in records.values():
            if credit.contact_id == contact_id and credit.kind.startswith("RECEIVE"):
                kind = f"{label[0].lower()}{label[1:]}ID"
                _credit_line(lines, kind, credit.credit_id, label, credit, when)
    lines.sort(key=lambda line: (line.day, line.number))
    return lines


def _credit_line(lines: list[Line], kind: str, record_id: str, number: str, credit, when: date):  # noqa: ANN001, ANN202 - a credit note or a payment credit
    if credit.status not in COUNTED_STATUSES or credit.date > when:
        return
    remaining = credit.remaining + _after(credit.allocations, when)
    if remaining:
        used = credit.total - remaining
        lines.append(Line(kind, record_id, credit.date, number, None, -credit.total, 0, -used))


def _amount(minor: int, currency: str) -> str:
    places = decimals(currency)
    return f"{minor / 10**places:.{places}f}"


def _long_date(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _overdue(line: Line, when: date) -> str:
    if line.due_date is None or line.due_date >= when:
        return ""
    days = (when - line.due_date).days
    return f"{days} day overdue" if days == 1 else f"{days} days overdue"


def _cells(values: list[str], attribute: tuple[str, str] | None = None) -> list[dict]:
    if attribute is None:
        return [{"Value": value} for value in values]
    kind, record_id = attribute
    return [{"Value": v, "Attributes": [{"Value": record_id, "Id": kind}]} for v in values]


def aged_receivables_by_contact(
    ledger: Ledger,
    contact: Contact,
    when: date,
    from_date: date | None,
    to_date: date | None,
) -> dict:
    currency = contact.currency or ledger.organisation.base_currency
    everything = report_lines(ledger, contact.contact_id, when)
    to_date = to_date or when
    if from_date is None:
        from_date = min((line.day for line in everything), default=when)
    earlier = [line for line in everything if line.day < from_date]
    lines = [line for line in everything if from_date <= line.day <= to_date]
    opening = sum(line.due for line in earlier)

    def money(minor: int) -> str:
        return _amount(minor, currency)

    rows: list[dict] = [
        {
            "RowType": "Row",
            "Cells": _cells(
                [f"{line.day.isoformat()}T00:00:00", line.number]
                + [f"{line.due_date.isoformat()}T00:00:00" if line.due_date else ""]
                + [_overdue(line, when)]
                + [money(v) for v in (line.total, line.paid, line.credited, line.due)],
                (line.kind, line.record_id),
            ),
        }
        for line in lines
    ]
    sums = [sum(getattr(line, name) for line in lines) for name in ("total", "paid", "credited")]
    due = sum(line.due for line in lines)
    rows.append(
        {
            "RowType": "SummaryRow",
            "Cells": _cells(["Total", "", "", "", *map(money, sums), money(due)]),
        }
    )
    opening_row = [f"{from_date.isoformat()}T00:00:00", "Opening Balance", "", "", "", "", ""]
    closing = ["Closing Balance", "", "", "", *map(money, sums), money(opening + due)]
    return {
        "ReportName": "Aged Receivables By Contact",
        "ReportType": "AgedReceivablesByContact",
        "ReportTitles": [
            "Invoices",
            contact.name,
            f"From {_long_date(from_date)} to {_long_date(to_date)}",
            f"Showing payments to {_long_date(when)}",
        ],
        "ReportDate": _long_date(when),
        "Fields": [],
        "Rows": [
            {"RowType": "Header", "Cells": _cells(list(HEADER))},
            {
                "RowType": "Section",
                "Title": "",
                "Rows": [{"RowType": "Row", "Cells": _cells([*opening_row, money(opening)])}],
            },
            {"RowType": "Section", "Title": "", "Rows": rows},
            {
                "RowType": "Section",
                "Title": "",
                "Rows": [{"RowType": "SummaryRow", "Cells": _cells(closing)}],
            },
        ],
    }


def _end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@get(f"{API_PATH}/Reports/AgedReceivablesByContact")
async def get_aged_receivables_by_contact(request: Request) -> Response:
    call = Call(request)
    params = {name.lower(): value for name, value in request.query_params.items()}
    contact_id = params.get("contactid", "").strip().lower()
    if not contact_id:
        return validation_response(["A contactId is required for this report"])
    contact = call.ledger.contacts.get(contact_id)
    if contact is None:
        return not_found()
    try:
        dates = {
            name: parse_request_date(params[name]) if params.get(name) else None
            for name in ("date", "fromdate", "todate")
        }
    except ValueError as error:
        return validation_response([f"Invalid date: {error}"])
    when = dates["date"] or _end_of_month(call.xero.clock.today())
    report = aged_receivables_by_contact(
        call.ledger, contact, when, dates["fromdate"], dates["todate"]
    )
    report["UpdatedDateUTC"] = ms_timestamp(call.xero.clock.now())
    return call.answer("Reports", [report])


REPORT_HANDLERS = [get_aged_receivables_by_contact]
