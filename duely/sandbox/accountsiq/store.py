"""The AccountsIQ sandbox's state and rules: companies, sessions, and what each operation
accepts or refuses (with the OperationResult the real service gives), free of any XML.

Sessions: `Login` hands out a token valid SESSION_LIFETIME (20 minutes) from the login, on the
sandbox clock; it is not extended by use (a client must be ready to log in again mid-sync).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from duely.sandbox.accountsiq.company import Allocation, Company, Invoice, Receipt
from duely.sandbox.clock import SandboxClock

SESSION_LIFETIME = timedelta(minutes=20)
NO_DATE = datetime(1, 1, 1, tzinfo=UTC)
"""What .NET's XmlSerializer leaves in a required dateTime the request did not send
(DateTime.MinValue): the sandbox reads it as "no bound"."""
INVOICE_ORDERINGS = {
    "": lambda i: (i.invoice_id,),
    "invoiceid": lambda i: (i.invoice_id,),
    "invoicedate": lambda i: (i.invoice_date, i.invoice_id),
    "duedate": lambda i: (i.due_date, i.invoice_id),
    "creationdate": lambda i: (i.created, i.invoice_id),
    "lastmodifieddateinutc": lambda i: (i.last_modified, i.invoice_id),
    "lastmodifiedutc": lambda i: (i.last_modified, i.invoice_id),
    "invoicenumber": lambda i: (i.invoice_number, i.invoice_id),
}
INVOICE_STATUSES = ("Processed", "Posted", "Cancelled")


class Refused(Exception):  # noqa: N818 - the service's own word for it is a Status
    """An operation the real service answers with a non-Success OperationResult."""

    def __init__(self, code: str, message: str, status: str = "Failure") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass
class Session:
    token: str
    company_id: str
    expires_at: datetime


@dataclass
class InvoiceQuery:
    """WSGetInvoicesByQuery, as read from the request (missing required dates: NO_DATE)."""

    from_date: datetime = NO_DATE
    to_date: datetime = NO_DATE
    from_creation_date: datetime = NO_DATE
    to_creation_date: datetime = NO_DATE
    skip: int = 0
    types: list[str] | None = None
    account_ids: list[int] | None = None
    department_ids: list[str] | None = None
    invoice_ids: list[int] | None = None
    status: str | None = None
    invoice_numbers: list[str] | None = None
    reverse_order_by: bool = False
    order_by: str | None = None
    limit: int | None = None
    from_last_modified: datetime | None = None


@dataclass
class ReceiptFields:
    """SalesReceipt, as read from the request."""

    customer_code: str | None
    check_reference: str | None
    payment_amount: int
    bank_account_code: str | None
    payment_date: date
    description: str | None = None
    lodgment_number: str | None = None


@dataclass
class StatementLine:
    transaction_id: int
    kind: str  # "SalesInvoice" or "SalesReceipt"
    internal_number: str
    external_reference: str
    amount: int
    outstanding: int
    transaction_date: date
    due_date: date
    description: str


@dataclass
class Statement:
    customer_code: str
    buckets: dict[str, int]
    balance: int
    current_date: datetime
    lines: list[StatementLine] = field(default_factory=list)


def _within(moment: datetime, low: datetime, high: datetime) -> bool:
    return (low == NO_DATE or moment >= low) and (high == NO_DATE or moment <= high)


def _day(value: date) -> datetime:
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


class AccountsIQStore:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.companies: dict[str, Company] = {}
        self.sessions: dict[str, Session] = {}
        self.partner_keys: set[str] = set()
        self.listeners: list[Callable[[str], None]] = []

    def add_company(self, company: Company) -> Company:
        if company.company_id in self.companies:
            raise ValueError(f"company {company.company_id} exists")
        self.companies[company.company_id] = company
        return company

    # --- sessions ------------------------------------------------------------------------

    def login(self, region: str, company_id: str, partner_key: str, user_key: str) -> str | None:
        """A token, or None when anything is wrong: an unknown company, a company that lives
        in another region, an unknown partner key, a user key not of this company or revoked.
        Nothing is trimmed: a stray space is a wrong key."""
        company = self.companies.get(company_id)
        if company is None or company.region != region or partner_key not in self.partner_keys:
            return None
        key = company.user_key(user_key)
        if key is None or key.revoked:
            return None
        token = secrets.token_hex(16)
        expires = self.clock.now() + SESSION_LIFETIME
        self.sessions[token] = Session(token, company_id, expires)
        return token

    def company_of(self, token: str | None, region: str) -> Company | None:
        """The company a live token opens, on this region's host; None for an unknown,
        expired or revoked one (its user key revoked since)."""
        session = self.sessions.get(token or "")
        if session is None:
            return None
        if self.clock.now() >= session.expires_at:
            del self.sessions[session.token]
            return None
        company = self.companies.get(session.company_id)
        if company is None or company.region != region:
            return None
        return company

    def expire_sessions(self, company_id: str | None = None) -> int:
        doomed = [t for t, s in self.sessions.items() if company_id in (None, s.company_id)]
        for token in doomed:
            del self.sessions[token]
        return len(doomed)

    def revoke_user_key(self, company: Company, key: str) -> None:
        user_key = company.user_key(key)
        if user_key is None:
            raise LookupError(key)
        user_key.revoked = True
        self.expire_sessions(company.company_id)

    # --- reads ---------------------------------------------------------------------------

    def customer(self, company: Company, code: str | None) -> object:
        if not code:
            raise Refused("CUSTOMER_CODE_DOES_NOT_EXIST", "The customer code is empty.")
        customer = company.customer_by_code(code)
        if customer is None:
            raise Refused("CUSTOMER_CODE_DOES_NOT_EXIST", f"Customer {code} does not exist.")
        return customer

    def customers_by(
        self, company: Company, emails: list[str] | None, since: datetime | None
    ) -> list:
        wanted = {e.strip().lower() for e in emails or [] if e}
        return [
            c
            for c in company.customers
            if (not wanted or c.email.lower() in wanted)
            and (since is None or c.last_modified >= since)
        ]

    def invoice(self, company: Company, invoice_id: int) -> Invoice:
        invoice = company.invoice(invoice_id)
        if invoice is None:
            raise Refused("INVOICE_ID_DOES_NOT_EXIST", f"Invoice {invoice_id} does not exist.")
        return invoice

    def invoices_of(self, company: Company, code: str | None) -> list[Invoice]:
        customer = self.customer(company, code)
        account_id = customer.account_id  # type: ignore[attr-defined]
        return [i for i in company.invoices if i.account_id == account_id]

    def invoices_by(self, company: Company, query: InvoiceQuery) -> list[Invoice]:
        """GetInvoicesBy: filter, order (OrderBy, default InvoiceID; ties by InvoiceID), then
        Skip and Limit (absent or not positive: no limit). FromLastModifiedDateInUTC keeps the
        invoices whose LastModifiedUTC is at or after it."""
        order = INVOICE_ORDERINGS.get((query.order_by or "").strip().lower())
        if order is None:
            raise Refused("INVALID_QUERY", f"Cannot order invoices by {query.order_by}.")
        if query.status and query.status not in INVOICE_STATUSES:
            raise Refused("INVALID_QUERY", f"Unknown invoice status {query.status}.")
        if query.skip < 0:
            raise Refused("INVALID_QUERY", "Skip cannot be negative.")
        chosen = []
        for invoice in company.invoices:
            if not _within(_day(invoice.invoice_date), query.from_date, query.to_date):
                continue
            created_ok = _within(invoice.created, query.from_creation_date, query.to_creation_date)
            if not created_ok:
                continue
            if query.from_last_modified and invoice.last_modified < query.from_last_modified:
                continue
            if query.types and "Invoice" not in query.types:
                continue
            if query.account_ids and invoice.account_id not in query.account_ids:
                continue
            if query.department_ids:
                continue  # the sandbox's invoices have no department
            if query.invoice_ids and invoice.invoice_id not in query.invoice_ids:
                continue
            if query.invoice_numbers and invoice.invoice_number not in query.invoice_numbers:
                continue
            if query.status and invoice.status != query.status:
                continue
            chosen.append(invoice)
        chosen.sort(key=order, reverse=query.reverse_order_by)
        chosen = chosen[query.skip :]
        if query.limit is not None and query.limit > 0:
            chosen = chosen[: query.limit]
        return chosen

    def transactions_by_external_reference(
        self, company: Company, reference: str | None, low: datetime, high: datetime
    ) -> list[Invoice | Receipt]:
        """Sales invoices whose ExternalReference, and sales receipts whose CheckReference,
        equal `reference` exactly, dated within [FromDate, ToDate]."""
        if not reference:
            raise Refused("INVALID_QUERY_MISSING_EXTERNAL_REFERENCE", "No external reference.")
        found: list[Invoice | Receipt] = [
            i
            for i in company.invoices
            if i.external_reference == reference and _within(_day(i.invoice_date), low, high)
        ]
        found += [
            r
            for r in company.receipts
            if r.check_reference == reference and _within(_day(r.payment_date), low, high)
        ]
        return sorted(found, key=lambda t: t.transaction_id)

    def statement(
        self, company: Company, up_to: datetime, codes: list[str] | None, show_zeros: bool
    ) -> list[Statement]:
        """Each customer's open items dated up to `up_to`, aged by days past their due date
        on `up_to` (not yet due: FutureBalanceBucket); receipts not yet allocated count
        against the balance (negative) in the 0-30 bucket."""
        if codes:
            customers = [self.customer(company, code) for code in codes]
        else:
            customers = list(company.customers)
        day = up_to.date()
        # Each customer's items, found in one pass (not one pass of the company per customer).
        invoices_of: dict[int, list[Invoice]] = defaultdict(list)
        for invoice in company.invoices:
            invoices_of[invoice.account_id].append(invoice)
        receipts_of: dict[int, list[Receipt]] = defaultdict(list)
        for receipt in company.receipts:
            receipts_of[receipt.account_id].append(receipt)
        statements = []
        for customer in customers:
            account_id = customer.account_id  # type: ignore[attr-defined]
            buckets = dict.fromkeys(("0-30", "30-60", "60-90", "90-120", "120+", "future"), 0)
            lines = []
            for invoice in invoices_of[account_id]:
                if invoice.invoice_date > day:
                    continue
                outstanding = company.invoice_outstanding(invoice)
                if outstanding == 0:
                    continue
                late = (day - invoice.due_date).days
                bucket = (
                    "future"
                    if late < 0
                    else "0-30"
                    if late <= 30
                    else "30-60"
                    if late <= 60
                    else "60-90"
                    if late <= 90
                    else "90-120"
                    if late <= 120
                    else "120+"
                )
                buckets[bucket] += outstanding
                lines.append(
                    StatementLine(
                        invoice.transaction_id,
                        "SalesInvoice",
                        invoice.invoice_number,
                        invoice.external_reference,
                        invoice.gross,
                        outstanding,
                        invoice.invoice_date,
                        invoice.due_date,
                        invoice.description,
                    )
                )
            for receipt in receipts_of[account_id]:
                if receipt.payment_date > day:
                    continue
                unallocated = company.receipt_unallocated(receipt)
                if unallocated == 0:
                    continue
                buckets["0-30"] -= unallocated
                lines.append(
                    StatementLine(
                        receipt.transaction_id,
                        "SalesReceipt",
                        f"SR{receipt.transaction_id}",
                        receipt.check_reference,
                        -receipt.amount,
                        -unallocated,
                        receipt.payment_date,
                        receipt.payment_date,
                        receipt.description,
                    )
                )
            balance = sum(buckets.values())
            if not show_zeros and balance == 0 and not lines:
                continue
            lines.sort(key=lambda line: (line.transaction_date, line.transaction_id))
            code = customer.code  # type: ignore[attr-defined]
            statements.append(Statement(code, buckets, balance, up_to, lines))
        return statements

    # --- writes --------------------------------------------------------------------------

    def save_receipt(self, company: Company, fields: ReceiptFields) -> Receipt:
        """SaveSalesReceiptGetBackTransactionID. No duplicate check: saving the same receipt
        twice records two receipts, as AccountsIQ does (look it up by reference first)."""
        code = fields.customer_code
        if code is None:
            raise Refused("ACCOUNT_CODE_IS_NULL", "The customer code is missing.")
        if code != code.upper():
            raise Refused("ACCOUNT_CODE_MUST_BE_UPPER_CASE", f"{code} is not upper case.")
        customer = self.customer(company, code)
        if fields.check_reference is None:
            raise Refused("CHECK_REFERENCE_IS_NULL", "CheckReference is missing.")
        if not fields.check_reference.strip():
            raise Refused("CHECK_REFERENCE_IS_EMPTY", "CheckReference is empty.")
        if fields.payment_amount < 0:
            raise Refused("PAYMENT_AMOUNT_CANNOT_BE_NEGATIVE", "PaymentAmount is negative.")
        if fields.payment_amount == 0:
            raise Refused("PAYMENT_AMOUNT_CANNOT_BE_ZERO", "PaymentAmount is zero.")
        if fields.bank_account_code is None:
            raise Refused("BANK_CODE_IS_NULL", "BankAccountCode is missing.")
        if not fields.bank_account_code:
            raise Refused("BANK_CODE_IS_EMPTY", "BankAccountCode is empty.")
        if company.bank(fields.bank_account_code) is None:
            raise Refused(
                "BANK_ACCOUNT_DOES_NOT_EXIST",
                f"Bank account {fields.bank_account_code} does not exist.",
            )
        receipt = Receipt(
            transaction_id=company.take_id(),
            account_id=customer.account_id,  # type: ignore[attr-defined]
            bank_account_code=fields.bank_account_code,
            check_reference=fields.check_reference,
            amount=fields.payment_amount,
            payment_date=fields.payment_date,
            created=self.clock.now(),
            description=fields.description or "",
        )
        company.receipts.append(receipt)
        return receipt

    def allocate(
        self,
        company: Company,
        first: int,
        second: int,
        reference: str | None,
        amount: int,
        on: date,
    ) -> Allocation:
        """AllocateTransactions: one sales receipt against one sales invoice of the same
        customer, in either order, for no more than either has outstanding. The invoice's
        LastModifiedUTC does not move: an allocation is not a change to the invoice."""
        if reference is None:
            raise Refused("TRANSACTION_ALLOCATION_REFERENCE_IS_NULL", "No allocation reference.")
        if amount <= 0:
            raise Refused(
                "TRANSACTION_ALLOCATION_AMOUNT_CANNOT_BE_NEGATIVE_OR_ZERO",
                "The allocation amount must be positive.",
            )
        found = {}
        for tx in (first, second):
            invoice = company.invoice_by_transaction(tx)
            receipt = company.receipt(tx)
            if invoice is None and receipt is None:
                raise Refused("TRANSACTION_NOT_FOUND", f"Transaction {tx} does not exist.")
            found[tx] = invoice or receipt
        kinds = {type(t) for t in found.values()}
        if kinds != {Invoice, Receipt}:
            raise Refused(
                "TRANSACTION_CANNOT_BE_ALLOCATED_INCOMPATIBLE_TYPES",
                "Allocate a receipt against an invoice.",
            )
        invoice = next(t for t in found.values() if isinstance(t, Invoice))
        receipt = next(t for t in found.values() if isinstance(t, Receipt))
        if invoice.account_id != receipt.account_id:
            raise Refused(
                "TRANSACTION_CANNOT_ALLOCATE_CROSS_ACCOUNT", "The transactions' accounts differ."
            )
        if invoice.status == "Cancelled":
            raise Refused("TRANSACTION_IS_NOT_ALLOCATABLE", "The invoice is cancelled.")
        invoice_left = company.invoice_outstanding(invoice)
        receipt_left = company.receipt_unallocated(receipt)
        if invoice_left == 0 or receipt_left == 0:
            raise Refused(
                "TRANSACTION_CANNOT_ALLOCATE_FULLY_ALLOCATED_TRANSACTION",
                "A transaction is already fully allocated.",
            )
        if amount > invoice_left or amount > receipt_left:
            raise Refused(
                "TRANSACTION_CANNOT_ALLOCATE_MORE_THAN_OUTSTANSING_AMOUNT",
                "The amount is more than the outstanding amount.",
            )
        allocation = Allocation(
            allocation_id=company.take_id(),
            receipt_transaction_id=receipt.transaction_id,
            invoice_transaction_id=invoice.transaction_id,
            amount=amount,
            allocation_date=on,
            reference=reference,
            created=self.clock.now(),
        )
        company.allocate(allocation)
        return allocation

    def post_batch_invoice(
        self,
        company: Company,
        code: str | None,
        invoice_date: datetime | None,
        reference: str | None,
        description: str | None,
        lines: list[tuple[int, int]],
        due: datetime | None,
    ) -> Invoice:
        """A posted sales invoice from a BatchSalesInvoice (lines: net and tax amounts)."""
        customer = self.customer(company, code)
        on = invoice_date.date() if invoice_date else self.clock.today()
        now = self.clock.now()
        invoice_id = company.take_id()
        invoice = Invoice(
            invoice_id=invoice_id,
            transaction_id=company.take_id(),
            account_id=customer.account_id,  # type: ignore[attr-defined]
            invoice_number=f"INV-{invoice_id}",
            external_reference=reference or "",
            description=description or "",
            invoice_date=on,
            due_date=due.date() if due else on,
            created=now,
            last_modified=now,
            net=sum(net for net, _ in lines),
            tax=sum(tax for _, tax in lines),
            tax_rate_percent=0,
        )
        company.invoices.append(invoice)
        return invoice

    # --- admin changes (each moves the invoice's LastModifiedUTC) -----------------------

    def touch(self, invoice: Invoice) -> None:
        invoice.last_modified = max(self.clock.now(), invoice.last_modified)

    def mark_paid(self, company: Company, invoice: Invoice, bank_account_code: str) -> Receipt:
        """As a bookkeeper would: a receipt for what is outstanding, allocated to it."""
        outstanding = company.invoice_outstanding(invoice)
        if outstanding <= 0:
            raise ValueError(f"invoice {invoice.invoice_id} has nothing outstanding")
        today = self.clock.today()
        customer = company.customer_by_id(invoice.account_id)
        assert customer is not None
        receipt = self.save_receipt(
            company,
            ReceiptFields(
                customer.code,
                f"PAID-{invoice.invoice_number}",
                outstanding,
                bank_account_code,
                today,
                "Marked paid in the sandbox",
            ),
        )
        self.allocate(
            company, receipt.transaction_id, invoice.transaction_id, "PAID", outstanding, today
        )
        self.touch(invoice)
        return receipt
