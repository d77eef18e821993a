"""One QuickBooks Online company (realm) as a duely Ledger: reading, so far.

Every call carries `minorversion=75` (QuickBooks reads anything older as 75 since 2025-08).
Records are read with the query language, 1,000 rows a page (STARTPOSITION is 1-based), in
order of MetaData.LastUpdatedTime so that a sync resumes from its newest stamp, as it does for
Xero. Errors come back as a `Fault`: AuthenticationFault (401) is a token to refresh once,
AuthorizationFault (403) a grant that no longer covers the company, ValidationFault (400) a
refusal, SystemFault (5xx) an outage, and 429 ThrottleExceeded a minute to wait.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from duely.integrations.ledgers.base import (
    Changes,
    LedgerAuthError,
    LedgerContact,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerRateLimited,
    LedgerRejected,
    LedgerUnavailable,
)
from duely.integrations.ledgers.oauth_tokens import TokenKeeper
from duely.integrations.ledgers.quickbooks.mapping import (
    Json,
    contact_from_quickbooks,
    invoice_from_quickbooks,
    organisation_from_quickbooks,
)
from duely.integrations.ledgers.rate_limit import TenantRateLimiter

MINOR_VERSION = "75"
PAGE_SIZE = 1000
"""The most rows a query answers."""
IDS_PER_QUERY = 100
LONGEST_WAIT_SECONDS = 120.0
MAX_THROTTLED_TRIES = 10
THROTTLE_WAIT_SECONDS = 60.0
"""QuickBooks' 429 says no Retry-After; its documentation says to wait a minute."""
CURSOR_OVERLAP = timedelta(seconds=1)
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


class QuickBooksLedger:
    def __init__(
        self,
        http: httpx.AsyncClient,
        api_url: str,
        realm_id: str,
        tokens: TokenKeeper,
        limiter: TenantRateLimiter,
    ) -> None:
        self._http = http
        self._base = f"{api_url}/v3/company/{realm_id}"
        self._realm_id = realm_id
        self._tokens = tokens
        self.limiter = limiter
        self._home_currency = ""

    # --- transport --------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = {**kwargs.pop("params", {}), "minorversion": MINOR_VERSION}
        accept = kwargs.pop("accept", "application/json")
        token = await self._tokens.access_token()
        refreshed = False
        for _ in range(MAX_THROTTLED_TRIES):
            headers = {"Authorization": f"Bearer {token}", "Accept": accept}
            async with self.limiter.slot():
                try:
                    response = await self._http.request(
                        method, f"{self._base}{path}", params=params, headers=headers, **kwargs
                    )
                except httpx.TransportError as error:
                    raise LedgerUnavailable(f"QuickBooks unreachable: {error!r}") from error
            if response.status_code == 429:
                self.limiter.pause(THROTTLE_WAIT_SECONDS)
                continue
            if response.status_code == 401 and not refreshed:
                token = await self._tokens.replace_rejected(token)
                refreshed = True
                continue
            if response.status_code in (401, 403):
                raise LedgerAuthError(f"QuickBooks refused access: {_fault_message(response)}")
            if response.status_code >= 500:
                raise LedgerUnavailable(f"QuickBooks answered {response.status_code}")
            if response.status_code >= 400:
                raise LedgerRejected(_fault_message(response))
            return response
        raise LedgerRateLimited("QuickBooks kept answering 429", LONGEST_WAIT_SECONDS)

    async def _query(self, text: str) -> Json:
        response = await self._request("GET", "/query", params={"query": text})
        answer: Json = response.json().get("QueryResponse") or {}
        return answer

    async def _home(self) -> str:
        """The company's home currency: a document without a CurrencyRef is in it."""
        if not self._home_currency:
            preferences = (await self._request("GET", "/preferences")).json()
            prefs = preferences.get("Preferences") or {}
            home = (prefs.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
            self._home_currency = home.get("value") or "USD"
        return self._home_currency

    # --- reading ----------------------------------------------------------------------------

    async def _changed(
        self,
        entity: str,
        mapper: Callable[[Json], LedgerContact | LedgerInvoice],
        since: datetime | None,
        page: int,
    ) -> AsyncIterator[Changes]:
        """Keyset paging on MetaData.LastUpdatedTime, like Xero's: each page's newest stamp
        becomes the next cursor, so records changed while we page are not skipped."""
        cursor = since
        while True:
            where = (
                f" where MetaData.LastUpdatedTime >= '{(cursor - CURSOR_OVERLAP).isoformat()}'"
                if cursor
                else ""
            )
            start = (page - 1) * PAGE_SIZE + 1
            raw = (
                await self._query(
                    f"select * from {entity}{where} ORDERBY MetaData.LastUpdatedTime "  # noqa: S608
                    f"STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"
                )
            ).get(entity) or []
            items = [mapper(record) for record in raw]
            done = len(raw) < PAGE_SIZE
            newest = max((i.updated_at for i in items if i.updated_at), default=None)
            if newest and (cursor is None or newest > cursor):
                cursor, page = newest, 1
            else:
                page += 1  # a whole page stamped within the same second: step through it
            yield Changes(items=items, next_cursor=cursor, next_page=page, done=done)
            if done:
                return

    def changed_contacts(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        return self._changed("Customer", contact_from_quickbooks, since, page)

    async def changed_invoices(
        self, since: datetime | None, page: int = 1
    ) -> AsyncIterator[Changes]:
        home = await self._home()
        async for changes in self._changed(
            "Invoice", lambda raw: invoice_from_quickbooks(raw, home), since, page
        ):
            yield changes

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

    async def invoice_pdf(self, invoice_external_id: str) -> bytes:
        response = await self._request(
            "GET", f"/invoice/{invoice_external_id}/pdf", accept="application/pdf"
        )
        return response.content
