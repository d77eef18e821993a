"""History and notes: GET and PUT /Invoices/{InvoiceID}/History and
/Contacts/{ContactID}/History.

A note PUT here is kept (Changes "Note", DateUTC now, User "System Generated": what Xero
does through the API is by "System Generated", its spec's example shows) and shown by GET
with, for an invoice, the records Xero writes itself, derived from the invoice's life:
created, approved, payments, credit applied, voided. Xero lists them newest first.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from litestar import Request, Response, get, put
from litestar.params import FromPath

from duely.sandbox.xero.accounting import API_PATH, Call
from duely.sandbox.xero.dates import ms_date, ms_timestamp
from duely.sandbox.xero.errors import not_found, validation_error
from duely.sandbox.xero.invoices import find_invoice
from duely.sandbox.xero.ledger import HistoryNote, Invoice, Ledger
from duely.sandbox.xero.money import decimals, to_major
from duely.sandbox.xero.representations import envelope
from duely.sandbox.xero.store import XeroValidationError

SYSTEM_USER = "System Generated"


def _date_string(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _record(when: datetime, changes: str, user: str, details: str) -> dict:
    return {
        "Changes": changes,
        "DateUTCString": _date_string(when),
        "DateUTC": ms_date(when),
        "User": user,
        "Details": details,
    }


def _amount(minor: int, currency: str) -> str:
    return f"{to_major(minor, currency):,.{decimals(currency)}f}"


def _day(value: object) -> datetime:
    return datetime.combine(value, time(), tzinfo=UTC)  # type: ignore[arg-type]


def invoice_events(ledger: Ledger, invoice: Invoice) -> list[tuple[datetime, dict]]:
    """The records Xero writes itself about an invoice, with their moments."""
    contact = ledger.contacts.get(invoice.contact_id)
    who = contact.name if contact else ""
    summary = f"{invoice.number} to {who} for {_amount(invoice.total, invoice.currency)}."
    created = _day(invoice.date)
    events = [(created, _record(created, "Created", SYSTEM_USER, summary))]
    if invoice.status in ("AUTHORISED", "PAID", "VOIDED"):
        events.append((created, _record(created, "Approved", SYSTEM_USER, summary)))
    for payment_id in invoice.payment_ids:
        payment = ledger.payments[payment_id]
        when = _day(payment.date)
        text = (
            f"Payment received from {who} on {payment.date.strftime('%-d %B %Y')} "
            f"for {_amount(payment.amount, payment.currency)}."
        )
        events.append((when, _record(when, "Paid", SYSTEM_USER, text)))
    credits = [
        ("Credit Note", ledger.credit_notes, invoice.credit_note_ids),
        ("Overpayment", ledger.overpayments, invoice.overpayment_ids),
        ("Prepayment", ledger.prepayments, invoice.prepayment_ids),
    ]
    for label, records, ids in credits:
        for credit_id in ids:
            credit = records[credit_id]
            name = getattr(credit, "number", "") or label.lower()
            for allocation in credit.allocations:
                if allocation.invoice_id != invoice.invoice_id:
                    continue
                when = _day(allocation.date)
                amount = _amount(allocation.amount, credit.currency)
                text = f"{label} {name} applied to {invoice.number} for {amount}."
                events.append((when, _record(when, "Credit Applied", SYSTEM_USER, text)))
    if invoice.status == "VOIDED":
        events.append((invoice.updated, _record(invoice.updated, "Voided", SYSTEM_USER, summary)))
    return events


def _note_record(note: HistoryNote) -> tuple[datetime, dict]:
    return note.when, _record(note.when, note.changes, note.user, note.details)


def history_records(ledger: Ledger, resource_id: str) -> list[dict]:
    """Every history record of an invoice or a contact, newest first."""
    invoice = ledger.invoices.get(resource_id)
    events = invoice_events(ledger, invoice) if invoice is not None else []
    events.extend(_note_record(note) for note in ledger.history.get(resource_id, []))
    # Newest first; of two at the same moment, the one written later (approved after created).
    order = sorted(range(len(events)), key=lambda i: (events[i][0], i), reverse=True)
    return [events[i][1] for i in order]


def _history(call: Call, resource_id: str) -> Response:
    return call.answer("HistoryRecords", history_records(call.ledger, resource_id))


def _add(call: Call, resource_id: str, body: object) -> tuple[int, dict]:
    if isinstance(body, dict) and "HistoryRecords" in body:
        elements = body["HistoryRecords"]
    else:
        elements = [body]
    if not isinstance(elements, list) or not all(isinstance(e, dict) for e in elements):
        refusal = {"ValidationErrors": [{"Message": "The request body is not a list of notes"}]}
        return 400, validation_error([refusal])
    store = call.xero.store
    for element in elements:  # all refused, or all kept
        try:
            store.check_note(str(element.get("Details") or ""))
        except XeroValidationError as error:
            refusal = {
                "Details": str(element.get("Details") or ""),
                "ValidationErrors": [{"Message": message} for message in error.messages],
            }
            return 400, validation_error([refusal])
    made = []
    for element in elements:
        details = str(element["Details"])
        note = store.add_note(call.tenant_id, resource_id, details, SYSTEM_USER)
        made.append(
            {
                "DateUTCString": _date_string(note.when),
                "DateUTC": ms_timestamp(note.when),
                "Details": note.details,
                "ValidationErrors": [],
            }
        )
    now = call.xero.clock.now()
    return 200, envelope("HistoryRecords", made, now, call.access.provider_name)


async def _put(call: Call, resource_id: str) -> Response:
    async def write(body: object) -> tuple[int, dict]:
        return _add(call, resource_id, body)

    return await call.idempotent(write)


@get(f"{API_PATH}/Invoices/{{reference:str}}/History")
async def get_invoice_history(request: Request, reference: FromPath[str]) -> Response:
    call = Call(request)
    invoice = find_invoice(call, reference)
    if invoice is None:
        return not_found()
    return _history(call, invoice.invoice_id)


@put(f"{API_PATH}/Invoices/{{reference:str}}/History")
async def add_invoice_note(request: Request, reference: FromPath[str]) -> Response:
    call = Call(request)
    invoice = find_invoice(call, reference)
    if invoice is None:
        return not_found()
    return await _put(call, invoice.invoice_id)


@get(f"{API_PATH}/Contacts/{{contact_id:str}}/History")
async def get_contact_history(request: Request, contact_id: FromPath[str]) -> Response:
    call = Call(request)
    if contact_id.lower() not in call.ledger.contacts:
        return not_found()
    return _history(call, contact_id.lower())


@put(f"{API_PATH}/Contacts/{{contact_id:str}}/History")
async def add_contact_note(request: Request, contact_id: FromPath[str]) -> Response:
    call = Call(request)
    if contact_id.lower() not in call.ledger.contacts:
        return not_found()
    return await _put(call, contact_id.lower())


HISTORY_HANDLERS = [get_invoice_history, add_invoice_note, get_contact_history, add_contact_note]
