"""One Xero tenant as a duely Ledger: paging, pacing, retries and the accounting calls."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from duely.core.money import to_major, to_minor
from duely.integrations.ledgers.authorised_calls import LedgerWays, Throttle, authorised_call
from duely.integrations.ledgers.base import (
    Changes,
    LedgerContact,
    LedgerContactGroup,
    LedgerCredit,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerRejected,
    LedgerUnavailable,
    PaymentToRecord,
    RecordedPayment,
)
from duely.integrations.ledgers.oauth_tokens import TokenKeeper
from duely.integrations.ledgers.paging import Record, keyset_pages
from duely.integrations.ledgers.rate_limit import TenantRateLimiter
from duely.integrations.ledgers.xero.mapping import (
    closing_balance,
    contact_from_xero,
    credit_from_xero,
    invoice_from_xero,
    organisation_from_xero,
)

PAGE_SIZE = 1000
IDS_PER_CALL = 50
REFERENCES_PER_CALL = 25
"""A lookup of 25 references by `where` stays near 1,500 characters of URL."""
MAX_RATE_LIMITED_TRIES = 30
# Re-read the last second before the cursor: If-Modified-Since may be exclusive, and records
# stamped within one second of each other must not slip between two pages.
CURSOR_OVERLAP = timedelta(seconds=1)
OPEN_CREDIT = (
    ("credit_note", "/CreditNotes", "CreditNotes", "ACCRECCREDIT"),
    ("overpayment", "/Overpayments", "Overpayments", "RECEIVE-OVERPAYMENT"),
    ("prepayment", "/Prepayments", "Prepayments", "RECEIVE-PREPAYMENT"),
)
"""(kind, path, envelope key, the customer side's Type) of each kind of credit."""
NOTE_MAX_CHARS = 250
"""Xero keeps at most this much of a history note's Details (History and Notes docs)."""


def _error_message(response: httpx.Response) -> str:
    """Xero's validation messages, or its title/detail, as one readable line."""
    try:
        body = response.json()
    except json.JSONDecodeError:
        return response.text[:300] or response.reason_phrase
    messages = [
        error.get("Message", "")
        for element in body.get("Elements") or []
        for error in element.get("ValidationErrors") or []
    ]
    return (
        "; ".join(filter(None, messages))
        or body.get("Message")
        or body.get("Detail")
        or str(body)[:300]
    )


def _throttle(response: httpx.Response) -> Throttle:
    """Xero's 429 says how long (Retry-After) and which limit: a day's limit asks for hours,
    which the caller waits out, not the call."""
    problem = response.headers.get("X-Rate-Limit-Problem", "")
    seconds = float(response.headers.get("Retry-After") or 60)
    return Throttle(seconds, f"{problem} rate limit" if problem else "rate limit")


def _observe(limiter: TenantRateLimiter) -> Callable[[httpx.Response], None]:
    def observe(response: httpx.Response) -> None:
        limiter.observe(response.headers.get("X-MinLimit-Remaining"))

    return observe


class XeroLedger:
    needs_payment_account = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        accounting_url: str,
        tenant_id: str,
        tokens: TokenKeeper,
        limiter: TenantRateLimiter,
    ) -> None:
        self._http = http
        self._base = accounting_url
        self._tenant_id = tenant_id
        self._tokens = tokens
        self.limiter = limiter
        self._ways = LedgerWays(
            "Xero", _throttle, _error_message, _observe(limiter), MAX_RATE_LIMITED_TRIES
        )

    # --- transport --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        accept = kwargs.pop("accept", "application/json")
        extra_headers = kwargs.pop("headers", {})

        async def send(token: str) -> httpx.Response:
            headers = {
                "Authorization": f"Bearer {token}",
                "xero-tenant-id": self._tenant_id,
                "Accept": accept,
                **extra_headers,
            }
            return await self._http.request(
                method, f"{self._base}{path}", headers=headers, **kwargs
            )

        return await authorised_call(self._ways, self._tokens, self.limiter, send)

    async def _get(
        self, path: str, params: dict | None = None, since: datetime | None = None
    ) -> dict[str, Any]:
        headers = {"If-Modified-Since": (since - CURSOR_OVERLAP).isoformat()} if since else {}
        response = await self._request("GET", path, params=params, headers=headers)
        return response.json()

    # --- reading ----------------------------------------------------------------------------

    def _changed(
        self,
        path: str,
        key: str,
        params: dict,
        mapper: Callable[[dict], LedgerContact | LedgerInvoice],
        since: datetime | None,
        page: int,
    ) -> AsyncIterator[Changes]:
        """Pages in order of UpdatedDateUTC, from `since` (If-Modified-Since), resumed from
        each page's newest stamp (duely.integrations.ledgers.paging)."""

        async def read_page(cursor: datetime | None, number: int) -> list[Record]:
            body = await self._get(
                path,
                {**params, "order": "UpdatedDateUTC ASC", "page": number, "pageSize": PAGE_SIZE},
                since=cursor,
            )
            return [mapper(record) for record in body.get(key) or []]

        return keyset_pages(read_page, PAGE_SIZE, since, page)

    def changed_contacts(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        # Customers only: suppliers are not chased. A contact that turns into a customer
        # with its first invoice is fetched by id after the invoices pass (get_contacts).
        return self._changed(
            "/Contacts",
            "Contacts",
            {"where": "IsCustomer==true", "includeArchived": "true"},
            contact_from_xero,
            since,
            page,
        )

    def changed_invoices(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        # Sales invoices only: bills (ACCPAY) are what the business owes, not what it is owed.
        return self._changed(
            "/Invoices", "Invoices", {"where": 'Type=="ACCREC"'}, invoice_from_xero, since, page
        )

    async def owed_by(self, contact_external_id: str, as_of: date, currency: str) -> int:
        """The Due column of the Closing Balance row of `GET /Reports/AgedReceivablesByContact`
        (Xero counts unused credit there as negative lines)."""
        body = await self._get(
            "/Reports/AgedReceivablesByContact",
            {"contactId": contact_external_id, "date": as_of.isoformat()},
        )
        (report,) = body.get("Reports") or [{}]
        closing = closing_balance(report)
        if closing is None:
            raise LedgerUnavailable("Xero's aged receivables report has no closing balance")
        return to_minor(closing, currency)

    async def contact_groups(self) -> list[LedgerContactGroup]:
        """`GET /ContactGroups` names them; only `GET /ContactGroups/{id}` lists a group's
        contacts (one call per group: a business keeps a handful)."""
        listed = await self._get("/ContactGroups", {"where": 'Status=="ACTIVE"'})
        groups = []
        for group in listed.get("ContactGroups") or []:
            body = await self._get(f"/ContactGroups/{group['ContactGroupID']}")
            (whole,) = body.get("ContactGroups") or [{}]
            members = tuple(c["ContactID"] for c in whole.get("Contacts") or [])
            groups.append(LedgerContactGroup(group.get("Name") or "", members))
        return groups

    async def open_credit(self) -> list[LedgerCredit]:
        """Customers' credit notes, overpayments and prepayments still AUTHORISED (Xero marks
        them PAID once fully allocated or refunded), each read whole every sync: a customer
        has few, and a snapshot also drops what was allocated since."""
        found: list[LedgerCredit] = []
        for kind, path, key, type_ in OPEN_CREDIT:
            page = 1
            while True:
                where = f'Type=="{type_}" AND Status=="AUTHORISED"'
                params = {"where": where, "page": page, "pageSize": PAGE_SIZE}
                raw = (await self._get(path, params)).get(key) or []
                found += [credit_from_xero(kind, record) for record in raw]
                if len(raw) < PAGE_SIZE:
                    break
                page += 1
        return [credit for credit in found if credit.remaining > 0]

    async def get_invoices(self, external_ids: list[str]) -> list[LedgerInvoice]:
        """Batched by id (never one call per invoice)."""
        found: list[LedgerInvoice] = []
        for start in range(0, len(external_ids), IDS_PER_CALL):
            chunk = external_ids[start : start + IDS_PER_CALL]
            body = await self._get("/Invoices", {"IDs": ",".join(chunk)})
            found += [invoice_from_xero(raw) for raw in body.get("Invoices") or []]
        return found

    async def get_contacts(self, external_ids: list[str]) -> list[LedgerContact]:
        found: list[LedgerContact] = []
        for start in range(0, len(external_ids), IDS_PER_CALL):
            chunk = external_ids[start : start + IDS_PER_CALL]
            body = await self._get("/Contacts", {"IDs": ",".join(chunk)})
            found += [contact_from_xero(raw) for raw in body.get("Contacts") or []]
        return found

    async def organisation(self) -> LedgerOrganisation:
        body = await self._get("/Organisation")
        return organisation_from_xero((body.get("Organisations") or [{}])[0])

    async def invoice_pdf(self, invoice_external_id: str) -> bytes:
        response = await self._request(
            "GET", f"/Invoices/{invoice_external_id}", accept="application/pdf"
        )
        return response.content

    # --- writing ----------------------------------------------------------------------------

    async def online_invoice_url(self, invoice_external_id: str) -> str:
        body = await self._get(f"/Invoices/{invoice_external_id}/OnlineInvoice")
        (online,) = body.get("OnlineInvoices") or [{}]
        url = online.get("OnlineInvoiceUrl") or ""
        if not url:
            raise LedgerRejected("Xero has no online invoice for it")
        return str(url)

    async def find_payments(self, references: list[str]) -> dict[str, str]:
        """One `GET /Payments?where=Reference=="a" OR Reference=="b" ...` per
        REFERENCES_PER_CALL references."""
        found: dict[str, str] = {}
        for start in range(0, len(references), REFERENCES_PER_CALL):
            chunk = {r.replace('"', "") for r in references[start : start + REFERENCES_PER_CALL]}
            where = " OR ".join(f'Reference=="{reference}"' for reference in sorted(chunk))
            body = await self._get("/Payments", {"where": where})
            for payment in body.get("Payments") or []:
                if payment.get("Status") != "DELETED" and payment.get("Reference") in chunk:
                    found.setdefault(payment["Reference"], payment["PaymentID"])
        return found

    async def record_payments(
        self, payments: list[PaymentToRecord], idempotency_key: str
    ) -> list[RecordedPayment | LedgerRejected]:
        """One PUT for the lot with `summarizeErrors=false`, so one refused payment (say, an
        account that takes no payments) does not hold up the others."""
        body = {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": payment.invoice_external_id},
                    "Account": {"Code": payment.account_code},
                    "Date": payment.paid_on.isoformat(),
                    "Amount": float(to_major(payment.amount, payment.currency)),
                    "Reference": payment.reference,
                }
                for payment in payments
            ]
        }
        response = await self._request(
            "PUT",
            "/Payments",
            json=body,
            params={"summarizeErrors": "false"},
            headers={"Idempotency-Key": idempotency_key},
        )
        answers = response.json().get("Payments") or []
        if len(answers) != len(payments):
            raise LedgerUnavailable(
                f"Xero answered {len(answers)} payments for the {len(payments)} sent"
            )
        return [_recorded_or_refused(answer) for answer in answers]

    async def set_expected_payment_date(self, invoice_external_id: str, day: date) -> None:
        body = {
            "Invoices": [{"InvoiceID": invoice_external_id, "ExpectedPaymentDate": day.isoformat()}]
        }
        await self._request("POST", f"/Invoices/{invoice_external_id}", json=body)

    async def add_notes(
        self, invoice_external_id: str, notes: list[str], idempotency_key: str
    ) -> None:
        """`PUT /Invoices/{id}/History`: Xero shows each as a note by "System Generated" under
        History & Notes. A note is cut to the 250 characters Xero keeps."""
        body = {"HistoryRecords": [{"Details": _fits_a_note(note)} for note in notes]}
        await self._request(
            "PUT",
            f"/Invoices/{invoice_external_id}/History",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )


def _fits_a_note(text: str) -> str:
    return text if len(text) <= NOTE_MAX_CHARS else text[: NOTE_MAX_CHARS - 1] + "…"


def _recorded_or_refused(answer: dict) -> RecordedPayment | LedgerRejected:
    if answer.get("HasValidationErrors") or not answer.get("PaymentID"):
        messages = [error.get("Message", "") for error in answer.get("ValidationErrors") or []]
        return LedgerRejected("; ".join(filter(None, messages)) or "Xero refused the payment")
    return RecordedPayment(answer["PaymentID"])
