"""More of the admin API under /xero/_admin (see admin.py): credit notes and their
allocations, overpayments and prepayments, notes on invoices and contacts, new contacts and
contact groups. JSON for tests and the demo; unauthenticated, loopback only.

Every change goes through the store, so UpdatedDateUTC moves and webhooks fire (CREDITNOTE
CREATE/UPDATE, INVOICE UPDATE, CONTACT CREATE) exactly as through the Xero-shaped API.
Records come back in Xero's JSON shapes; refusals as {"error": "...", "messages": [...]}.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from duely.sandbox.xero.credits import credit_json
from duely.sandbox.xero.dates import parse_request_date
from duely.sandbox.xero.ledger import Contact, ContactGroup, HistoryNote, Ledger
from duely.sandbox.xero.representations import contact_json, invoice_json
from duely.sandbox.xero.sandbox import XeroSandbox
from duely.sandbox.xero.store import (
    CREDIT_NOTE,
    OVERPAYMENT,
    PREPAYMENT,
    AllocationRequest,
    XeroValidationError,
)

Body = JSONBody[dict[str, Any]]
ADMIN_USER = "Sandbox admin"
KINDS = {"credit-notes": CREDIT_NOTE, "overpayments": OVERPAYMENT, "prepayments": PREPAYMENT}


def _error(status: int, message: str, messages: list[str] | None = None) -> Response:
    return Response({"error": message, "messages": messages or [message]}, status_code=status)


def _ledger(request: Request, tenant_id: str) -> Ledger | None:
    return request.app.state.xero.store.ledgers.get(tenant_id.lower())


def _date(value: object) -> date | None:
    """ValueError when present and not a date."""
    return parse_request_date(value) if value else None


def note_json(note: HistoryNote) -> dict:
    return {
        "date_utc": note.when.isoformat(),
        "details": note.details,
        "user": note.user,
        "changes": note.changes,
    }


class XeroRecordsAdmin(Controller):
    path = "/_admin"

    # --- credit ----------------------------------------------------------------------------

    @get(
        [
            "/tenants/{tenant_id:str}/credit-notes",
            "/tenants/{tenant_id:str}/overpayments",
            "/tenants/{tenant_id:str}/prepayments",
        ]
    )
    async def list_credit(
        self,
        request: Request,
        tenant_id: FromPath[str],
        contact_id: FromQuery[str | None] = None,
    ) -> Response:
        """Credit notes, overpayments or prepayments (Xero's JSON); ?contact_id= narrows."""
        kind = request.url.path.rstrip("/").rsplit("/", 1)[1]
        ledger = _ledger(request, tenant_id)
        if ledger is None or kind not in KINDS:
            return _error(404, f"no tenant {tenant_id} or no {kind}")
        records = {
            CREDIT_NOTE: ledger.credit_notes,
            OVERPAYMENT: ledger.overpayments,
            PREPAYMENT: ledger.prepayments,
        }[KINDS[kind]]
        return Response(
            [
                credit_json(ledger, KINDS[kind], record)
                for record in records.values()
                if contact_id is None or record.contact_id == contact_id.lower()
            ]
        )

    @post("/tenants/{tenant_id:str}/credit-notes", status_code=201)
    async def create_credit_note(
        self, request: Request, tenant_id: FromPath[str], data: Body
    ) -> Response:
        """Body: contact_id, amount (a decimal in the contact's currency), and optionally
        date (YYYY-MM-DD, default today), reference, currency. An AUTHORISED ACCRECCREDIT
        with all of its credit remaining."""
        xero: XeroSandbox = request.app.state.xero
        ledger = _ledger(request, tenant_id)
        if ledger is None:
            return _error(404, f"no tenant {tenant_id}")
        contact_id = str(data.get("contact_id", "")).lower()
        if contact_id not in ledger.contacts:
            return _error(404, f"no contact {contact_id}")
        try:
            note = xero.store.create_credit_note(
                ledger.tenant_id,
                contact_id,
                data.get("amount"),
                when=_date(data.get("date")),
                reference=str(data.get("reference") or ""),
                currency=data.get("currency"),
            )
        except ValueError as error:
            return _error(400, str(error))
        return Response(credit_json(ledger, CREDIT_NOTE, note), status_code=201)

    @post(
        [
            "/tenants/{tenant_id:str}/credit-notes/{credit_id:str}/allocations",
            "/tenants/{tenant_id:str}/overpayments/{credit_id:str}/allocations",
            "/tenants/{tenant_id:str}/prepayments/{credit_id:str}/allocations",
        ],
        status_code=200,
    )
    async def allocate(
        self,
        request: Request,
        tenant_id: FromPath[str],
        credit_id: FromPath[str],
        data: Body,
    ) -> Response:
        """Of a credit note, an overpayment or a prepayment. Body: invoice_id, amount, and
        optionally date (YYYY-MM-DD, default today). Xero's rules apply: 400 with Xero's
        messages when it would refuse. Answers the allocation, the credit and the invoice."""
        xero: XeroSandbox = request.app.state.xero
        kind = request.url.path.rstrip("/").split("/")[-3]
        ledger = _ledger(request, tenant_id)
        if ledger is None or kind not in KINDS:
            return _error(404, f"no tenant {tenant_id} or no {kind}")
        try:
            credit = xero.store.credit_source(ledger, KINDS[kind], credit_id)
        except KeyError:
            return _error(404, f"no {kind} {credit_id}")
        try:
            allocation_request = AllocationRequest(
                invoice_id=str(data.get("invoice_id", "")),
                invoice_number=None,
                amount=data.get("amount"),
                date=_date(data.get("date")),
            )
            allocation = xero.store.allocate(
                ledger.tenant_id, KINDS[kind], credit_id, allocation_request
            )
        except XeroValidationError as error:
            return _error(400, "Xero would refuse this allocation", error.messages)
        except ValueError as error:
            return _error(400, str(error))
        invoice = ledger.invoices[allocation.invoice_id]
        return Response(
            {
                "allocation": {
                    "allocation_id": allocation.allocation_id,
                    "invoice_id": allocation.invoice_id,
                    "amount": data.get("amount"),
                    "date": allocation.date.isoformat(),
                },
                "credit": credit_json(ledger, KINDS[kind], credit),
                "invoice": invoice_json(ledger, invoice, detail="single"),
            }
        )

    # --- notes -----------------------------------------------------------------------------

    @get(
        [
            "/tenants/{tenant_id:str}/invoices/{record_id:str}/notes",
            "/tenants/{tenant_id:str}/contacts/{record_id:str}/notes",
        ]
    )
    async def list_notes(
        self,
        request: Request,
        tenant_id: FromPath[str],
        record_id: FromPath[str],
    ) -> Response:
        """resource: invoices or contacts. The notes kept on it, oldest first."""
        resource = request.url.path.rstrip("/").split("/")[-3]
        ledger = _ledger(request, tenant_id)
        records = {"invoices": ledger.invoices, "contacts": ledger.contacts} if ledger else {}
        if ledger is None or record_id.lower() not in records.get(resource, {}):
            return _error(404, f"no tenant {tenant_id} or no {resource} {record_id}")
        return Response([note_json(n) for n in ledger.history.get(record_id.lower(), [])])

    @post(
        [
            "/tenants/{tenant_id:str}/invoices/{record_id:str}/notes",
            "/tenants/{tenant_id:str}/contacts/{record_id:str}/notes",
        ],
        status_code=201,
    )
    async def add_note(
        self,
        request: Request,
        tenant_id: FromPath[str],
        record_id: FromPath[str],
        data: Body,
    ) -> Response:
        """resource: invoices or contacts. Body: details, and optionally user (default
        "Sandbox admin"): a note written by a person in Xero."""
        xero: XeroSandbox = request.app.state.xero
        resource = request.url.path.rstrip("/").split("/")[-3]
        ledger = _ledger(request, tenant_id)
        records = {"invoices": ledger.invoices, "contacts": ledger.contacts} if ledger else {}
        if ledger is None or record_id.lower() not in records.get(resource, {}):
            return _error(404, f"no tenant {tenant_id} or no {resource} {record_id}")
        user = str(data.get("user") or ADMIN_USER)
        try:
            note = xero.store.add_note(
                ledger.tenant_id, record_id, str(data.get("details") or ""), user
            )
        except XeroValidationError as error:
            return _error(400, "Xero would refuse this note", error.messages)
        return Response(note_json(note), status_code=201)

    # --- contacts and groups ---------------------------------------------------------------

    @post("/tenants/{tenant_id:str}/contacts", status_code=201)
    async def create_contact(
        self, request: Request, tenant_id: FromPath[str], data: Body
    ) -> Response:
        """Body: Name (required), and optionally EmailAddress, FirstName, LastName,
        DefaultCurrency, ContactGroupIDs (a list). A CONTACT CREATE webhook event."""
        xero: XeroSandbox = request.app.state.xero
        ledger = _ledger(request, tenant_id)
        if ledger is None:
            return _error(404, f"no tenant {tenant_id}")
        name = str(data.get("Name") or "").strip()
        if not name:
            return _error(400, "Name is required")
        if any(c.name == name for c in ledger.contacts.values()):
            return _error(400, f"The contact name {name} is already assigned to another contact")
        groups = [str(g).lower() for g in data.get("ContactGroupIDs") or []]
        if any(g not in ledger.contact_groups for g in groups):
            return _error(404, "no such contact group")
        contact = Contact(
            contact_id=str(uuid.uuid4()),
            name=name,
            first_name=str(data.get("FirstName") or ""),
            last_name=str(data.get("LastName") or ""),
            email=str(data.get("EmailAddress") or ""),
            updated=xero.clock.now(),
            currency=data.get("DefaultCurrency") or ledger.organisation.base_currency,
        )
        for group in groups:
            ledger.contact_groups[group].contact_ids.append(contact.contact_id)
        xero.store.create_contact(ledger.tenant_id, contact)
        return Response(contact_json(contact), status_code=201)

    @post("/tenants/{tenant_id:str}/contact-groups", status_code=201)
    async def create_contact_group(
        self, request: Request, tenant_id: FromPath[str], data: Body
    ) -> Response:
        """Body: Name, and optionally ContactIDs (a list)."""
        ledger = _ledger(request, tenant_id)
        if ledger is None:
            return _error(404, f"no tenant {tenant_id}")
        members = [str(c).lower() for c in data.get("ContactIDs") or []]
        if not str(data.get("Name") or "").strip() or any(
            c not in ledger.contacts for c in members
        ):
            return _error(400, "a Name and known ContactIDs are required")
        group = ContactGroup(str(uuid.uuid4()), str(data["Name"]).strip(), contact_ids=members)
        ledger.contact_groups[group.group_id] = group
        return Response(
            {"ContactGroupID": group.group_id, "Name": group.name, "ContactIDs": members},
            status_code=201,
        )
