"""The admin API under /quickbooks/_admin: JSON for tests, benchmarks and the demo to arrange
the sandbox and look inside it. Not QuickBooks-shaped and unauthenticated: loopback only.

Every change goes through the store, exactly like a change through the API, so SyncToken and
LastUpdatedTime move, change data capture sees it and webhooks fire the same way. Entities come
back in QuickBooks' JSON.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from duely.sandbox.faults import FaultRule
from duely.sandbox.quickbooks.company import Company
from duely.sandbox.quickbooks.errors import QBFault
from duely.sandbox.quickbooks.identity import App
from duely.sandbox.quickbooks.ratelimit import RateLimits
from duely.sandbox.quickbooks.representations import entity_jsons, invoice_json, payment_json
from duely.sandbox.quickbooks.sandbox import QuickBooksSandbox
from duely.sandbox.quickbooks.store import to_minor

Body = JSONBody[dict[str, Any]]
RECORD_KINDS = {
    "customers": "Customer",
    "invoices": "Invoice",
    "payments": "Payment",
    "credit-memos": "CreditMemo",
    "accounts": "Account",
}


def _error(status: int, message: str) -> Response:
    return Response({"error": message}, status_code=status)


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


def _app_json(app: App) -> dict:
    body = asdict(app)
    body.pop("client_secret")
    return body


class QuickBooksAdmin(Controller):
    path = "/_admin"

    # --- apps ----------------------------------------------------------------------------

    @get("/apps")
    async def list_apps(self, request: Request) -> list[dict]:
        return [_app_json(app) for app in _qb(request).identity.state.apps.values()]

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
            return _error(400, str(error))
        return Response(_app_json(app), status_code=201)

    @patch("/apps/{client_id:str}")
    async def update_app(self, request: Request, client_id: FromPath[str], data: Body) -> Response:
        """Body: any of name, redirect_uris, webhook_url, verifier_token, webhook_format,
        client_secret."""
        app = _qb(request).identity.app(client_id)
        if app is None:
            return _error(404, f"no app {client_id}")
        if data.get("webhook_format", app.webhook_format) not in ("legacy", "cloudevents"):
            return _error(400, "webhook_format is legacy or cloudevents")
        names = ("name", "redirect_uris", "webhook_url", "verifier_token", "webhook_format")
        for name in (*names, "client_secret"):
            if name in data:
                setattr(app, name, data[name])
        return Response(_app_json(app))

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
            return _error(400, str(error))
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
            return _error(404, f"no realm {realm_id}")
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
            return _error(404, "no such realm or invoice")
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
            return _error(404, "no such realm or invoice")
        try:
            invoice = quickbooks.store.edit_invoice(realm_id, {**data, "Id": invoice_id})
        except (ValueError, QBFault) as error:
            return _error(400, str(error))
        return Response(invoice_json(company, invoice))

    @post("/realms/{realm_id:str}/invoices/{invoice_id:str}/pay", status_code=201)
    async def pay_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str], data: Body
    ) -> Response:
        """A payment received "in QuickBooks". Body: amount (optional, default the balance)."""
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return _error(404, "no such realm or invoice")
        try:
            amount = to_minor(data["amount"], "amount") if data.get("amount") is not None else None
            payment = quickbooks.store.pay_in_full(realm_id, invoice_id, amount)
        except QBFault as error:
            return _error(400, str(error))
        return Response(payment_json(company, payment), status_code=201)

    @post("/realms/{realm_id:str}/invoices/{invoice_id:str}/void", status_code=200)
    async def void_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return _error(404, "no such realm or invoice")
        invoice = quickbooks.store.void_invoice(realm_id, {"Id": invoice_id})
        return Response(invoice_json(company, invoice))

    @delete("/realms/{realm_id:str}/invoices/{invoice_id:str}", status_code=200)
    async def delete_invoice(
        self, request: Request, realm_id: FromPath[str], invoice_id: FromPath[str]
    ) -> Response:
        quickbooks = _qb(request)
        company = quickbooks.store.companies.get(realm_id)
        if company is None or invoice_id not in company.invoices:
            return _error(404, "no such realm or invoice")
        try:
            quickbooks.store.delete_invoice(realm_id, {"Id": invoice_id})
        except QBFault as error:
            return _error(400, str(error))
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
            return _error(404, "no such realm or customer")
        try:
            customer = quickbooks.store.update_customer(
                realm_id, {**data, "Id": customer_id}, check_token=False
            )
        except QBFault as error:
            return _error(400, str(error))
        return Response(entity_jsons(company, "Customer", [customer])[0])

    # --- grants, clock, faults, limits ---------------------------------------------------

    @get("/grants")
    async def list_grants(self, request: Request) -> list[dict]:
        return [asdict(grant) for grant in _qb(request).identity.state.grants.values()]

    @post("/grants/{grant_id:str}/revoke", status_code=200)
    async def revoke_grant(self, request: Request, grant_id: FromPath[str]) -> Response:
        identity = _qb(request).identity
        if grant_id not in identity.state.grants:
            return _error(404, f"no grant {grant_id}")
        identity.revoke_grant(grant_id)
        return Response({"revoked": grant_id})

    @post("/grants/{grant_id:str}/expire-access-tokens", status_code=200)
    async def expire_tokens(self, request: Request, grant_id: FromPath[str]) -> Response:
        identity = _qb(request).identity
        if grant_id not in identity.state.grants:
            return _error(404, f"no grant {grant_id}")
        return Response({"expired": identity.expire_access_tokens(grant_id)})

    @get("/clock")
    async def get_clock(self, request: Request) -> dict:
        clock = _qb(request).clock
        return {"now": clock.now().isoformat(), "offset_seconds": clock.offset_seconds}

    @post("/clock/advance", status_code=200)
    async def advance_clock(self, request: Request, data: Body) -> Response:
        """Body: {"seconds": N}. The clock never goes back."""
        clock = _qb(request).clock
        try:
            clock.advance(float(data["seconds"]))
        except (KeyError, ValueError) as error:
            return _error(400, str(error))
        return Response({"now": clock.now().isoformat(), "offset_seconds": clock.offset_seconds})

    @get("/faults")
    async def get_faults(self, request: Request) -> list[dict]:
        return [rule.as_json() for rule in _qb(request).faults.rules]

    @put("/faults")
    async def put_faults(self, request: Request, data: Body) -> Response:
        """Body: {"rules": [FaultRule fields], "seed": optional}; replaces all rules. A rule:
        path_contains, method, realm_id (or tenant_id), latency_ms, answer_delay_ms,
        rate_429, rate_500, rate_drop, retry_after, remaining, fail_with ("429", "500",
        "drop")."""
        try:
            rules = [FaultRule(**_realm_as_tenant(rule)) for rule in data.get("rules", [])]
        except (TypeError, ValueError) as error:
            return _error(400, str(error))
        _qb(request).faults.replace(rules, data.get("seed"))
        return Response([rule.as_json() for rule in rules])

    @delete("/faults", status_code=204)
    async def clear_faults(self, request: Request) -> None:
        _qb(request).faults.clear()

    @get("/rate-limits")
    async def get_rate_limits(self, request: Request) -> dict:
        return _qb(request).limiter.limits.as_json()

    @put("/rate-limits")
    async def put_rate_limits(self, request: Request, data: Body) -> Response:
        """Body: any of per_minute, concurrent, batch_per_minute, batch_items, enabled; and
        reset_counters (true forgets the calls counted so far)."""
        limiter = _qb(request).limiter
        current = limiter.limits.as_json()
        unknown = set(data) - set(current) - {"reset_counters"}
        if unknown:
            return _error(400, f"unknown fields: {', '.join(sorted(unknown))}")
        current.update({k: v for k, v in data.items() if k in current})
        limiter.limits = RateLimits(**current)
        if data.get("reset_counters"):
            limiter.reset()
        return Response(limiter.limits.as_json())

    # --- webhooks and snapshots ----------------------------------------------------------

    @get("/webhooks/deliveries")
    async def list_deliveries(
        self, request: Request, client_id: FromQuery[str | None] = None
    ) -> list:
        deliveries = _qb(request).webhooks.deliveries
        return [d.as_json() for d in deliveries if client_id is None or d.client_id == client_id]

    @post("/snapshot/save", status_code=200)
    async def save_snapshot(self, request: Request, data: Body) -> Response:
        """Body: {"path": optional}; defaults to the sandbox's snapshot path."""
        quickbooks = _qb(request)
        path = Path(data["path"]) if data.get("path") else quickbooks.snapshot_path
        if path is None:
            return _error(400, "no path given and no snapshot path configured")
        return Response({"saved": str(quickbooks.save_snapshot(path))})

    @post("/snapshot/load", status_code=200)
    async def load_snapshot(self, request: Request, data: Body) -> Response:
        quickbooks = _qb(request)
        path = Path(data["path"]) if data.get("path") else quickbooks.snapshot_path
        if path is None or not path.exists():
            return _error(404, f"no snapshot at {path}")
        quickbooks.load_snapshot(path)
        return Response({"loaded": str(path), "realms": len(quickbooks.store.companies)})
