"""One AccountsIQ company as a duely Ledger, over the Integration 1.1 SOAP web service.

Every call carries the session token first. A session lasts 20 minutes: the token keeper
(oauth_tokens.py, the User Key standing as the refresh token) opens a new one two minutes
before the end, and once more when AccountsIQ answers that a session has expired. Errors come
inside the result (OperationResult): Success and Created are answers; Failure, NotCreated and
Conflicted are refusals, never retried blindly (LedgerRejected); Unknown and InProgress may
have done something, so they are retried later, after a lookup (LedgerUnavailable).

AccountsIQ has no webhooks and its invoices do not change when they are paid (an allocation
is not an edit): the outstanding amount and due date come from the customers' statements.
A sync reads changed invoice headers a page at a time with each page's statements; the daily
full sync and the re-read before every reminder catch payments in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from xml.etree.ElementTree import Element

from duely.core.money import to_major, to_minor
from duely.integrations.ledgers.accountsiq import soap
from duely.integrations.ledgers.accountsiq.mapping import (
    OpenItem,
    contact_from_accountsiq,
    invoice_from_accountsiq,
    now,
    statement_items,
)
from duely.integrations.ledgers.accountsiq.service import AccountsIQService
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
from duely.integrations.ledgers.rate_limit import TenantRateLimiter

PAGE_SIZE = 500
CURSOR_OVERLAP = timedelta(minutes=2)
"""AccountsIQ names no change stamp on an invoice: the cursor is the moment duely asked, so
the next sync asks again from a little before it (clocks differ)."""
REFUSED = ("Failure", "NotCreated", "Conflicted")
ANSWERED = ("Success", "Created")
WRITES = frozenset(
    {
        "SaveSalesReceiptGetBackTransactionID",
        "AllocateTransactions",
        "PostPayAndAllocateSalesInvoice",
    }
)
READ_RETRY_SECONDS = (0.5, 1.0, 2.0, 4.0)
STATEMENT_AHEAD = timedelta(days=366)
"""A statement lists what is dated up to its day: asked a year ahead, it also holds invoices
dated in the future (raised now, dated for a delivery), which are owed all the same."""
RECEIPT_SEARCH = timedelta(days=400)
"""How far around the payment's date a receipt is looked for by its reference."""


