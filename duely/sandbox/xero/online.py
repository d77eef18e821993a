"""GET /Invoices/{InvoiceID}/OnlineInvoice, and the page its URL opens.

Xero answers with the invoice's page on in.xero.com, a link the customer can follow without
signing in. The sandbox's page lives under its own base URL (loopback), at
`/xero/online-invoice/{token}`, outside the API's gateway: no token or tenant header needed.
Xero has no online invoice for a draft or deleted invoice, nor for a bill.
"""

from __future__ import annotations

import base64
import hashlib
import html

from litestar import Request, Response, get
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call
from duely.sandbox.xero.errors import not_found, validation_response
from duely.sandbox.xero.invoices import find_invoice
from duely.sandbox.xero.ledger import SALES, Invoice, Ledger
from duely.sandbox.xero.money import decimals, to_major
from duely.sandbox.xero.sandbox import XeroSandbox

PAGE_PATH = "/online-invoice"
NO_ONLINE_INVOICE = "An online invoice is not available for a draft, deleted or purchase invoice"


def online_token(tenant_id: str, invoice_id: str) -> str:
    """An opaque, stable token for the invoice's page (like in.xero.com's)."""
    digest = hashlib.sha256(f"online-invoice/{tenant_id}/{invoice_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:40]


def online_invoice_url(xero: XeroSandbox, tenant_id: str, invoice_id: str) -> str:
    return f"{xero.base_url}{PAGE_PATH}/{online_token(tenant_id, invoice_id)}"


def has_online_invoice(invoice: Invoice) -> bool:
    return invoice.kind == SALES and invoice.status not in ("DRAFT", "DELETED")


@get(f"{API_PATH}/Invoices/{{reference:str}}/OnlineInvoice")
async def get_online_invoice(request: Request, reference: FromPath[str]) -> Response:
    call = Call(request)
    invoice = find_invoice(call, reference)
    if invoice is None:
        return not_found()
    if not has_online_invoice(invoice):
        element = {"InvoiceID": invoice.invoice_id}
        return validation_response([NO_ONLINE_INVOICE], element)
    url = online_invoice_url(call.xero, call.tenant_id, invoice.invoice_id)
    return call.answer("OnlineInvoices", [{"OnlineInvoiceUrl": url}])


def _find(xero: XeroSandbox, token: str) -> tuple[Ledger, Invoice] | None:
    for ledger in xero.store.ledgers.values():
        for invoice in ledger.invoices.values():
            if online_token(ledger.tenant_id, invoice.invoice_id) == token:
                return ledger, invoice
    return None


def _money(minor: int, currency: str) -> str:
    return f"{currency} {to_major(minor, currency):,.{decimals(currency)}f}"


def invoice_page(ledger: Ledger, invoice: Invoice) -> str:
    contact = ledger.contacts.get(invoice.contact_id)
    rows = [
        ("Invoice number", invoice.number),
        ("To", contact.name if contact else ""),
        ("Reference", invoice.reference),
        ("Issue date", invoice.date.isoformat()),
        ("Due date", invoice.due_date.isoformat()),
        ("Description", invoice.description or invoice.number),
        ("Total", _money(invoice.total, invoice.currency)),
        ("Paid", _money(invoice.amount_paid, invoice.currency)),
        ("Credited", _money(invoice.amount_credited, invoice.currency)),
        ("Amount due", _money(invoice.amount_due, invoice.currency)),
        ("Status", invoice.status),
    ]
    cells = "".join(
        f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    organisation = html.escape(ledger.organisation.name)
    title = f"Invoice {html.escape(invoice.number)} from {organisation}"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title></head><body><h1>{title}</h1>"
        f"<table>{cells}</table></body></html>"
    )


@get(f"{PAGE_PATH}/{{token:str}}", media_type="text/html")
async def online_invoice_page(request: Request, token: FromPath[str]) -> Response:
    found = _find(request.app.state.xero, token)
    if found is None or not has_online_invoice(found[1]):
        return Response("Invoice not found", status_code=404, media_type="text/plain")
    return Response(invoice_page(*found), media_type="text/html")


ONLINE_INVOICE_HANDLERS = [get_online_invoice]
ONLINE_INVOICE_PAGES = [online_invoice_page]
