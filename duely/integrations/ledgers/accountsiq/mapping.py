"""AccountsIQ's records (SOAP elements) in duely's terms (ledgers/base.py).

A customer is an `Account` of the sales ledger, known by its upper-case Code. An invoice's
header (`Invoice`: number, dates, gross, currency, status) says nothing of what is still owed
or when it falls due: the customer's statement (`CustomerStatement`) does, one line per open
transaction. duely joins the two on the invoice number (a statement line's InternalNumber).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from duely.core.money import to_minor
from duely.integrations.ledgers.accountsiq.soap import child, children, text
from duely.integrations.ledgers.base import LedgerContact, LedgerInvoice, LedgerPerson
from duely.models import InvoiceStatus


def _amount(value: str, currency: str) -> int:
    try:
        return to_minor(Decimal(value or "0"), currency)
    except InvalidOperation:
        return 0


def _day(value: str) -> date | None:
    """A dateTime as AccountsIQ writes it (local to the company, no zone): its date."""
    if not value or value.startswith("0001-01-01"):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()


@dataclass(frozen=True)
class OpenItem:
    """One statement line: what is left of one transaction, and when it falls due."""

    transaction_id: int
    number: str
    kind: str
    outstanding: Decimal
    due_date: date | None
    customer_code: str


def statement_items(statements: list[Element]) -> dict[str, OpenItem]:
    """Every open transaction on the statements: a sales invoice by its number, anything
    else (a receipt not wholly allocated) by its kind and number."""
    items: dict[str, OpenItem] = {}
    for statement in statements:
        code = text(child(statement, "CustomerState"), "CustomerCode")
        lines = child(statement, "TransactionList")
        for line in children(lines, "TransactionState") if lines is not None else []:
            kind = text(line, "Type")
            number = text(line, "InternalNumber")
            items[number if "Invoice" in kind else f"{kind}:{number}"] = OpenItem(
                transaction_id=int(text(line, "TransactionReference") or 0),
                number=number,
                kind=kind,
                outstanding=Decimal(text(line, "OutstandingAmount") or "0"),
                due_date=_day(text(line, "DueDate")),
                customer_code=code,
            )
    return items


def invoice_from_accountsiq(
    raw: Element, open_items: dict[str, OpenItem], read_at: datetime
) -> LedgerInvoice:
    """`open_items`: the statement lines of the invoice's customer; an invoice not among them
    owes nothing (paid), unless cancelled (voided)."""
    currency = text(raw, "CurrencyCode") or text(raw, "CurrrencyCode")
    number = text(raw, "InvoiceNumber")
    issued = _day(text(raw, "InvoiceDate")) or read_at.date()
    item = open_items.get(number)
    cancelled = text(raw, "Status") == "Cancelled"
    owed = 0 if cancelled or item is None else to_minor(item.outstanding, currency)
    status = (
        InvoiceStatus.VOIDED
        if cancelled
        else InvoiceStatus.OPEN
        if owed > 0
        else InvoiceStatus.PAID
    )
    return LedgerInvoice(
        external_id=text(raw, "InvoiceID"),
        number=number,
        reference=text(raw, "ExternalReference"),
        contact_external_id=text(raw, "AccountCode"),
        contact_name=text(raw, "AccountName"),
        issue_date=issued,
        # A paid invoice is on no statement: its due date is not to be had, nor needed.
        due_date=(item.due_date if item and item.due_date else issued),
        currency=currency,
        total=_amount(text(raw, "GrossAmount"), currency),
        amount_due=owed,
        status=status,
        expected_payment_date=None,
        updated_at=read_at,
    )


def contact_from_accountsiq(raw: Element, read_at: datetime) -> LedgerContact:
    person = text(raw, "Contact")
    first, _, last = person.partition(" ")
    email = text(raw, "Email")
    phone = text(raw, "MobilePhone") or text(raw, "Phone")
    people = (LedgerPerson(first, last, email, phone),) if email or phone else ()
    return LedgerContact(
        external_id=text(raw, "Code"),
        name=text(raw, "Name"),
        people=people,
        updated_at=read_at,
        archived=text(raw, "IsActive") == "false",
    )


def now() -> datetime:
    return datetime.now(UTC)
