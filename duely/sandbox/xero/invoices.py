"""GET /Invoices, GET /Invoices/{InvoiceID} (JSON or, with Accept: application/pdf, the PDF)
and POST /Invoices/{InvoiceID} (the expected payment date)."""

from __future__ import annotations

import re
from datetime import datetime

from litestar import Request, Response, get, post
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call, list_endpoint
from duely.sandbox.xero.dates import parse_request_date
from duely.sandbox.xero.errors import not_found, validation_error
from duely.sandbox.xero.fields import invoice_fields
from duely.sandbox.xero.ledger import Invoice
from duely.sandbox.xero.listing import select
from duely.sandbox.xero.pdf import invoice_pdf
from duely.sandbox.xero.representations import envelope, invoice_json
from duely.sandbox.xero.store import NOT_EDITABLE, OPEN_FOR_EDIT, XeroValidationError

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _invoices(call: Call) -> Response:
    query = call.list_query()
    ids = {value.lower() for value in query.csv("IDs")}
    numbers = set(query.csv("InvoiceNumbers"))
    contact_ids = {value.lower() for value in query.csv("ContactIDs")}
    statuses = {value.upper() for value in query.csv("Statuses")}
    term = query.get("searchTerm").lower()
    mine_only = query.flag("createdByMyApp")  # the sandbox's invoices were all made "in Xero"

    def wanted(invoice: Invoice) -> bool:
        return not (
            mine_only
            or (ids and invoice.invoice_id not in ids)
            or (numbers and invoice.number not in numbers)
            or (contact_ids and invoice.contact_id not in contact_ids)
            or (statuses and invoice.status not in statuses)
            or (term and term not in f"{invoice.number} {invoice.reference}".lower())
        )

    ledger = call.ledger
    fields = invoice_fields(ledger)
    records = select(ledger.invoices.values(), query, fields, "Invoice", _updated, wanted)
    detail = "page" if query.page else "list"
    summary_only = query.flag("summaryOnly")
    return call.listing(
        "Invoices",
        records,
        query,
        lambda i: invoice_json(ledger, i, detail=detail, summary_only=summary_only),
    )


def _updated(invoice: Invoice) -> datetime:
    return invoice.updated


get_invoices = get(f"{API_PATH}/Invoices", name="xero-invoices")(list_endpoint(_invoices))


def find_invoice(call: Call, reference: str) -> Invoice | None:
    """By InvoiceID, or (as Xero also allows) by InvoiceNumber."""
    if GUID.match(reference):
        return call.ledger.invoices.get(reference.lower())
    return call.ledger.invoice_by_number(reference)


@get(f"{API_PATH}/Invoices/{{reference:str}}")
async def get_invoice(request: Request, reference: FromPath[str]) -> Response:
    call = Call(request)
    invoice = find_invoice(call, reference)
    if invoice is None:
        return not_found()
    if "application/pdf" in request.headers.get("accept", ""):
        pdf = invoice_pdf(call.ledger, invoice)
        return Response(pdf, status_code=200, media_type="application/pdf")
    return call.answer("Invoices", [invoice_json(call.ledger, invoice, detail="single")])


@post(f"{API_PATH}/Invoices/{{reference:str}}")
async def update_invoice(request: Request, reference: FromPath[str]) -> Response:
    """Only the expected payment date (and Reference) can be changed here; Xero refuses the
    date on an invoice with a payment or credit allocated."""
    call = Call(request)
    invoice = find_invoice(call, reference)
    if invoice is None:
        return not_found()

    async def write(body: object) -> tuple[int, dict]:
        return _apply_update(call, invoice, body)

    return await call.idempotent(write)


def _refusal(call: Call, invoice: Invoice, messages: list[str]) -> tuple[int, dict]:
    refused = invoice_json(call.ledger, invoice, detail="single")
    refused.update(
        ValidationErrors=[{"Message": message} for message in messages],
        StatusAttributeString="ERROR",
        HasErrors=True,
    )
    return 400, validation_error([refused])


def _apply_update(call: Call, invoice: Invoice, body: object) -> tuple[int, dict]:
    elements = body.get("Invoices") if isinstance(body, dict) and "Invoices" in body else [body]
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        return _refusal(call, invoice, ["The request body is not a list of invoices"])
    store = call.xero.store
    for element in elements:
        try:
            if "ExpectedPaymentDate" in element:
                when = parse_request_date(element["ExpectedPaymentDate"])
                store.set_expected_payment_date(call.tenant_id, invoice.invoice_id, when)
            if isinstance(element.get("Reference"), str):
                if invoice.status not in OPEN_FOR_EDIT:
                    raise XeroValidationError([NOT_EDITABLE])
                changes = {"reference": element["Reference"]}
                store.update_invoice(call.tenant_id, invoice.invoice_id, changes)
        except XeroValidationError as error:
            return _refusal(call, invoice, error.messages)
        except ValueError as error:
            return _refusal(call, invoice, [f"Invalid date: {error}"])
    body = envelope(
        "Invoices",
        [invoice_json(call.ledger, invoice, detail="single")],
        call.xero.clock.now(),
        call.access.provider_name,
    )
    return 200, body


INVOICE_HANDLERS = [get_invoices, get_invoice, update_invoice]
