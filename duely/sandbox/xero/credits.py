"""Credit a customer holds: GET /CreditNotes/{CreditNoteID}, GET /Overpayments and
/Prepayments (paged, `where`, `order`, If-Modified-Since, like every list) and by id, and
PUT .../Allocations on all three, which applies the credit to an invoice.

An allocation lowers the invoice's AmountDue and raises its AmountCredited (Xero counts
credit notes, overpayments and prepayments there alike), lowers the credit's
RemainingCredit, and makes either PAID when nothing is left. Xero refuses an allocation
larger than what is left on either side, to a paid invoice, or to another type of invoice,
with a ValidationException naming the Allocation.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from litestar import Request, Response, get, put
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call, list_endpoint
from duely.sandbox.xero.dates import ms_date, parse_request_date, utc_string
from duely.sandbox.xero.errors import not_found, validation_error
from duely.sandbox.xero.ledger import Allocation, Ledger, PaymentCredit
from duely.sandbox.xero.listing import select
from duely.sandbox.xero.money import decimals, to_major
from duely.sandbox.xero.representations import credit_note_json, envelope
from duely.sandbox.xero.store import (
    CREDIT_NOTE,
    OVERPAYMENT,
    PREPAYMENT,
    AllocationRequest,
    CreditSource,
    XeroValidationError,
)
from duely.sandbox.xero.where import Field

# How each kind of credit is named on the wire: its collection and its id field.
WIRE = {
    CREDIT_NOTE: ("CreditNotes", "CreditNote", "CreditNoteID"),
    OVERPAYMENT: ("Overpayments", "Overpayment", "OverpaymentID"),
    PREPAYMENT: ("Prepayments", "Prepayment", "PrepaymentID"),
}


def _money(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-decimals(currency))


def payment_credit_fields(ledger: Ledger, id_name: str) -> dict[str, Field]:
    """What `where` and `order` may name on an overpayment or a prepayment."""
    return {
        id_name: Field("guid", lambda c: c.credit_id),
        "Type": Field("string", lambda c: c.kind),
        "Status": Field("string", lambda c: c.status),
        "Reference": Field("string", lambda c: c.reference),
        "CurrencyCode": Field("string", lambda c: c.currency),
        "Contact.ContactID": Field("guid", lambda c: c.contact_id),
        "Date": Field("date", lambda c: c.date),
        "UpdatedDateUTC": Field("datetime", lambda c: c.updated),
        "Total": Field("number", lambda c: _money(c.total, c.currency)),
        "RemainingCredit": Field("number", lambda c: _money(c.remaining, c.currency)),
    }


def _allocation_json(ledger: Ledger, allocation: Allocation, currency: str) -> dict:
    return {
        "AllocationID": allocation.allocation_id,
        "Amount": to_major(allocation.amount, currency),
        "Date": ms_date(allocation.date),
        "Invoice": {
            "InvoiceID": allocation.invoice_id,
            "InvoiceNumber": ledger.invoices[allocation.invoice_id].number,
        },
    }


def payment_credit_json(ledger: Ledger, credit: PaymentCredit, id_name: str) -> dict:
    """An overpayment (id_name OverpaymentID) or a prepayment (PrepaymentID)."""
    currency = credit.currency
    contact = ledger.contacts.get(credit.contact_id)
    body = {
        id_name: credit.credit_id,
        "Type": credit.kind,
        "Reference": credit.reference,
        "Contact": {"ContactID": credit.contact_id, "Name": contact.name if contact else ""},
        "Date": ms_date(credit.date),
        "Status": credit.status,
        "LineAmountTypes": "NoTax",
        "LineItems": [],
        "SubTotal": to_major(credit.total, currency),
        "TotalTax": 0.0,
        "Total": to_major(credit.total, currency),
        "UpdatedDateUTC": ms_date(credit.updated),
        "UpdatedDateUTCString": utc_string(credit.updated),
        "CurrencyCode": currency,
        "CurrencyRate": 1.0,
        "RemainingCredit": to_major(credit.remaining, currency),
        "Allocations": [_allocation_json(ledger, a, currency) for a in credit.allocations],
        "Payments": [],
        "HasAttachments": False,
    }
    return body


def credit_json(ledger: Ledger, kind: str, credit: CreditSource) -> dict:
    if isinstance(credit, PaymentCredit):
        return payment_credit_json(ledger, credit, WIRE[kind][2])
    return credit_note_json(ledger, credit)


# --- reading --------------------------------------------------------------------------------


def _payment_credits(kind: str) -> Callable[[Call], Response]:
    collection, type_name, id_name = WIRE[kind]

    def handler(call: Call) -> Response:
        query = call.list_query()
        ledger = call.ledger
        records = ledger.overpayments if kind == OVERPAYMENT else ledger.prepayments
        references = set(query.csv("References"))

        def wanted(credit: PaymentCredit) -> bool:
            return not references or credit.reference in references

        fields = payment_credit_fields(ledger, id_name)
        chosen = select(records.values(), query, fields, type_name, lambda c: c.updated, wanted)
        return call.listing(
            collection, chosen, query, lambda c: payment_credit_json(ledger, c, id_name)
        )

    handler.__name__ = f"_{collection.lower()}"
    return handler


get_overpayments = get(f"{API_PATH}/Overpayments", name="xero-overpayments")(
    list_endpoint(_payment_credits(OVERPAYMENT))
)
get_prepayments = get(f"{API_PATH}/Prepayments", name="xero-prepayments")(
    list_endpoint(_payment_credits(PREPAYMENT))
)


def _one(request: Request, kind: str, credit_id: str) -> Response:
    call = Call(request)
    try:
        credit = call.xero.store.credit_source(call.ledger, kind, credit_id)
    except KeyError:
        return not_found()
    return call.answer(WIRE[kind][0], [credit_json(call.ledger, kind, credit)])


@get(f"{API_PATH}/CreditNotes/{{credit_note_id:str}}")
async def get_credit_note(request: Request, credit_note_id: FromPath[str]) -> Response:
    return _one(request, CREDIT_NOTE, credit_note_id)


@get(f"{API_PATH}/Overpayments/{{overpayment_id:str}}")
async def get_overpayment(request: Request, overpayment_id: FromPath[str]) -> Response:
    return _one(request, OVERPAYMENT, overpayment_id)


@get(f"{API_PATH}/Prepayments/{{prepayment_id:str}}")
async def get_prepayment(request: Request, prepayment_id: FromPath[str]) -> Response:
    return _one(request, PREPAYMENT, prepayment_id)


# --- allocating -----------------------------------------------------------------------------


def _elements(body: object) -> list | None:
    """The allocations of a request body: {"Allocations": [...]} or one bare allocation."""
    wrapped = isinstance(body, dict) and "Allocations" in body
    elements = body["Allocations"] if wrapped else [body]  # type: ignore[index]
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        return None
    return elements


def _parse(element: dict) -> AllocationRequest:
    """ValueError when the date is not one."""
    invoice = element.get("Invoice") if isinstance(element.get("Invoice"), dict) else {}
    invoice_id = invoice.get("InvoiceID")
    invoice_number = invoice.get("InvoiceNumber")
    when = parse_request_date(element["Date"]) if element.get("Date") else None
    return AllocationRequest(
        invoice_id=invoice_id if isinstance(invoice_id, str) else None,
        invoice_number=invoice_number if isinstance(invoice_number, str) else None,
        amount=element.get("Amount"),
        date=when,
    )


def _refused(kind: str, credit_id: str, element: dict, messages: list[str]) -> dict:
    """The refused allocation, echoed as Xero does in a ValidationException's Elements."""
    _, type_name, id_name = WIRE[kind]
    echo: dict = {
        "Amount": element.get("Amount"),
        type_name: {id_name: credit_id},
        "StatusAttributeString": "ERROR",
        "ValidationErrors": [{"Message": message} for message in messages],
    }
    if not isinstance(echo["Amount"], int | float) or isinstance(echo["Amount"], bool):
        echo.pop("Amount")
    if isinstance(element.get("Invoice"), dict):
        echo["Invoice"] = {
            k: v
            for k, v in element["Invoice"].items()
            if k in ("InvoiceID", "InvoiceNumber") and isinstance(v, str)
        }
    if isinstance(element.get("Date"), str):
        echo["Date"] = element["Date"]
    return echo


