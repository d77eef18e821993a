"""The admin API under /quickbooks/_admin: JSON for tests, benchmarks and the demo to arrange
the sandbox and look inside it. Not QuickBooks-shaped and unauthenticated: loopback only.

Every change goes through the store, exactly like a change through the API, so SyncToken and
LastUpdatedTime move, change data capture sees it and webhooks fire the same way. Entities come
back in QuickBooks' JSON.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery

from duely.sandbox.admin_controls import Body, SandboxAdmin, admin_error, app_json
from duely.sandbox.faults import FaultRule
from duely.sandbox.quickbooks.company import Company
from duely.sandbox.quickbooks.errors import QBFault
from duely.sandbox.quickbooks.ratelimit import RateLimits
from duely.sandbox.quickbooks.representations import entity_jsons, invoice_json, payment_json
from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox
from duely.sandbox.quickbooks.store import to_minor

RECORD_KINDS = {
    "customers": "Customer",
    "invoices": "Invoice",
    "payments": "Payment",
    "credit-memos": "CreditMemo",
    "accounts": "Account",
}


def _qb(request: Request) -> QuickBooksSandbox:
    return request.app.state.quickbooks


def _summary(company: Company) -> dict:
    return {
        "realm_id": company.realm_id,
        "name": company.name,
        "country": company.country,
        "currency": company.currency,
        "customers": len(company.customers),
        "invoices": len(company.invoices),
        "payments": len(company.payments),
        "credit_memos": len(company.credit_memos),
    }


def _realm_as_tenant(rule: dict) -> dict:
    """A fault rule names its realm `realm_id`; the shared FaultRule calls it tenant_id."""
    rule = dict(rule)
    if "realm_id" in rule:
        rule["tenant_id"] = rule.pop("realm_id")
    return rule


class QuickBooksAdmin(SandboxAdmin):
    STATE_NAME = "quickbooks"
    RATE_LIMITS = RateLimits
    LEDGERS_NAME = "realms"

    def _ledger_count(self, sandbox: QuickBooksSandbox) -> int:
        return len(sandbox.store.companies)

    def _fault_rule(self, fields: dict[str, Any]) -> FaultRule:
        return FaultRule(**_realm_as_tenant(fields))

    # --- apps ----------------------------------------------------------------------------

    @post("/apps", status_code=201)
    async def register_app(self, request: Request, data: Body) -> Response:
        """Body: client_id, client_secret, name, redirect_uris, webhook_url, verifier_token,
        webhook_format ("legacy" or "cloudevents")."""
        try:
            app = _qb(request).register_app(
                data["client_id"],
                data["client_secret"],
                str(data.get("name") or data["client_id"]),
                data.get("redirect_uris", []),
                data.get("webhook_url", ""),
                data.get("verifier_token", ""),
                data.get("webhook_format", "legacy"),
            )
        except (KeyError, ValueError) as error:
            return admin_error(400, str(error))
        return Response(app_json(app), status_code=201)

    @patch("/apps/{client_id:str}")
    async def update_app(self, request: Request, client_id: FromPath[str], data: Body) -> Response:
        """Body: any of name, redirect_uris, webhook_url, verifier_token, webhook_format,
        client_secret."""
        app = _qb(request).identity.app(client_id)
        if app is None:
            return admin_error(404, f"no app {client_id}")
        if data.get("webhook_format", app.webhook_format) not in ("legacy", "cloudevents"):
            return admin_error(400, "webhook_format is legacy or cloudevents")
        names = ("name", "redirect_uris", "webhook_url", "verifier_token", "webhook_format")
        for name in (*names, "client_secret"):
            if name in data:
                setattr(app, name, data[name])
        return Response(app_json(app))

    # --- realms and their records --------------------------------------------------------

    @get("/realms")
    async def list_realms(self, request: Request) -> list[dict]:
        return [_summary(company) for company in _qb(request).store.companies.values()]

    @post("/realms", status_code=201)
    async def create_realm(self, request: Request, data: Body) -> Response:
        """Body: name, invoices (count, default 300), seed, country (GB, US, CA, AU),
        customers."""
        try:
            company = _qb(request).add_company(
                data.get("name"),
                int(data.get("invoices", 300)),
                seed=int(data.get("seed", 0)),
                country=data.get("country", "GB"),
                customers=data.get("customers"),
            )
        except (KeyError, ValueError) as error:
            return admin_error(400, str(error))
        return Response(_summary(company), status_code=201)

    @get([f"/realms/{{realm_id:str}}/{kind}" for kind in RECORD_KINDS])
    async def list_records(
        self,
        request: Request,
        realm_id: FromPath[str],
        open: FromQuery[bool | None] = None,  # noqa: A002 - the filter's name
        customer_id: FromQuery[str | None] = None,
        invoice_id: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> Response:
        """/realms/{realm_id}/customers, /invoices, /payments, /credit-memos or /accounts.
        Filters: open (invoices with a balance, or without), customer_id, invoice_id
        (payments applied to it), limit."""
        company = _qb(request).store.companies.get(realm_id)
        if company is None:
            return admin_error(404, f"no realm {realm_id}")
        kind = RECORD_KINDS[request.url.path.rstrip("/").rsplit("/", 1)[1]]
        records = [
            r
            for r in company.records(kind).values()
            if (open is None or kind != "Invoice" or (r.balance > 0) == open)
            and (customer_id is None or getattr(r, "customer_id", customer_id) == customer_id)
            and (
                invoice_id is None
                or (kind == "Payment" and any(line.txn_id == invoice_id for line in r.lines))
            )
        ]
        return Response(entity_jsons(company, kind, records[:limit] if limit else records))

    @get("/realms/{realm_id:str}/invoices/{invoice_id:str}")
    async def get_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        company = _qb(request).store.companies.get(realm_id)
        invoice = company.invoices.get(invoice_id) if company else None
        if company is None or invoice is None:
            return admin_error(404, "no such realm or invoice")
        return Response(invoice_json(company, invoice))

    @patch("/realms/{realm_id:str}/invoices/{invoice_id:str}")
    async def edit_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str], data: Body
    ) -> Response:
        """An edit "in QuickBooks". Body: any of DueDate, TxnDate (YYYY-MM-DD), DocNumber,
        BillEmail ({"Address"}), PrivateNote, EmailStatus, TotalAmt, Balance."""
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return admin_error(404, "no such realm or invoice")
        try:
            invoice = quickbooks.store.edit_invoice(realm_id, {**data, "Id": invoice_id})
        except (ValueError, QBFault) as error:
            return admin_error(400, str(error))
        return Response(invoice_json(company, invoice))

    @post("/realms/{realm_id:str}/invoices/{invoice_id:str}/pay", status_code=201)
    async def pay_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str], data: Body
    ) -> Response:
        """A payment received "in QuickBooks". Body: amount (optional, default the balance)."""
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return admin_error(404, "no such realm or invoice")
        try:
            amount = to_minor(data["amount"], "amount") if data.get("amount") is not None else None
            payment = quickbooks.store.pay_in_full(realm_id, invoice_id, amount)
        except QBFault as error:
            return admin_error(400, str(error))
        return Response(payment_json(company, payment), status_code=201)

    @post("/realms/{realm_id:str}/invoices/{invoice_id:str}/void", status_code=200)
    async def void_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return admin_error(404, "no such realm or invoice")
        invoice = quickbooks.store.void_invoice(realm_id, {"Id": invoice_id})
        return Response(invoice_json(company, invoice))

    @delete("/realms/{realm_id:str}/invoices/{invoice_id:str}", status_code=200)
    async def delete_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return admin_error(404, "no such realm or invoice")
        try:
            quickbooks.store.delete_invoice(realm_id, {"Id": invoice_id})
        except QBFault as error:
            return admin_error(400, str(error))
        return Response({"deleted": invoice_id})

    @patch("/realms/{realm_id:str}/customers/{customer_id:str}")
    async def edit_customer(
        self, request: Request, realm_id: FromPath[str], customer_id: FromPath[str], data: Body
    ) -> Response:
        """Body: any of DisplayName, CompanyName, GivenName, FamilyName, PrimaryEmailAddr
        ({"Address"}), PrimaryPhone and Mobile ({"FreeFormNumber"}), Active."""
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or customer_id not in company.customers:
            return admin_error(404, "no such realm or customer")
        try:
            customer = quickbooks.store.update_customer(
                realm_id, {**data, "Id": customer_id}, check_token=False
            )
        except QBFault as error:
            return admin_error(400, str(error))
        return Response(entity_jsons(company, "Customer", [customer])[0])
