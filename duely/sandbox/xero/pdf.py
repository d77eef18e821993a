"""A small, valid PDF of an invoice (one page, see duely.sandbox.pdf).

Enough for a customer portal's "download invoice" link: number, dates, customer, the line,
totals and what is still due.
"""

from __future__ import annotations

from duely.sandbox.pdf import one_page_pdf
from duely.sandbox.xero.ledger import Invoice, Ledger
from duely.sandbox.xero.money import decimals


def _money(minor: int, currency: str) -> str:
    places = decimals(currency)
    return f"{currency} {minor / 10**places:,.{places}f}"


def _lines(ledger: Ledger, invoice: Invoice) -> list[tuple[int, str]]:
    """(font size, text) rows from the top of the page down."""
    contact = ledger.contacts.get(invoice.contact_id)
    currency = invoice.currency
    title = "TAX INVOICE" if invoice.kind == "ACCREC" else "BILL"
    return [
        (20, title),
        (12, ledger.organisation.name),
        (10, ""),
        (11, f"Invoice number: {invoice.number}"),
        (11, f"Reference: {invoice.reference or '-'}"),
        (11, f"Invoice date: {invoice.date:%d %b %Y}"),
        (11, f"Due date: {invoice.due_date:%d %b %Y}"),
        (11, f"To: {contact.name if contact else ''}"),
        (10, ""),
        (11, f"{invoice.description or 'Services'}: {_money(invoice.sub_total, currency)}"),
        (11, f"Tax: {_money(invoice.total_tax, currency)}"),
        (12, f"Total: {_money(invoice.total, currency)}"),
        (11, f"Paid: {_money(invoice.amount_paid, currency)}"),
        (11, f"Credited: {_money(invoice.amount_credited, currency)}"),
        (14, f"Amount due: {_money(invoice.amount_due, currency)}"),
        (9, f"Status: {invoice.status}"),
    ]


def invoice_pdf(ledger: Ledger, invoice: Invoice) -> bytes:
    return one_page_pdf(_lines(ledger, invoice), invoice.number, "duely Xero sandbox")
