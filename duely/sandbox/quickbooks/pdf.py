"""GET /invoice/{id}/pdf: a small, valid one-page PDF of the invoice (duely.sandbox.pdf)."""

from __future__ import annotations

from duely.sandbox.pdf import one_page_pdf
from duely.sandbox.quickbooks.company import Company, Invoice


def _money(minor: int, currency: str) -> str:
    return f"{currency} {minor / 100:,.2f}"


def invoice_pdf(company: Company, invoice: Invoice) -> bytes:
    customer = company.customers.get(invoice.customer_id)
    currency = invoice.currency
    rows = [
        (20, "INVOICE"),
        (12, company.name),
        (10, f"{company.address_line}, {company.city} {company.postal_code}"),
        (10, ""),
        (11, f"Invoice no.: {invoice.doc_number}"),
        (11, f"Date: {invoice.txn_date:%d/%m/%Y}"),
        (11, f"Due date: {invoice.due_date:%d/%m/%Y}"),
        (11, f"Bill to: {customer.display_name if customer else ''}"),
        (10, ""),
        *((11, f"{line.description}: {_money(line.amount, currency)}") for line in invoice.lines),
        (12, f"Total: {_money(invoice.total, currency)}"),
        (14, f"Balance due: {_money(invoice.balance, currency)}"),
    ]
    return one_page_pdf(rows, f"Invoice {invoice.doc_number}", "duely QuickBooks sandbox")