def _allocated_json(call: Call, kind: str, credit: CreditSource, allocation: Allocation) -> dict:
    _, type_name, id_name = WIRE[kind]
    credit_id = credit.credit_id if isinstance(credit, PaymentCredit) else credit.credit_note_id
    invoice = call.ledger.invoices[allocation.invoice_id]
    return {
        "AllocationID": allocation.allocation_id,
        "Amount": to_major(allocation.amount, credit.currency),
        "Date": ms_date(allocation.date),
        "Invoice": {
            "InvoiceID": invoice.invoice_id,
            "InvoiceNumber": invoice.number,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "HasErrors": False,
            "IsDiscounted": False,
            "LineItems": [],
            "ValidationErrors": [],
        },
        type_name: {id_name: credit_id, "LineItems": []}
        if kind == CREDIT_NOTE
        else {id_name: credit_id},
        "ValidationErrors": [],
    }


def _allocate(call: Call, kind: str, credit_id: str, body: object) -> tuple[int, dict]:
    elements = _elements(body)
    if elements is None:
        refusal = {
            "ValidationErrors": [{"Message": "The request body is not a list of allocations"}]
        }
        return 400, validation_error([refusal])
    store = call.xero.store
    credit = store.credit_source(call.ledger, kind, credit_id)
    requests = []
    for element in elements:
        try:
            request = _parse(element)
        except ValueError:
            return 400, validation_error(
                [_refused(kind, credit_id, element, ["The allocation date is not a valid date"])]
            )
        errors = store.allocation_errors(call.ledger, kind, credit, request)
        if errors:
            return 400, validation_error([_refused(kind, credit_id, element, errors)])
        requests.append((element, request))
    made = []
    for element, request in requests:
        try:
            allocation = store.allocate(call.tenant_id, kind, credit_id, request)
        except XeroValidationError as error:  # together, more than is left
            return 400, validation_error([_refused(kind, credit_id, element, error.messages)])
        made.append(_allocated_json(call, kind, credit, allocation))
    now = call.xero.clock.now()
    return 200, envelope("Allocations", made, now, call.access.provider_name)


