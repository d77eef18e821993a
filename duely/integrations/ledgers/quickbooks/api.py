"""One QuickBooks Online company (realm) as a duely Ledger.

Every call carries `minorversion=75` (QuickBooks reads anything older as 75 since 2025-08).
Records are read with the query language, 1,000 rows a page (STARTPOSITION is 1-based), in
order of MetaData.LastUpdatedTime so that a sync resumes from its newest stamp, as it does for
Xero. Errors come back as a `Fault`: AuthenticationFault (401) is a token to refresh once,
AuthorizationFault (403) a grant that no longer covers the company, ValidationFault (400) a
refusal, SystemFault (5xx) an outage, and 429 ThrottleExceeded a minute to wait.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from duely.core.money import to_major
from duely.integrations.ledgers.authorised_calls import LedgerWays, Throttle, authorised_call
from duely.integrations.ledgers.base import (
    Changes,
    LedgerContact,
    LedgerContactGroup,
    LedgerCredit,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerRejected,
    PaymentToRecord,
    RecordedPayment,
)
from duely.integrations.ledgers.oauth_tokens import TokenKeeper
from duely.integrations.ledgers.paging import Record, keyset_pages
from duely.integrations.ledgers.quickbooks.mapping import (
    Json,
    contact_from_quickbooks,
    credit_from_quickbooks,
    invoice_from_quickbooks,
    organisation_from_quickbooks,
)
from duely.integrations.ledgers.rate_limit import TenantRateLimiter

MINOR_VERSION = "75"
PAGE_SIZE = 1000
"""The most rows a query answers."""
IDS_PER_QUERY = 100
CURSOR_OVERLAP = timedelta(seconds=1)
CDC_REACH = timedelta(days=29)
"""QuickBooks' change feed goes back 30 days: a sync older than that reads by query."""
CDC_MOST = 1000
"""The most records the change feed answers: a full answer may have left some out."""
"""Re-read the last second before the cursor: stamps are to the second."""


def _fault_message(response: httpx.Response) -> str:
    try:
        fault = response.json().get("Fault") or {}
    except ValueError:
        return response.text[:300]
    errors = fault.get("Error") or [{}]
    first = errors[0]
    detail = first.get("Detail") or first.get("Message") or response.text[:300]
    return f"{detail} (code {first.get('code', '?')})"


def _quoted(value: str) -> str:
    """A literal of QuickBooks' query language (not SQL, but quoted the same way)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


PROMISE_PREFIX = "duely: payment promised for "


def promised_note(note: str, day: date) -> str:
    """The invoice's private note with duely's promise line in place of any earlier one."""
    kept = [line for line in note.splitlines() if not line.startswith(PROMISE_PREFIX)]
    return "\n".join([*kept, f"{PROMISE_PREFIX}{day.isoformat()}"])


def payment_number(reference: str) -> str:
    """The PaymentRefNum for a duely reference: QuickBooks keeps 21 characters there, duely's
    references are longer, so a digest of it (the full reference goes in PrivateNote)."""
    return "duely-" + hashlib.sha256(reference.encode()).hexdigest()[:15]


def request_id(key: str) -> str:
    """QuickBooks' `requestid` holds 50 characters: a digest of duely's idempotency key."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def payment_body(payment: PaymentToRecord, customer_id: str) -> Json:
    amount = float(to_major(payment.amount, payment.currency))
    body: Json = {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": amount,
        "TxnDate": payment.paid_on.isoformat(),
        "CurrencyRef": {"value": payment.currency},
        "PaymentRefNum": payment_number(payment.reference),
        "PrivateNote": payment.reference,
        "Line": [
            {
                "Amount": amount,
                "LinkedTxn": [{"TxnId": payment.invoice_external_id, "TxnType": "Invoice"}],
            }
        ],
    }
    if payment.account_code:
        body["DepositToAccountRef"] = {"value": payment.account_code}
    return body


