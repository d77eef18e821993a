"""The admin API under /xero/_admin: JSON for tests, benchmarks and the demo to arrange the
sandbox and look inside it. Not Xero-shaped and unauthenticated: it listens on loopback only.

Every change goes through the store's methods, exactly like a change through the Xero-shaped
API, so UpdatedDateUTC moves and webhooks fire the same way.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import datetime
from typing import Any

from litestar import Request, Response, get, patch, post
from litestar.params import FromPath, FromQuery

from duely.sandbox.admin_controls import Body, SandboxAdmin, admin_error, app_json
from duely.sandbox.xero.dates import parse_if_modified_since, parse_request_date
from duely.sandbox.xero.ledger import ContactPerson, Ledger, Phone
from duely.sandbox.xero.money import to_minor
from duely.sandbox.xero.ratelimit import RateLimits
from duely.sandbox.xero.representations import contact_json, invoice_json, payment_json
from duely.sandbox.xero.sandbox import XeroSandbox


def _ledger(xero: XeroSandbox, tenant_id: str) -> Ledger | None:
    return xero.store.ledgers.get(tenant_id.lower())


def _tenant_summary(ledger: Ledger) -> dict:
    organisation = ledger.organisation
    return {
        "tenant_id": ledger.tenant_id,
        "name": organisation.name,
        "base_currency": organisation.base_currency,
        "country_code": organisation.country_code,
        "contacts": len(ledger.contacts),
        "invoices": len(ledger.invoices),
        "payments": len(ledger.payments),
        "credit_notes": len(ledger.credit_notes),
    }


def _since(value: str | None) -> datetime | None:
    return parse_if_modified_since(value) if value else None


def _invoice_changes(ledger: Ledger, invoice_id: str, data: Body) -> dict:
    """Xero field names in, store field names (and minor units) out; ValueError if unknown."""
    currency = ledger.invoices[invoice_id].currency
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name == "Status":
            changes["status"] = str(value).upper()
        elif name in ("DueDate", "ExpectedPaymentDate"):
            key = "due_date" if name == "DueDate" else "expected_payment_date"
            changes[key] = parse_request_date(value) if value else None
        elif name in ("AmountDue", "Total"):
            changes["amount_due" if name == "AmountDue" else "total"] = to_minor(value, currency)
        elif name == "Reference":
            changes["reference"] = str(value)
        else:
            raise ValueError(f"{name} cannot be changed here")
    return changes


CONTACT_FIELD_NAMES = {
    "Name": "name",
    "FirstName": "first_name",
    "LastName": "last_name",
    "EmailAddress": "email",
    "ContactStatus": "status",
    "IsCustomer": "is_customer",
    "AccountNumber": "account_number",
}


def _contact_changes(data: Body) -> dict:
    changes: dict[str, Any] = {}
    for name, value in data.items():
        if name in CONTACT_FIELD_NAMES:
            changes[CONTACT_FIELD_NAMES[name]] = value
        elif name == "ContactPersons":
            changes["persons"] = [
                ContactPerson(
                    person.get("FirstName", ""),
                    person.get("LastName", ""),
                    person.get("EmailAddress", ""),
                    bool(person.get("IncludeInEmails", False)),
                )
                for person in value
            ]
        elif name == "Phones":
            changes["phones"] = [
                Phone(
                    phone.get("PhoneType", "DEFAULT"),
                    phone.get("PhoneNumber", ""),
                    phone.get("PhoneAreaCode", ""),
                    phone.get("PhoneCountryCode", ""),
                )
                for phone in value
            ]
        else:
            raise ValueError(f"{name} cannot be changed here")
    return changes


class XeroAdmin(SandboxAdmin):
    STATE_NAME = "xero"
    RATE_LIMITS = RateLimits
    LEDGERS_NAME = "tenants"

    def _ledger_count(self, sandbox: XeroSandbox) -> int:
        return len(sandbox.store.ledgers)

    # --- apps ----------------------------------------------------------------------------

    @post("/apps", status_code=201)
    async def register_app(self, request: Request, data: Body) -> dict:
        """Body: client_id, client_secret, name, redirect_uris, webhook_url, webhook_key."""
        app = request.app.state.xero.register_app(
            data["client_id"],
            data["client_secret"],
            data.get("name", data["client_id"]),
            data.get("redirect_uris", []),
            data.get("webhook_url", ""),
            data.get("webhook_key", ""),
        )
        return app_json(app)

    @patch("/apps/{client_id:str}")
    async def update_app(self, request: Request, client_id: FromPath[str], data: Body) -> Response:
        app = request.app.state.xero.identity.app(client_id)
        if app is None:
            return admin_error(404, f"no app {client_id}")
        for name in ("name", "redirect_uris", "webhook_url", "webhook_key", "client_secret"):
            if name in data:
                setattr(app, name, data[name])
        return Response(app_json(app))

    # --- tenants and their records -------------------------------------------------------

    @get("/tenants")
    async def list_tenants(self, request: Request) -> list[dict]:
        return [_tenant_summary(ledger) for ledger in request.app.state.xero.store.ledgers.values()]

    @post("/tenants", status_code=201)
    async def create_tenant(self, request: Request, data: Body) -> Response:
        """Body: name, invoices (count), seed, country (GB, AU, NZ, US), customers."""
        try:
            ledger = request.app.state.xero.add_tenant(
                data.get("name"),
                int(data.get("invoices", 300)),
                seed=int(data.get("seed", 0)),
                country=data.get("country", "GB"),
                customers=data.get("customers"),
            )
        except (KeyError, ValueError) as error:
            return admin_error(400, str(error))
        return Response(_tenant_summary(ledger), status_code=201)

    @get("/tenants/{tenant_id:str}/contacts")
    async def list_contacts(
        self,
        request: Request,
        tenant_id: FromPath[str],
        status: FromQuery[str | None] = None,
        q: FromQuery[str | None] = None,
        changed_since: FromQuery[str | None] = None,
    ) -> Response:
        ledger = _ledger(request.app.state.xero, tenant_id)
        if ledger is None:
            return admin_error(404, f"no tenant {tenant_id}")
        since = _since(changed_since)
        found = [
            contact_json(contact)
            for contact in ledger.contacts.values()
            if (status is None or contact.status == status.upper())
            and (q is None or q.lower() in contact.name.lower())
            and (since is None or contact.updated > since)
        ]
        return Response(found)

    @patch("/tenants/{tenant_id:str}/contacts/{contact_id:str}")
    async def update_contact(
        self, request: Request, tenant_id: FromPath[str], contact_id: FromPath[str], data: Body
    ) -> Response:
        xero: XeroSandbox = request.app.state.xero
        ledger = _ledger(xero, tenant_id)
        if ledger is None or contact_id.lower() not in ledger.contacts:
            return admin_error(404, "no such tenant or contact")
        try:
            changes = _contact_changes(data)
            contact = xero.store.update_contact(ledger.tenant_id, contact_id.lower(), changes)
        except (ValueError, TypeError, AttributeError) as error:
            return admin_error(400, str(error))
        return Response(contact_json(contact))

    @get("/tenants/{tenant_id:str}/invoices")
    async def list_invoices(
        self,
        request: Request,
        tenant_id: FromPath[str],
        status: FromQuery[str | None] = None,
        contact_id: FromQuery[str | None] = None,
        type: FromQuery[str | None] = None,  # noqa: A002 - Xero's field name
        changed_since: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> Response:
        ledger = _ledger(request.app.state.xero, tenant_id)
        if ledger is None:
            return admin_error(404, f"no tenant {tenant_id}")
        since = _since(changed_since)
        statuses = {s.strip().upper() for s in status.split(",")} if status else None
        found = [
            invoice_json(ledger, invoice)
            for invoice in ledger.invoices.values()
            if (statuses is None or invoice.status in statuses)
            and (contact_id is None or invoice.contact_id == contact_id.lower())
            and (type is None or invoice.kind == type.upper())
            and (since is None or invoice.updated > since)
        ]
        return Response(found[:limit] if limit else found)

    @get("/tenants/{tenant_id:str}/invoices/{invoice_id:str}")
    async def get_invoice(
        self, request: Request, tenant_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        ledger = _ledger(request.app.state.xero, tenant_id)
        invoice = ledger.invoices.get(invoice_id.lower()) if ledger else None
        if ledger is None or invoice is None:
            return admin_error(404, "no such tenant or invoice")
        return Response(invoice_json(ledger, invoice, detail="single"))

    @patch("/tenants/{tenant_id:str}/invoices/{invoice_id:str}")
    async def update_invoice(
        self, request: Request, tenant_id: FromPath[str], invoice_id: FromPath[str], data: Body
    ) -> Response:
        """Body: any of DueDate, ExpectedPaymentDate (YYYY-MM-DD), Status (e.g. PAID, VOIDED),
        AmountDue, Total, Reference."""
        xero: XeroSandbox = request.app.state.xero
        ledger = _ledger(xero, tenant_id)
        if ledger is None or invoice_id.lower() not in ledger.invoices:
            return admin_error(404, "no such tenant or invoice")
        try:
            changes = _invoice_changes(ledger, invoice_id.lower(), data)
            invoice = xero.store.update_invoice(ledger.tenant_id, invoice_id.lower(), changes)
        except ValueError as error:
            return admin_error(400, str(error))
        return Response(invoice_json(ledger, invoice, detail="single"))

    @post("/tenants/{tenant_id:str}/invoices/touch", status_code=200)
    async def touch_invoices(
        self, request: Request, tenant_id: FromPath[str], data: Body
    ) -> Response:
        """Body: count, seed (optional). Changes that many random open sales invoices."""
        xero: XeroSandbox = request.app.state.xero
        ledger = _ledger(xero, tenant_id)
        if ledger is None:
            return admin_error(404, f"no tenant {tenant_id}")
        rng = random.Random(data["seed"]) if "seed" in data else xero.random  # noqa: S311 - a simulation, not a secret
        changed = xero.store.touch_invoices(ledger.tenant_id, int(data.get("count", 1)), rng)
        return Response({"invoice_ids": changed})

    @get("/tenants/{tenant_id:str}/payments")
    async def list_payments(
        self,
        request: Request,
        tenant_id: FromPath[str],
        invoice_id: FromQuery[str | None] = None,
        reference: FromQuery[str | None] = None,
    ) -> Response:
        ledger = _ledger(request.app.state.xero, tenant_id)
        if ledger is None:
            return admin_error(404, f"no tenant {tenant_id}")
        found = [
            payment_json(ledger, payment)
            for payment in ledger.payments.values()
            if (invoice_id is None or payment.invoice_id == invoice_id.lower())
            and (reference is None or payment.reference == reference)
        ]
        return Response(found)

    # --- grants and tokens ---------------------------------------------------------------

    @get("/grants")
    async def list_grants(self, request: Request) -> list[dict]:
        """Each grant with the tenants its connections reach."""
        identity = request.app.state.xero.identity
        grants = []
        for grant in identity.state.grants.values():
            connections = identity.connections_of(grant.client_id, grant.grant_id)
            grants.append({**asdict(grant), "tenant_ids": [c.tenant_id for c in connections]})
        return grants

    # --- webhooks ------------------------------------------------------------------------

    @post("/apps/{client_id:str}/intent-to-receive", status_code=200)
    async def intent_to_receive(self, request: Request, client_id: FromPath[str]) -> Response:
        try:
            report = await request.app.state.xero.webhooks.intent_to_receive(client_id)
        except LookupError as error:
            return admin_error(404, str(error))
        return Response(report)