async def _put_allocations(request: Request, kind: str, credit_id: str) -> Response:
    call = Call(request)
    try:
        call.xero.store.credit_source(call.ledger, kind, credit_id)
    except KeyError:
        return not_found()

    async def write(body: object) -> tuple[int, dict]:
        return _allocate(call, kind, credit_id.lower(), body)

    return await call.idempotent(write)


@put(f"{API_PATH}/CreditNotes/{{credit_note_id:str}}/Allocations")
async def allocate_credit_note(request: Request, credit_note_id: FromPath[str]) -> Response:
    return await _put_allocations(request, CREDIT_NOTE, credit_note_id)


@put(f"{API_PATH}/Overpayments/{{overpayment_id:str}}/Allocations")
async def allocate_overpayment(request: Request, overpayment_id: FromPath[str]) -> Response:
    return await _put_allocations(request, OVERPAYMENT, overpayment_id)


@put(f"{API_PATH}/Prepayments/{{prepayment_id:str}}/Allocations")
async def allocate_prepayment(request: Request, prepayment_id: FromPath[str]) -> Response:
    return await _put_allocations(request, PREPAYMENT, prepayment_id)


CREDIT_HANDLERS = [
    get_credit_note,
    get_overpayments,
    get_overpayment,
    get_prepayments,
    get_prepayment,
    allocate_credit_note,
    allocate_overpayment,
    allocate_prepayment,
]
