"""The admin API under /accountsiq/admin: JSON for tests, benchmarks and the demo to arrange
the sandbox and look inside it. Not AccountsIQ-shaped and unauthenticated: loopback only.

Changes to an invoice (mark paid, due date, amounts, status) move its LastModifiedUTC, as an
edit in AccountsIQ would; marking paid records a receipt into the company's first bank
account, allocated to the invoice.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody

from duely.sandbox.accountsiq.company import Company, Invoice
from duely.sandbox.accountsiq.sandbox import AccountsIQSandbox
from duely.sandbox.accountsiq.soap import money, stamp
from duely.sandbox.accountsiq.store import INVOICE_STATUSES
from duely.sandbox.faults import FaultRule

Body = JSONBody[dict[str, Any]]


def _error(status: int, message: str) -> Response:
    return Response({"error": message}, status_code=status)


def _aiq(request: Request) -> AccountsIQSandbox:
    return request.app.state.accountsiq


def _summary(company: Company) -> dict:
    return {
        "company_id": company.company_id,
        "name": company.name,
        "region": company.region,
        "currency": company.currency,
        "customers": len(company.customers),
        "invoices": len(company.invoices),
        "receipts": len(company.receipts),
        "user_keys": [
            {"key": k.key, "user_id": k.user_id, "revoked": k.revoked} for k in company.user_keys
        ],
        "banks": [
            {"code": b.code, "bank_account_code": b.bank_account_code} for b in company.banks
        ],
    }


def _invoice_json(company: Company, invoice: Invoice) -> dict:
    customer = company.customer_by_id(invoice.account_id)
    return {
        "invoice_id": invoice.invoice_id,
        "transaction_id": invoice.transaction_id,
        "invoice_number": invoice.invoice_number,
        "external_reference": invoice.external_reference,
        "customer_code": customer.code if customer else None,
        "customer_email": customer.email if customer else None,
        "invoice_date": invoice.invoice_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "status": invoice.status,
        "net": money(invoice.net),
        "tax": money(invoice.tax),
        "gross": money(invoice.gross),
        "outstanding": money(company.invoice_outstanding(invoice)),
        "last_modified": stamp(invoice.last_modified),
    }


def _minor(value: object) -> int:
    amount = Decimal(str(value))
    if not amount.is_finite():
        raise ValueError(f"{value} is not an amount")
    return int((amount * 100).to_integral_value())


class AccountsIQAdmin(Controller):
    path = "/admin"

    @get("/companies")
    async def list_companies(self, request: Request) -> list[dict]:
        return [_summary(c) for c in _aiq(request).store.companies.values()]

    @post("/companies", status_code=201)
    async def add_company(self, request: Request, data: Body) -> Response:
        """Body: name, region (us1, eu1, eu2, uk1), invoices, seed, company_id, user_key,
        customers."""
        try:
            company = _aiq(request).add_company(
                data.get("name"),
                int(data.get("invoices", 30)),
                seed=int(data.get("seed", 0)),
                region=str(data.get("region", "eu1")),
                company_id=data.get("company_id"),
                user_key=data.get("user_key"),
                customers=data.get("customers"),
            )
        except (TypeError, ValueError) as error:
            return _error(400, str(error))
        return Response(_summary(company), status_code=201)

    @post("/partner-keys", status_code=201)
    async def add_partner_key(self, request: Request, data: Body) -> Response:
        key = data.get("key")
        if not isinstance(key, str) or not key:
            return _error(400, "key is a non-empty string")
        _aiq(request).add_partner_key(key)
        return Response({"key": key}, status_code=201)

    @get("/companies/{company_id:str}/invoices")
    async def list_invoices(self, request: Request, company_id: FromPath[str]) -> Response:
        company = _aiq(request).store.companies.get(company_id)
        if company is None:
            return _error(404, f"no company {company_id}")
        return Response([_invoice_json(company, i) for i in company.invoices])

    @get("/companies/{company_id:str}/invoices/{invoice_id:int}")
    async def get_invoice(
        self, request: Request, company_id: FromPath[str], invoice_id: FromPath[int]
    ) -> Response:
        company = _aiq(request).store.companies.get(company_id)
        invoice = company.invoice(invoice_id) if company else None
        if company is None or invoice is None:
            return _error(404, f"no invoice {invoice_id} in {company_id}")
        return Response(_invoice_json(company, invoice))

    @patch("/companies/{company_id:str}/invoices/{invoice_id:int}")
    async def change_invoice(
        self, request: Request, company_id: FromPath[str], invoice_id: FromPath[int], data: Body
    ) -> Response:
        """Body: any of paid (true), due_date (YYYY-MM-DD), net, tax (decimals), status
        (Processed, Posted, Cancelled). Each change moves LastModifiedUTC."""
        aiq = _aiq(request)
        company = aiq.store.companies.get(company_id)
        invoice = company.invoice(invoice_id) if company else None
        if company is None or invoice is None:
            return _error(404, f"no invoice {invoice_id} in {company_id}")
        try:
            if "due_date" in data:
                invoice.due_date = date.fromisoformat(str(data["due_date"]))
            if "net" in data:
                invoice.net = _minor(data["net"])
            if "tax" in data:
                invoice.tax = _minor(data["tax"])
            if "status" in data:
                if data["status"] not in INVOICE_STATUSES:
                    raise ValueError(f"status is one of {', '.join(INVOICE_STATUSES)}")
                invoice.status = data["status"]
            if data.get("paid") is True:
                if not company.banks:
                    raise ValueError("the company has no bank account")
                aiq.store.mark_paid(company, invoice, company.banks[0].bank_account_code)
        except (ValueError, InvalidOperation) as error:
            return _error(400, str(error))
        aiq.store.touch(invoice)
        return Response(_invoice_json(company, invoice))

    @post("/companies/{company_id:str}/user-keys", status_code=201)
    async def add_user_key(
        self, request: Request, company_id: FromPath[str], data: Body
    ) -> Response:
        from duely.sandbox.accountsiq.company import UserKey

        company = _aiq(request).store.companies.get(company_id)
        if company is None:
            return _error(404, f"no company {company_id}")
        key = data.get("key")
        if not isinstance(key, str) or not key or company.user_key(key):
            return _error(400, "key is a new non-empty string")
        company.user_keys.append(UserKey(key, str(data.get("user_id", "sandbox.user"))))
        return Response({"key": key}, status_code=201)

    @post("/companies/{company_id:str}/user-keys/{key:str}/revoke")
    async def revoke_user_key(
        self, request: Request, company_id: FromPath[str], key: FromPath[str]
    ) -> Response:
        """The key no longer logs in, and the sessions it opened end."""
        aiq = _aiq(request)
        company = aiq.store.companies.get(company_id)
        if company is None:
            return _error(404, f"no company {company_id}")
        try:
            aiq.store.revoke_user_key(company, key)
        except LookupError:
            return _error(404, f"no user key {key}")
        return Response({"key": key, "revoked": True})

    @post("/sessions/expire")
    async def expire_sessions(self, request: Request, data: Body) -> Response:
        """Body: company_id (optional; every company's sessions without it)."""
        ended = _aiq(request).store.expire_sessions(data.get("company_id"))
        return Response({"expired": ended})

    @get("/faults")
    async def list_faults(self, request: Request) -> list[dict]:
        return [rule.as_json() for rule in _aiq(request).faults.rules]

    @put("/faults")
    async def set_faults(self, request: Request, data: Body) -> Response:
        """Body: {"rules": [...], "seed": n}; a rule is FaultRule's fields, `region` standing
        for tenant_id. No 429s: AccountsIQ has no rate limit."""
        try:
            rules = []
            for raw in data.get("rules", []):
                rule = dict(raw)
                if "region" in rule:
                    rule["tenant_id"] = rule.pop("region")
                made = FaultRule(**rule)
                if made.rate_429 or made.fail_with == "429":
                    raise ValueError("AccountsIQ answers no 429: use 500 or drop")
                rules.append(made)
        except (TypeError, ValueError) as error:
            return _error(400, str(error))
        _aiq(request).faults.replace(rules, data.get("seed"))
        return Response([rule.as_json() for rule in rules])

    @delete("/faults", status_code=204)
    async def clear_faults(self, request: Request) -> None:
        _aiq(request).faults.clear()

    @get("/clock")
    async def clock(self, request: Request) -> dict:
        return {"now": stamp(_aiq(request).clock.now())}

    @post("/clock/advance")
    async def advance_clock(self, request: Request, data: Body) -> Response:
        """Body: seconds (not negative)."""
        try:
            now = _aiq(request).clock.advance(float(data.get("seconds", 0)))
        except (TypeError, ValueError) as error:
            return _error(400, str(error))
        return Response({"now": stamp(now)})
