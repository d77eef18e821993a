"""Checking a spreadsheet's rows, one at a time, into customers or invoices to import.

Every row gives one Checked: its record when the row is good, else every problem found in it,
each naming the row, the column and what is wrong in words a finance person reads. Rows are
streamed: all that is kept between them is what finding duplicates needs (each invoice number
or customer code seen, with the row it was first on).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from collections.abc import Mapping as AnyMapping
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from duely.core.money import format_money
from duely.spreadsheets.columns import CUSTOMERS, INVOICES, Kind, Mapping
from duely.spreadsheets.currencies import CURRENCIES
from duely.spreadsheets.reading import Sheet, SheetRow
from duely.spreadsheets.values import (
    Amount,
    DateOrder,
    Invalid,
    minor_units,
    numeric_order,
    parse_amount,
    parse_currency,
    parse_date,
    parse_emails,
    parse_status,
)

# The longest text duely keeps for each (duely.models' column sizes).
MAX_LENGTHS = {
    "customer_code": 100,
    "name": 300,
    "email": 320,
    "phone": 50,
    "contact_name": 400,
    "invoice_number": 100,
    "reference": 255,
}


@dataclass(frozen=True)
class Problem:
    row: int
    """1-based, as the person sees it in Excel or a text editor."""
    column: str
    """The field's label ("Due date")."""
    reason: str
    field: str = ""
    """The field's name ("due_date")."""


@dataclass(frozen=True)
class ImportedCustomer:
    code: str
    name: str
    email: str
    phone: str
    contact_name: str
    other_emails: tuple[str, ...] = ()
    """Further addresses when the email cell held several ("a@x.com; b@x.com")."""


@dataclass(frozen=True)
class ImportedInvoice:
    number: str
    customer_code: str
    issue_date: date | None
    due_date: date
    currency: str
    total: int
    """In the currency's minor units."""
    amount_due: int
    status: str
    """"open", "paid" or "voided" (duely.models.InvoiceStatus's values)."""
    reference: str


R = TypeVar("R")


@dataclass(frozen=True)
class Checked(Generic[R]):
    number: int
    """The row's number."""
    record: R | None
    """None when the row has problems."""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Row:
    """One row's cells by field, and the problems found so far."""

    def __init__(self, row: SheetRow, mapping: Mapping, kind: Kind) -> None:
        self.row, self.mapping, self.kind = row, mapping, kind
        self.problems: list[Problem] = []

    def text(self, name: str) -> str:
        index = self.mapping.get(name)
        if index is None or index >= len(self.row.cells):
            return ""
        return self.row.cells[index].strip()

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(Problem(self.row.number, self.kind.label(name), reason, name))

    def problem_fields(self) -> set[str]:
        return {problem.field for problem in self.problems}

    def required(self, name: str, missing: str) -> str:
        value = self.text(name)
        if not value:
            self.problem(name, missing)
        return self.fits(name, value)

    def fits(self, name: str, value: str) -> str:
        limit = MAX_LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            label = self.kind.label(name)
            self.problem(name, f"{label} is {len(value)} characters long: at most {limit} fit")
        return value


def _fold_key(text: str) -> str:
    return " ".join(text.casefold().split())


# --- customers -------------------------------------------------------------------------------


def validate_customers(
    sheet_rows: Sheet | Iterable[SheetRow], mapping: Mapping
) -> Iterator[Checked[ImportedCustomer]]:
    """Each row checked as a customer: a code, a name and an email address are needed; a code
    may appear once."""
    rows = sheet_rows.rows() if isinstance(sheet_rows, Sheet) else sheet_rows
    first_row: dict[str, int] = {}
    for sheet_row in rows:
        row = _Row(sheet_row, mapping, CUSTOMERS)
        code = row.required("customer_code", "No customer code")
        if code:
            key = _fold_key(code)
            if key in first_row:
                row.problem(
                    "customer_code",
                    f"Customer code {code} appears again on row {sheet_row.number} "
                    f"(first on row {first_row[key]})",
                )
            else:
                first_row[key] = sheet_row.number
        name = row.required("name", "No customer name")
        emails: list[str] = []
        email_text = row.text("email")
        if not email_text:
            row.problem("email", "No email address")
        else:
            try:
                emails = parse_emails(email_text, "Email")
            except Invalid as invalid:
                row.problem("email", invalid.reason)
            else:
                for address in emails:
                    row.fits("email", address)
        phone = row.fits("phone", row.text("phone"))
        contact_name = row.fits("contact_name", row.text("contact_name"))
        if row.problems:
            yield Checked(sheet_row.number, None, row.problems)
        else:
            customer = ImportedCustomer(
                code, name, emails[0], phone, contact_name, tuple(emails[1:])
            )
            yield Checked(sheet_row.number, customer, [])


# --- invoices --------------------------------------------------------------------------------


