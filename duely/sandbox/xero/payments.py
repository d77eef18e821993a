"""GET /Payments, GET /Payments/{PaymentID}, PUT /Payments (a batch; all-or-nothing unless
summarizeErrors=false) and POST /Payments (Xero's createPayment: one Payment as the body, or
the same {"Payments": [...]} envelope; all-or-nothing, answered in the Payments envelope)."""

from __future__ import annotations

from litestar import Request, Response, get, post, put
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call, list_endpoint
from duely.sandbox.xero.dates import ms_date, parse_request_date
from duely.sandbox.xero.errors import not_found, validation_error
from duely.sandbox.xero.fields import payment_fields
from duely.sandbox.xero.listing import select
from duely.sandbox.xero.representations import envelope, payment_json
from duely.sandbox.xero.store import PaymentRequest


def _payments(call: Call) -> Response:
    query = call.list_query()
    fields = payment_fields(call.ledger)
    payments = call.ledger.payments.values()
    records = select(payments, query, fields, "Payment", lambda p: p.updated)
    return call.listing("Payments", records, query, lambda p: payment_json(call.ledger, p))


def _reference(value: object, key: str) -> str | None:
    return value.get(key) if isinstance(value, dict) and isinstance(value.get(key), str) else None


def _parse(element: dict, call: Call) -> tuple[PaymentRequest | None, list[str]]:
    invoice, account = element.get("Invoice"), element.get("Account")
    try:
        when = parse_request_date(element["Date"]) if "Date" in element else None
    except ValueError:
        return None, ["The payment date is not a valid date"]
    request = PaymentRequest(
        invoice_id=_reference(invoice, "InvoiceID"),
        invoice_number=_reference(invoice, "InvoiceNumber"),
        account_id=_reference(account, "AccountID"),
        account_code=_reference(account, "Code"),
        date=when or call.xero.clock.today(),
        amount=element.get("Amount"),
        reference=str(element.get("Reference") or ""),
    )
    return request, call.xero.store.payment_errors(call.ledger, request)


def _refused(element: dict, request: PaymentRequest | None, messages: list[str]) -> dict:
    """The refused payment as Xero echoes it in a ValidationException's Elements."""
    echo: dict = {
        "StatusAttributeString": "ERROR",
        "HasAccount": False,
        "HasValidationErrors": True,
        "ValidationErrors": [{"Message": message} for message in messages],
    }
    if request is not None:
        echo["Date"] = ms_date(request.date)
        invoice = {"InvoiceID": request.invoice_id, "InvoiceNumber": request.invoice_number}
        account = {"AccountID": request.account_id, "Code": request.account_code}
        for name, reference in (("Invoice", invoice), ("Account", account)):
            if any(reference.values()):
                echo[name] = {key: value for key, value in reference.items() if value}
    if isinstance(element.get("Amount"), int | float) and not isinstance(element["Amount"], bool):
        echo["Amount"] = element["Amount"]
    if isinstance(element.get("Reference"), str):
        echo["Reference"] = element["Reference"]
    return echo


async def _record(call: Call, body: object, *, summarize: bool | None = None) -> tuple[int, dict]:
    """Record the body's payments; `summarize` (all-or-nothing) defaults to the request's
    summarizeErrors parameter, true unless it says false."""
    elements = body.get("Payments") if isinstance(body, dict) and "Payments" in body else [body]
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        return 400, validation_error([_refused({}, None, ["The payments could not be read"])])
    if summarize is None:
        summarize = call.request.query_params.get("summarizeErrors", "true").lower() != "false"
    parsed = [(element, *_parse(element, call)) for element in elements]
    if summarize and any(errors for _, _, errors in parsed):
        refused = [_refused(el, request, errors) for el, request, errors in parsed if errors]
        return 400, validation_error(refused)
    answers = []
    for element, request, errors in parsed:
        if errors or request is None:
            answers.append(_refused(element, request, errors))
            continue
        payment = call.xero.store.record_payment(call.tenant_id, request)
        answers.append(payment_json(call.ledger, payment))
    now = call.xero.clock.now()
    return 200, envelope("Payments", answers, now, call.access.provider_name)


@put(f"{API_PATH}/Payments", status_code=200)
async def create_payments(request: Request) -> Response:
    call = Call(request)

    async def write(body: object) -> tuple[int, dict]:
        return await _record(call, body)

    return await call.idempotent(write)


@post(f"{API_PATH}/Payments", status_code=200)
async def create_payment(request: Request) -> Response:
    """Xero's createPayment: the spec takes no summarizeErrors here, a refusal is a 400."""
    call = Call(request)

    async def write(body: object) -> tuple[int, dict]:
        return await _record(call, body, summarize=True)

    return await call.idempotent(write)


@get(f"{API_PATH}/Payments/{{payment_id:str}}")
async def get_payment(request: Request, payment_id: FromPath[str]) -> Response:
    """One payment in the Payments envelope; an unknown id is Xero's plain-text 404."""
    call = Call(request)
    payment = call.ledger.payments.get(payment_id.strip().lower())
    if payment is None:
        return not_found()
    return call.answer("Payments", [payment_json(call.ledger, payment)])


get_payments = get(f"{API_PATH}/Payments", name="xero-payments")(list_endpoint(_payments))

PAYMENT_HANDLERS = [get_payments, get_payment, create_payments, create_payment]