class AccountsIQLedger:
    needs_payment_account = True
    """A receipt names the bank account it is lodged to (BankAccountCode)."""

    def __init__(
        self,
        service: AccountsIQService,
        location: str,
        company_id: str,
        session: TokenKeeper,
        limiter: TenantRateLimiter,
    ) -> None:
        self._service = service
        self._location = location
        self.company_id = company_id
        self._session = session
        self.limiter = limiter

    # --- transport --------------------------------------------------------------------------

    async def _call(self, operation: str, parameters: list[tuple[str, soap.Value]]) -> Element:
        """The operation's response, once a session is open; one new session when AccountsIQ
        says this one has expired."""
        token = await self._session.access_token()
        for attempt in range(2):
            answer = await self._send(operation, [("token", token), *parameters])
            found = soap.child(answer, f"{operation}Result")
            if soap.text(found, "HasExpired") == "true" and attempt == 0:
                token = await self._session.replace_rejected(token)
                continue
            status = soap.text(found, "Status")  # required by the WSDL: absent, unreadable
            if status in ANSWERED:
                return answer
            problem = f"{soap.text(found, 'ErrorCode')}: {soap.text(found, 'ErrorMessage')}"
            if status in REFUSED:
                raise LedgerRejected(f"AccountsIQ refused {operation} ({status}) {problem}")
            raise LedgerUnavailable(
                f"AccountsIQ answered {operation} with {status or 'no status'} {problem}"
            )
        raise LedgerUnavailable(f"AccountsIQ kept saying the session of {operation} expired")

    async def _send(self, operation: str, parameters: list[tuple[str, soap.Value]]) -> Element:
        """One call; a read that meets an outage (no answer, a 5xx) is asked again a few
        times, a little later each time. A write is not: it may have happened, and only a
        lookup can tell (the caller's retry looks first)."""
        tries = 1 if operation in WRITES else len(READ_RETRY_SECONDS) + 1
        for attempt in range(tries):
            try:
                async with self.limiter.slot():
                    return await self._service.call(self._location, operation, parameters)
            except LedgerUnavailable:
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(READ_RETRY_SECONDS[attempt])
        raise AssertionError("unreachable")

    async def _results(
        self, operation: str, item: str, parameters: list[tuple[str, soap.Value]]
    ) -> list[Element]:
        """The items of the operation's `Result` array."""
        answer = await self._call(operation, parameters)
        result = soap.child(answer, f"{operation}Result")
        found = soap.child(result, "Result") if result is not None else None
        return soap.children(found, item) if found is not None else []

    async def _statements(
        self, customer_codes: list[str], up_to: datetime, *, show_zeros: bool = False
    ) -> list[Element]:
        """The customers' statements (every customer's when none is named)."""
        codes = sorted({code for code in customer_codes if code})
        return await self._results(
            "GetCustomersStatement",
            "CustomerStatement",
            [
                ("upTo", up_to),
                ("customerCodes", [("string", code) for code in codes] if codes else None),
                ("showZeros", show_zeros),
            ],
        )

    async def _open_items(self, customer_codes: list[str]) -> dict[str, OpenItem]:
        if not any(customer_codes):
            return {}
        return statement_items(await self._statements(customer_codes, now() + STATEMENT_AHEAD))

    # --- reading ----------------------------------------------------------------------------

    async def changed_contacts(
        self, since: datetime | None, page: int = 1
    ) -> AsyncIterator[Changes]:
        """Every customer changed since (all of them on a full sync), in one answer."""
        read_at = now()
        if since is None:
            customers = await self._results("GetCustomerList", "Customer", [])
        else:
            query: dict[str, soap.Value] = {"FromLastModifiedDateInUTC": since - CURSOR_OVERLAP}
            customers = await self._results("GetCustomersBy", "Customer", [("query", query)])
        items = [contact_from_accountsiq(raw, read_at) for raw in customers]
        yield Changes(items=items, next_cursor=read_at, next_page=1, done=True)

    async def changed_invoices(
        self, since: datetime | None, page: int = 1
    ) -> AsyncIterator[Changes]:
        """Invoice headers changed since (by InvoiceID, PAGE_SIZE a page: an invoice changed
        meanwhile joins the filter at its place, so nothing is skipped), each page with its
        customers' statements. The cursor stays `since` while paging (a pass resumed after a
        crash asks the same filter from its page on) and becomes, with the last page, the
        moment the first page of this call was asked."""
        read_at = now()
        while True:
            query: dict[str, soap.Value] = {
                "Skip": (page - 1) * PAGE_SIZE,
                "OrderBy": "InvoiceID",
                "Limit": PAGE_SIZE,
            }
            if since is not None:
                query["FromLastModifiedDateInUTC"] = since - CURSOR_OVERLAP
            headers = await self._results("GetInvoicesBy", "Invoice", [("query", query)])
            items = await self._with_statements(headers, read_at)
            done = len(headers) < PAGE_SIZE
            cursor = read_at if done else since
            yield Changes(items=items, next_cursor=cursor, next_page=page + 1, done=done)
            if done:
                return
            page += 1

    async def _headers(self, external_ids: list[str]) -> list[Element]:
        ids: list[tuple[str, soap.Value]] = [("int", i) for i in external_ids if i.isdigit()]
        if not ids:
            return []
        query: dict[str, soap.Value] = {"Skip": 0, "InvoiceIDsFilter": ids, "Limit": len(ids)}
        return await self._results("GetInvoicesBy", "Invoice", [("query", query)])

    async def _with_statements(
        self, headers: list[Element], read_at: datetime
    ) -> list[LedgerInvoice]:
        items = await self._open_items([soap.text(raw, "AccountCode") for raw in headers])
        return [invoice_from_accountsiq(raw, items, read_at) for raw in headers]

    async def get_invoices(self, external_ids: list[str]) -> list[LedgerInvoice]:
        return await self._with_statements(await self._headers(external_ids), now())

    async def get_contacts(self, external_ids: list[str]) -> list[LedgerContact]:
        wanted = set(external_ids)
        read_at = now()
        customers = await self._results("GetCustomerList", "Customer", [])
        return [
            contact_from_accountsiq(raw, read_at)
            for raw in customers
            if soap.text(raw, "Code") in wanted
        ]

    async def open_credit(self) -> list[LedgerCredit]:
        """Receipts not (wholly) allocated to an invoice: the customers' unused money, in each
        customer's currency (a statement line names none)."""
        currencies = {
            soap.text(raw, "Code"): soap.text(raw, "CurrencyCode")
            for raw in await self._results("GetCustomerList", "Customer", [])
        }
        items = statement_items(await self._statements([], now() + STATEMENT_AHEAD))
        return [
            LedgerCredit(
                external_id=str(item.transaction_id),
                kind="overpayment",
                number=item.number,
                contact_external_id=item.customer_code,
                issue_date=None,
                currency=currencies.get(item.customer_code, ""),
                remaining=-to_minor(item.outstanding, currencies.get(item.customer_code, "")),
            )
            for item in items.values()
            if "Receipt" in item.kind and item.outstanding < 0
        ]

    async def owed_by(self, contact_external_id: str, as_of: date, currency: str) -> int:
        """The customer's statement balance at `as_of`: AccountsIQ's own aged balance."""
        up_to = datetime.combine(as_of, datetime.min.time())
        for statement in await self._statements([contact_external_id], up_to, show_zeros=True):
            balance = soap.text(soap.child(statement, "CustomerState"), "CurrentBalance")
            return to_minor(Decimal(balance or "0"), currency)
        return 0

    async def contact_groups(self) -> list[LedgerContactGroup]:
        return []

    async def organisation(self) -> LedgerOrganisation:
        """The integration service names no company profile: the Company ID stands for it."""
        return LedgerOrganisation(self.company_id, "", "", "")

    # --- payments ---------------------------------------------------------------------------

    async def find_payments(self, references: list[str]) -> dict[str, str]:
        """Payments written in full with these references: a receipt (CheckReference) that
        is wholly allocated. A receipt saved but not yet allocated (the writer died between
        the two calls) is half a payment: not reported, so the next write finishes it."""
        found: dict[str, str] = {}
        for reference in references:
            receipt = await self._receipt_of(reference)
            if receipt is not None and receipt[1] == 0:
                found[reference] = receipt[0]
        return found

    async def _receipt_of(self, reference: str) -> tuple[str, Decimal] | None:
        """The receipt written with this reference, and what of it is not yet allocated."""
        today = now()
        query: dict[str, soap.Value] = {
            "ExternalReference": reference,
            "FromDate": today - RECEIPT_SEARCH,
            "ToDate": today + RECEIPT_SEARCH,
        }
        summaries = await self._results(
            "GetTransactionsByExternalReference", "WSTransactionSummary", [("query", query)]
        )
        for summary in summaries:
            if "Receipt" in soap.text(summary, "TransactionType"):
                left = -Decimal(soap.text(summary, "OutstandingAmount") or "0")
                return soap.text(summary, "TransactionID"), left
        return None

    async def record_payments(
        self, payments: list[PaymentToRecord], idempotency_key: str
    ) -> list[RecordedPayment | LedgerRejected]:
        """Each as a receipt (its reference as CheckReference) allocated to its invoice's
        open transaction. AccountsIQ takes no idempotency key: the caller has looked the
        references up first (find_payments), and a receipt an earlier attempt saved without
        allocating it is allocated now, not saved again."""
        headers = {
            soap.text(raw, "InvoiceID"): raw
            for raw in await self._headers([p.invoice_external_id for p in payments])
        }
        items = await self._open_items([soap.text(raw, "AccountCode") for raw in headers.values()])
        answers: list[RecordedPayment | LedgerRejected] = []
        for payment in payments:
            header = headers.get(payment.invoice_external_id)
            item = items.get(soap.text(header, "InvoiceNumber")) if header is not None else None
            if item is None:
                answers.append(LedgerRejected("AccountsIQ holds nothing open on that invoice"))
                continue
            try:
                answers.append(await self._receipt(payment, item))
            except LedgerRejected as refused:
                answers.append(refused)
        return answers

    async def _receipt(self, payment: PaymentToRecord, invoice: OpenItem) -> RecordedPayment:
        amount = to_major(payment.amount, payment.currency)
        earlier = await self._receipt_of(payment.reference)
        if earlier is not None:
            receipt_id, left = earlier
        else:
            receipt_id, left = await self._save_receipt(payment, invoice, amount), amount
        if left > 0:
            await self._call(
                "AllocateTransactions",
                [
                    ("transactionID_1", int(receipt_id)),
                    ("transactionID_2", invoice.transaction_id),
                    ("allocationReference", payment.reference),
                    ("allocationAmount", left),
                    ("allocationDate", payment.paid_on),
                ],
            )
        return RecordedPayment(receipt_id)

    async def _save_receipt(
        self, payment: PaymentToRecord, invoice: OpenItem, amount: Decimal
    ) -> str:
        receipt: dict[str, soap.Value] = {
            "CustomerCode": invoice.customer_code,
            "CheckReference": payment.reference,
            "PaymentAmount": amount,
            "BankAccountCode": payment.account_code,
            "PaymentDate": payment.paid_on,
            "ExchangeRate": Decimal(1),
            "BankExchangeRate": Decimal(1),
            "Description": f"Card payment for {invoice.number}",
        }
        saved = await self._call(
            "SaveSalesReceiptGetBackTransactionID", [("salesReceipt", receipt)]
        )
        receipt_id = soap.text(saved, "transactionID")
        if not receipt_id or receipt_id == "0":
            raise LedgerUnavailable("AccountsIQ saved the receipt without a transaction id")
        return receipt_id

    # --- what AccountsIQ's service does not offer -------------------------------------------

    async def set_expected_payment_date(self, invoice_external_id: str, day: date) -> None:
        """AccountsIQ's service keeps no promised date on an invoice: duely keeps it."""

    async def invoice_pdf(self, invoice_external_id: str) -> bytes:
        raise NotImplementedError("AccountsIQ's service offers no invoice PDF")

    async def online_invoice_url(self, invoice_external_id: str) -> str:
        raise NotImplementedError("AccountsIQ has no online invoice page")

    async def add_notes(
        self, invoice_external_id: str, notes: list[str], idempotency_key: str
    ) -> None:
        raise NotImplementedError("duely does not write notes into AccountsIQ")