class QuickBooksLedger:
    needs_payment_account = False
    """Without one, QuickBooks puts a payment in Undeposited Funds, as a bookkeeper expects
    of card takings not yet banked."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        realm_id: str,
        tokens: TokenKeeper,
        limiter: TenantRateLimiter,
        *,
        throttle_seconds: float = 60.0,
        home_currencies: dict[str, str] | None = None,
    ) -> None:
        """`throttle_seconds`: the company's pause after a 429, which names no wait of its own
        (Intuit's documentation says a minute). `home_currencies`: each company's home
        currency by realm, kept by the process (QuickBooks never changes it once set) so that
        a client opened for one activity does not ask again."""
        self._http = http
        throttled = Throttle(throttle_seconds)
        self._ways = LedgerWays("QuickBooks", lambda _: throttled, _fault_message)
        self._base = f"{api_url}/v3/company/{realm_id}"
        self._realm_id = realm_id
        self._tokens = tokens
        self.limiter = limiter
        self._home_currencies = {} if home_currencies is None else home_currencies

    # --- transport --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = {**kwargs.pop("params", {}), "minorversion": MINOR_VERSION}
        accept = kwargs.pop("accept", "application/json")

        async def send(token: str) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}", "Accept": accept}
            return await self._http.request(
                method, f"{self._base}{path}", params=params, headers=headers, **kwargs
            )

        return await authorised_call(self._ways, self._tokens, self.limiter, send)

    async def _query(self, text: str) -> Json:
        response = await self._request("GET", "/query", params={"query": text})
        answer: Json = response.json().get("QueryResponse") or {}
        return answer

    async def _home(self) -> str:
        """The company's home currency: a document without a CurrencyRef is in it."""
        if self._realm_id not in self._home_currencies:
            preferences = (await self._request("GET", "/preferences")).json()
            prefs = preferences.get("Preferences") or {}
            home = (prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
            self._home_currencies[self._realm_id] = home.get("value") or "USD"
        return self._home_currencies[self._realm_id]

    # --- reading ----------------------------------------------------------------------------

    def _changed(
        self,
        entity: str,
        mapper: Callable[[Json], Record],
        since: datetime | None,
        page: int,
        also: tuple[str, ...] = (),
    ) -> AsyncIterator[Changes]:
        """Pages in order of MetaData.LastUpdatedTime from `since`, resumed from each page's
        newest stamp like Xero's (duely.integrations.ledgers.paging); `also`: conditions
        every page's query adds."""

        async def read_page(cursor: datetime | None, number: int) -> list[Record]:
            conditions = list(also)
            if cursor:
                since = (cursor - CURSOR_OVERLAP).isoformat()
                conditions.append(f"MetaData.LastUpdatedTime >= '{since}'")
            where = f" where {' and '.join(conditions)}" if conditions else ""
            start = (number - 1) * PAGE_SIZE + 1
            answer = await self._query(
                f"select * from {entity}{where} ORDERBY MetaData.LastUpdatedTime "  # noqa: S608
                f"STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
            )
            return [mapper(record) for record in answer.get(entity) or []]

        return keyset_pages(read_page, PAGE_SIZE, since, page)

    def changed_contacts(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        # A query leaves inactive customers out unless it names Active: one made inactive
        # (QuickBooks' archive) would never be seen to change.
        every_customer = ("Active IN (true, false)",)
        return self._changed("Customer", contact_from_quickbooks, since, page, every_customer)

    async def changed_invoices(
        self, since: datetime | None, page: int = 1
    ) -> AsyncIterator[Changes]:
        """From the change feed (CDC) when the last sync is recent enough for it, which also
        tells of deleted invoices; otherwise, or when the feed is full, page through a query."""
        home = await self._home()
        if since is not None and page == 1 and datetime.now(UTC) - since < CDC_REACH:
            changed = await self._change_feed("Invoice", since - CURSOR_OVERLAP)
            if len(changed) < CDC_MOST:
                items = [invoice_from_quickbooks(raw, home) for raw in changed]
                newest = max((i.updated_at for i in items if i.updated_at), default=since)
                yield Changes(items=items, next_cursor=newest, next_page=1, done=True)
                return
        async for changes in self._changed(
            "Invoice", lambda raw: invoice_from_quickbooks(raw, home), since, page
        ):
            yield changes

    async def _change_feed(self, entity: str, since: datetime) -> list[Json]:
        """`GET /cdc`: the entity's records changed since, deleted ones included."""
        response = await self._request(
            "GET", "/cdc", params={"entities": entity, "changedSince": since.isoformat()}
        )
        found: list[Json] = []
        for block in response.json().get("CDCResponse") or []:
            for answer in block.get("QueryResponse") or []:
                found += answer.get(entity) or []
        return found

    async def _by_ids(self, entity: str, external_ids: list[str]) -> list[Json]:
        found: list[Json] = []
        for start in range(0, len(external_ids), IDS_PER_QUERY):
            chunk = external_ids[start : start + IDS_PER_QUERY]
            ids = ", ".join(_quoted(i) for i in chunk)
            answer = await self._query(
                f"select * from {entity} where Id IN ({ids}) MAXRESULTS {PAGE_SIZE}"  # noqa: S608
            )
            found += answer.get(entity) or []
        return found

    async def get_invoices(self, external_ids: list[str]) -> list[LedgerInvoice]:
        home = await self._home()
        return [
            invoice_from_quickbooks(r, home) for r in await self._by_ids("Invoice", external_ids)
        ]

    async def get_contacts(self, external_ids: list[str]) -> list[LedgerContact]:
        return [contact_from_quickbooks(r) for r in await self._by_ids("Customer", external_ids)]

    async def organisation(self) -> LedgerOrganisation:
        company = (await self._request("GET", f"/companyinfo/{self._realm_id}")).json()
        preferences = (await self._request("GET", "/preferences")).json()
        return organisation_from_quickbooks(
            company.get("CompanyInfo") or {}, preferences.get("Preferences") or {}
        )

    async def open_credit(self) -> list[LedgerCredit]:
        """Credit memos with credit left, and payments with an amount not applied to any
        invoice (QuickBooks' overpayments and prepayments alike)."""
        home = await self._home()
        memos = await self._query(
            f"select * from CreditMemo where Balance > '0' MAXRESULTS {PAGE_SIZE}"  # noqa: S608
        )
        unapplied = await self._query(
            f"select * from Payment where UnappliedAmt > '0' MAXRESULTS {PAGE_SIZE}"  # noqa: S608
        )
        return [
            *(
                credit_from_quickbooks("credit_note", raw, home)
                for raw in memos.get("CreditMemo") or []
            ),
            *(
                credit_from_quickbooks("overpayment", raw, home)
                for raw in unapplied.get("Payment") or []
            ),
        ]

    async def contact_groups(self) -> list[LedgerContactGroup]:
        """QuickBooks keeps no groups of customers: schedules are assigned by name there."""
        return []

    async def set_expected_payment_date(self, invoice_external_id: str, day: date) -> None:
        """QuickBooks has no expected payment date: the promise goes in the invoice's private
        note (which the bookkeeper sees, the customer does not), replacing duely's last one."""
        found = await self._by_ids("Invoice", [invoice_external_id])
        if not found:
            raise LedgerRejected("QuickBooks has no such invoice")
        raw = found[0]
        note = promised_note(raw.get("PrivateNote", ""), day)
        await self._request(
            "POST",
            "/invoice",
            json={
                "Id": raw["Id"],
                "SyncToken": raw["SyncToken"],
                "sparse": True,
                "PrivateNote": note,
            },
        )

    async def owed_by(self, contact_external_id: str, as_of: date, currency: str) -> int:
        raise NotImplementedError("duely does not read QuickBooks' aged receivables report yet")

    async def add_notes(
        self, invoice_external_id: str, notes: list[str], idempotency_key: str
    ) -> None:
        raise NotImplementedError("QuickBooks keeps no history notes on an invoice")

    async def online_invoice_url(self, invoice_external_id: str) -> str:
        raise NotImplementedError("duely does not ask QuickBooks for invoice links yet")

    # --- payments ---------------------------------------------------------------------------

    async def find_payments(self, references: list[str]) -> dict[str, str]:
        """QuickBooks' payment id of each reference it holds a payment with, found by the
        short PaymentRefNum duely writes for it."""
        by_number = {payment_number(reference): reference for reference in references}
        found: dict[str, str] = {}
        numbers = list(by_number)
        for start in range(0, len(numbers), IDS_PER_QUERY):
            listed = ", ".join(_quoted(n) for n in numbers[start : start + IDS_PER_QUERY])
            answer = await self._query(
                f"select * from Payment where PaymentRefNum IN ({listed}) MAXRESULTS {PAGE_SIZE}"  # noqa: S608
            )
            for payment in answer.get("Payment") or []:
                reference = by_number.get(payment.get("PaymentRefNum", ""))
                if reference:
                    found[reference] = str(payment["Id"])
        return found

    async def record_payments(
        self, payments: list[PaymentToRecord], idempotency_key: str
    ) -> list[RecordedPayment | LedgerRejected]:
        """One `POST /payment` each, linked to its invoice, under a `requestid` derived from
        the key (QuickBooks answers a repeat with the first answer). A payment QuickBooks
        refuses (a ValidationFault: more than is due, a closed invoice) does not stop the
        others."""
        customers = {p.invoice_external_id: p.contact_external_id for p in payments}
        if unknown := [invoice for invoice, customer in customers.items() if not customer]:
            for raw in await self._by_ids("Invoice", unknown):
                customers[str(raw["Id"])] = str((raw.get("CustomerRef") or {}).get("value", ""))
        answers: list[RecordedPayment | LedgerRejected] = []
        for n, payment in enumerate(payments):
            customer = customers.get(payment.invoice_external_id)
            if not customer:
                answers.append(LedgerRejected("QuickBooks has no such invoice"))
                continue
            try:
                response = await self._request(
                    "POST",
                    "/payment",
                    params={"requestid": request_id(f"{idempotency_key}:{n}")},
                    json=payment_body(payment, customer),
                )
            except LedgerRejected as refused:
                answers.append(refused)
                continue
            answers.append(RecordedPayment(str(response.json()["Payment"]["Id"])))
        return answers

    async def invoice_pdf(self, invoice_external_id: str) -> bytes:
        response = await self._request(
            "GET", f"/invoice/{invoice_external_id}/pdf", accept="application/pdf"
        )
        return response.content