def infer_date_order(sheet_rows: Iterable[SheetRow], mapping: Mapping) -> DateOrder | None:
    """The order of the file's numeric dates, when some date shows it (a day over 12: 25/04/2026
    is day/month/year) and none shows the other; None when no date shows it or dates disagree
    (then dates that read both ways are problems, and the others read the only way they can)."""
    seen: set[DateOrder] = set()
    columns = [mapping[name] for name in ("issue_date", "due_date") if name in mapping]
    for row in sheet_rows:
        for index in columns:
            if index < len(row.cells) and (order := numeric_order(row.cells[index])):
                seen.add(order)
                if len(seen) > 1:
                    return None
    return next(iter(seen)) if seen else None


_LEGAL_ENDINGS = frozenset(
    ("ltd", "limited", "inc", "incorporated", "llc", "llp", "plc", "gmbh", "corp", "corporation")
)


class _Customers:
    """Finds the customer a row names, by code or, when the file has no code, by name.

    A code matches exactly, else ignoring case. A name matches ignoring case, spacing,
    punctuation and a legal ending ("Acme" is "ACME Ltd." and "Acme Limited"); when no name
    matches, a name cell that holds one of the customers' codes names that customer.
    """

    def __init__(self, codes: set[str], names: AnyMapping[str, str]) -> None:
        self.codes = codes
        self.folded_codes: dict[str, str | None] = {}
        for code in codes:
            key = code.casefold()
            self.folded_codes[key] = None if key in self.folded_codes else code
        self.names: dict[str, set[str]] = {}
        for name, code in names.items():
            self.names.setdefault(self.name_key(name), set()).add(code)

    @staticmethod
    def name_key(name: str) -> str:
        words = re.sub(r"[^\w]+", " ", name.casefold().replace("&", " and ")).split()
        while len(words) > 1 and words[-1] in _LEGAL_ENDINGS:
            words.pop()
        return " ".join(words)

    def by_code(self, code: str) -> str | None:
        if code in self.codes:
            return code
        return self.folded_codes.get(code.casefold())

    def resolve(self, row: _Row) -> str:
        code = row.text("customer_code")
        if code:
            found = self.by_code(code)
            if found is None:
                row.problem("customer_code", f"Customer code {code} is not among your customers")
                return code
            return found
        name = row.text("customer_name")
        if name:
            codes = self.names.get(self.name_key(name), set())
            if len(codes) == 1:
                return next(iter(codes))
            if len(codes) > 1:
                listed = ", ".join(sorted(codes))
                row.problem(
                    "customer_name",
                    f"Customer '{name}' matches more than one of your customers ({listed}): "
                    "add a Customer code column",
                )
                return ""
            found = self.by_code(name)
            if found is not None:
                return found
            row.problem("customer_name", f"Customer '{name}' is not among your customers")
            return ""
        if "customer_code" in row.mapping or "customer_name" not in row.mapping:
            row.problem("customer_code", "No customer code")
        else:
            row.problem("customer_name", "No customer")
        return ""


def validate_invoices(
    sheet_rows: Sheet | Iterable[SheetRow],
    mapping: Mapping,
    *,
    known_customer_codes: set[str],
    base_currency: str,
    date_order: DateOrder | str | None,
    known_customer_names: AnyMapping[str, str] | None = None,
) -> Iterator[Checked[ImportedInvoice]]:
    """Each row checked as an invoice, lazily (the arguments are checked at the call).

    `date_order` "DMY" or "MDY" is the person's word for the file; None infers it from the
    file (infer_date_order), which needs a first pass: give a Sheet (or a list of rows), not a
    one-pass iterator. `known_customer_names` (name -> code) lets a file with a customer name
    column and no code column name its customers.
    """
    order = _date_order(date_order, sheet_rows, mapping)
    base = parse_currency(base_currency) if base_currency else ""
    if not base:
        raise ValueError("base_currency must be a currency code")
    rows = sheet_rows.rows() if isinstance(sheet_rows, Sheet) else sheet_rows
    customers = _Customers(known_customer_codes, known_customer_names or {})
    return _checked_invoices(rows, mapping, customers, base, order)


def _checked_invoices(
    rows: Iterable[SheetRow],
    mapping: Mapping,
    customers: _Customers,
    base: str,
    order: DateOrder | None,
) -> Iterator[Checked[ImportedInvoice]]:
    first_row: dict[str, int] = {}
    for sheet_row in rows:
        row = _Row(sheet_row, mapping, INVOICES)
        number = row.required("invoice_number", "No invoice number")
        if number:
            key = _fold_key(number)
            if key in first_row:
                row.problem(
                    "invoice_number",
                    f"Invoice number {number} appears again on row {sheet_row.number} "
                    f"(first on row {first_row[key]})",
                )
            else:
                first_row[key] = sheet_row.number
        customer_code = customers.resolve(row)
        issue_date = _date(row, "issue_date", order, required=False)
        due_date = _date(row, "due_date", order, required=True)
        if issue_date and due_date and due_date < issue_date:
            row.problem(
                "due_date",
                f"Due date {due_date.isoformat()} is before the issue date "
                f"{issue_date.isoformat()}",
            )
        total = _amount(row, "total", required=True)
        amount_due = _amount(row, "amount_due", required=False)
        currency = _currency(row, base, total, amount_due)
        total_minor = _minor(row, "total", total, currency)
        due_minor = _minor(row, "amount_due", amount_due, currency)
        status = _status(row)
        if due_minor is None and "amount_due" not in row.problem_fields():
            due_minor = 0 if status in ("paid", "voided") else total_minor
        if status == "voided":
            due_minor = 0
        elif total_minor is not None and due_minor is not None and currency:
            if due_minor > total_minor:
                row.problem(
                    "amount_due",
                    f"Amount due {format_money(due_minor, currency)} is more than the total "
                    f"{format_money(total_minor, currency)}",
                )
            if status == "paid" and due_minor > 0 and amount_due is not None:
                row.problem(
                    "status",
                    f"Status is '{row.text('status')}' but the amount due is "
                    f"{format_money(due_minor, currency)}",
                )
            if status is None:
                status = "paid" if due_minor == 0 else "open"
            elif status == "open" and due_minor == 0:
                status = "paid"
        reference = row.fits("reference", row.text("reference"))
        if row.problems:
            yield Checked(sheet_row.number, None, row.problems)
            continue
        assert due_date is not None and total_minor is not None and due_minor is not None
        assert status is not None
        invoice = ImportedInvoice(
            number=number,
            customer_code=customer_code,
            issue_date=issue_date,
            due_date=due_date,
            currency=currency,
            total=total_minor,
            amount_due=due_minor,
            status=status,
            reference=reference,
        )
        yield Checked(sheet_row.number, invoice, [])


def _date_order(
    date_order: str | None, sheet_rows: Sheet | Iterable[SheetRow], mapping: Mapping
) -> DateOrder | None:
    if date_order is not None:
        upper = date_order.upper()
        if upper == "DMY":
            return "DMY"
        if upper == "MDY":
            return "MDY"
        raise ValueError(f"date_order must be 'DMY', 'MDY' or None, not {date_order!r}")
    if isinstance(sheet_rows, Sheet):
        return infer_date_order(sheet_rows.rows(), mapping)
    if isinstance(sheet_rows, Iterator):
        raise TypeError(
            "date_order=None infers the order from a first pass over the rows: pass the Sheet "
            "(or a list), or pass date_order=infer_date_order(sheet.rows(), mapping)"
        )
    return infer_date_order(sheet_rows, mapping)


def _date(row: _Row, name: str, order: DateOrder | None, *, required: bool) -> date | None:
    text = row.text(name)
    if not text:
        if required:
            row.problem(name, f"No {row.kind.label(name).lower()}")
        return None
    try:
        return parse_date(text, row.kind.label(name), order)
    except Invalid as invalid:
        row.problem(name, invalid.reason)
        return None


def _amount(row: _Row, name: str, *, required: bool) -> Amount | None:
    text = row.text(name)
    label = row.kind.label(name)
    if not text:
        if required:
            row.problem(name, f"No {label.lower()}")
        return None
    try:
        amount = parse_amount(text, label)
    except Invalid as invalid:
        row.problem(name, invalid.reason)
        return None
    if amount.value < 0:
        row.problem(name, f"{label} '{text}' is negative")
        return None
    return amount


def _currency(row: _Row, base: str, *amounts: Amount | None) -> str:
    """The row's currency column, else the currency its amounts name, else the base; "" when
    the column's text is no currency. Amounts naming another currency are problems."""
    text = row.text("currency")
    named = [amount.currency for amount in amounts if amount and amount.currency]
    if text:
        try:
            currency = parse_currency(text, row.kind.label("currency"))
        except Invalid as invalid:
            row.problem("currency", invalid.reason)
            return ""
    else:
        currency = named[0] if named else base
    for name in ("total", "amount_due"):
        amount = amounts[0] if name == "total" else amounts[1]
        if amount and amount.currency and amount.currency != currency:
            row.problem(
                name,
                f"{row.kind.label(name)} '{row.text(name)}' is in {amount.currency}, "
                f"but the invoice's currency is {currency}",
            )
    assert currency in CURRENCIES
    return currency


def _minor(row: _Row, name: str, amount: Amount | None, currency: str) -> int | None:
    if amount is None or not currency:
        return None
    try:
        return minor_units(amount.value, currency, row.kind.label(name), row.text(name))
    except Invalid as invalid:
        row.problem(name, invalid.reason)
        return None


def _status(row: _Row) -> str | None:
    text = row.text("status")
    if not text:
        return None
    try:
        return parse_status(text, row.kind.label("status"))
    except Invalid as invalid:
        row.problem("status", invalid.reason)
        return None
