"""The spreadsheet ledger: an organisation's imported customers and invoices as a duely Ledger.

Organisations whose books have no API import their customers and invoices from spreadsheets
(duely.models.spreadsheets). The confirmed imports are kept in `spreadsheet_customers` and
`spreadsheet_invoices`, each row stamped (`updated_at`) when an import changes it, and this
client reads them as the sync reads Xero: changed records in pages of 1,000, oldest first,
resumed from the newest stamp seen (duely.integrations.ledgers.paging).

Card payments taken by duely are written to `spreadsheet_receipts`, one row per reference
(unique per connection, so a repeated or concurrent write of a payment keeps one receipt), and
taken off the invoice's amount due with a fresh stamp, so the next sync mirrors it. Nothing is
booked to an account: the bookkeeper enters the receipts in their books from the export
(duely.payments.receipts_export).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import case, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.db import Database
from duely.core.money import format_money
from duely.integrations.ledgers.base import (
    Changes,
    LedgerContact,
    LedgerContactGroup,
    LedgerCredit,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerPerson,
    LedgerRejected,
    PaymentToRecord,
    RecordedPayment,
)
from duely.integrations.ledgers.paging import Record, keyset_pages
from duely.models import InvoiceStatus, SheetCustomer, SheetInvoice, SheetReceipt, utcnow

PAGE_SIZE = 1000
CURSOR_OVERLAP = timedelta(minutes=1)
"""Re-read the last minute before the cursor. A writer stamps its rows before its transaction
commits, so a row can become visible after a later-stamped one was read; reading a minute back
catches an import or a payment that committed up to a minute after stamping. Rows read again
are mirrored as unchanged."""
NUMBERS_PER_QUERY = 500
"""Numbers or codes in one `IN (...)` (well under SQLite's and PostgreSQL's limits)."""


def person_from(customer: SheetCustomer) -> tuple[LedgerPerson, ...]:
    """The customer's one person, when the spreadsheet gives a way to reach them: first word
    of the contact's name (the customer's name when none) as first name, the rest as last."""
    if not (customer.email or customer.phone):
        return ()
    first, _, last = (customer.contact_name or customer.name).strip().partition(" ")
    return (LedgerPerson(first, last.strip(), customer.email, customer.phone),)


def contact_from(customer: SheetCustomer) -> LedgerContact:
    return LedgerContact(
        external_id=customer.code,
        name=customer.name,
        people=person_from(customer),
        updated_at=customer.updated_at,
    )


def invoice_from(invoice: SheetInvoice, customer_name: str) -> LedgerInvoice:
    return LedgerInvoice(
        external_id=invoice.number,
        number=invoice.number,
        reference=invoice.reference,
        contact_external_id=invoice.customer_code,
        contact_name=customer_name,
        issue_date=invoice.issue_date or invoice.due_date,
        due_date=invoice.due_date,
        currency=invoice.currency,
        total=invoice.total,
        amount_due=invoice.amount_due,
        status=invoice.status,
        expected_payment_date=None,
        updated_at=invoice.updated_at,
    )


def refusal(invoice: SheetInvoice | None, payment: PaymentToRecord) -> str:
    """Why the payment cannot be taken off the invoice as it stands ("" when it can)."""
    number = payment.invoice_external_id
    if invoice is None:
        return f"the spreadsheet ledger has no invoice {number}"
    if invoice.status != InvoiceStatus.OPEN:
        return f"{number} is {invoice.status}, not open"
    if invoice.currency != payment.currency:
        return f"the payment is in {payment.currency} but {number} is in {invoice.currency}"
    if payment.amount <= 0:
        return f"a payment of {format_money(payment.amount, payment.currency)} is not a payment"
    if payment.amount > invoice.amount_due:
        due = format_money(invoice.amount_due, invoice.currency)
        paid = format_money(payment.amount, payment.currency)
        return f"{paid} is more than the {due} still due on {number}"
    return ""


def _chunks(values: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(values))
    return [unique[n : n + NUMBERS_PER_QUERY] for n in range(0, len(unique), NUMBERS_PER_QUERY)]


class SpreadsheetLedger:
    """One spreadsheet connection's customers, invoices and receipts."""

    needs_payment_account = False
    """Nothing is booked to an account here: the bookkeeper does that from the export."""

    def __init__(self, db: Database, connection_id: int, organisation_id: int, name: str) -> None:
        self._db = db
        self._connection_id = connection_id
        self._organisation_id = organisation_id
        self._name = name

    # --- reading ----------------------------------------------------------------------------

    def changed_contacts(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        async def read_page(cursor: datetime | None, number: int) -> list[Record]:
            query = select(SheetCustomer).where(SheetCustomer.connection_id == self._connection_id)
            if cursor is not None:
                query = query.where(col(SheetCustomer.updated_at) >= cursor - CURSOR_OVERLAP)
            query = (
                query.order_by(col(SheetCustomer.updated_at), col(SheetCustomer.id))
                .offset((number - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
            async with self._db.session() as session:
                return [contact_from(row) for row in (await session.exec(query)).all()]

        return keyset_pages(read_page, PAGE_SIZE, since, page)

    def changed_invoices(self, since: datetime | None, page: int = 1) -> AsyncIterator[Changes]:
        async def read_page(cursor: datetime | None, number: int) -> list[Record]:
            query = select(SheetInvoice).where(SheetInvoice.connection_id == self._connection_id)
            if cursor is not None:
                query = query.where(col(SheetInvoice.updated_at) >= cursor - CURSOR_OVERLAP)
            query = (
                query.order_by(col(SheetInvoice.updated_at), col(SheetInvoice.id))
                .offset((number - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
            async with self._db.session() as session:
                rows = list((await session.exec(query)).all())
                names = await self._customer_names(session, [row.customer_code for row in rows])
            return [invoice_from(row, names.get(row.customer_code, "")) for row in rows]

        return keyset_pages(read_page, PAGE_SIZE, since, page)

    async def _customer_names(self, session: AsyncSession, codes: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for chunk in _chunks(codes):
            rows = await session.exec(
                select(SheetCustomer.code, SheetCustomer.name).where(
                    SheetCustomer.connection_id == self._connection_id,
                    col(SheetCustomer.code).in_(chunk),
                )
            )
            names.update({code: name for code, name in rows.all()})
        return names

    async def get_invoices(self, external_ids: list[str]) -> list[LedgerInvoice]:
        """By number."""
        async with self._db.session() as session:
            rows: list[SheetInvoice] = []
            for chunk in _chunks(external_ids):
                rows += (
                    await session.exec(
                        select(SheetInvoice).where(
                            SheetInvoice.connection_id == self._connection_id,
                            col(SheetInvoice.number).in_(chunk),
                        )
                    )
                ).all()
            names = await self._customer_names(session, [row.customer_code for row in rows])
        return [invoice_from(row, names.get(row.customer_code, "")) for row in rows]

    async def get_contacts(self, external_ids: list[str]) -> list[LedgerContact]:
        """By code."""
        async with self._db.session() as session:
            rows: list[SheetCustomer] = []
            for chunk in _chunks(external_ids):
                rows += (
                    await session.exec(
                        select(SheetCustomer).where(
                            SheetCustomer.connection_id == self._connection_id,
                            col(SheetCustomer.code).in_(chunk),
                        )
                    )
                ).all()
        return [contact_from(row) for row in rows]

    async def owed_by(self, contact_external_id: str, as_of: date, currency: str) -> int:
        """What the customer's open invoices in `currency` still owe (the spreadsheets hold no
        credit and no history, so `as_of` changes nothing)."""
        async with self._db.session() as session:
            owed = (
                await session.exec(
                    select(func.coalesce(func.sum(SheetInvoice.amount_due), 0)).where(
                        SheetInvoice.connection_id == self._connection_id,
                        SheetInvoice.customer_code == contact_external_id,
                        SheetInvoice.currency == currency,
                        SheetInvoice.status == InvoiceStatus.OPEN,
                    )
                )
            ).one()
        return int(owed)

    async def open_credit(self) -> list[LedgerCredit]:
        """The spreadsheets hold no credit notes, overpayments or prepayments."""
        return []

    async def contact_groups(self) -> list[LedgerContactGroup]:
        """The spreadsheets hold no groups of customers."""
        return []

    async def organisation(self) -> LedgerOrganisation:
        """Only the connection's name: a spreadsheet says nothing of country, zone or base
        currency (duely's organisation settings hold those)."""
        return LedgerOrganisation(self._name, "", "", "")

    # --- payments ---------------------------------------------------------------------------

    async def find_payments(self, references: list[str]) -> dict[str, str]:
        """The receipt id (as text) of each reference a receipt is held for."""
        found: dict[str, str] = {}
        async with self._db.session() as session:
            for chunk in _chunks(references):
                rows = await session.exec(
                    select(SheetReceipt.reference, SheetReceipt.id).where(
                        SheetReceipt.connection_id == self._connection_id,
                        col(SheetReceipt.reference).in_(chunk),
                    )
                )
                found.update({reference: str(id_) for reference, id_ in rows.all()})
        return found

    async def record_payments(
        self, payments: list[PaymentToRecord], idempotency_key: str
    ) -> list[RecordedPayment | LedgerRejected]:
        """Each in its own transaction: a receipt, and the invoice's amount due lowered by it.
        The reference is the idempotency key (unique per connection), so `idempotency_key`
        adds nothing; a reference already held answers its receipt, already recorded."""
        return [await self._record(payment) for payment in payments]

    async def _record(self, payment: PaymentToRecord) -> RecordedPayment | LedgerRejected:
        async with self._db.session() as session:
            if held := await self._receipt_id(session, payment.reference):
                return RecordedPayment(held, already_recorded=True)
            invoice = await self._invoice(session, payment.invoice_external_id)
            if problem := refusal(invoice, payment):
                return LedgerRejected(problem)
            assert invoice is not None  # refusal() answers for a missing invoice
            receipt = SheetReceipt(
                organisation_id=self._organisation_id,
                connection_id=self._connection_id,
                reference=payment.reference,
                invoice_number=invoice.number,
                customer_code=invoice.customer_code,
                amount=payment.amount,
                currency=payment.currency,
                paid_on=payment.paid_on,
            )
            session.add(receipt)
            try:
                # The unique reference decides between two writers of the same payment: the
                # second waits for the first here, then fails and answers the first's receipt.
                await session.flush()
                taken = await session.exec(
                    update(SheetInvoice)
                    .where(
                        col(SheetInvoice.id) == invoice.id,
                        col(SheetInvoice.status) == InvoiceStatus.OPEN,
                        col(SheetInvoice.currency) == payment.currency,
                        col(SheetInvoice.amount_due) >= payment.amount,
                    )
                    .values(
                        amount_due=col(SheetInvoice.amount_due) - payment.amount,
                        status=case(
                            (col(SheetInvoice.amount_due) == payment.amount, InvoiceStatus.PAID),
                            else_=col(SheetInvoice.status),
                        ),
                        updated_at=utcnow(),
                    )
                )
                if taken.rowcount == 1:
                    receipt_id = str(receipt.id)
                    await session.commit()
                    return RecordedPayment(receipt_id)
            except IntegrityError:
                pass
            await session.rollback()
            # Another writer got there first: with this payment, or with another that left
            # the invoice owing less than this one.
            if held := await self._receipt_id(session, payment.reference):
                return RecordedPayment(held, already_recorded=True)
            invoice = await self._invoice(session, payment.invoice_external_id)
            return LedgerRejected(
                refusal(invoice, payment) or f"{payment.invoice_external_id} changed meanwhile"
            )

    async def _receipt_id(self, session: AsyncSession, reference: str) -> str:
        found = (
            await session.exec(
                select(SheetReceipt.id).where(
                    SheetReceipt.connection_id == self._connection_id,
                    SheetReceipt.reference == reference,
                )
            )
        ).first()
        return "" if found is None else str(found)

    async def _invoice(self, session: AsyncSession, number: str) -> SheetInvoice | None:
        return (
            await session.exec(
                select(SheetInvoice)
                .where(
                    SheetInvoice.connection_id == self._connection_id,
                    SheetInvoice.number == number,
                )
                .execution_options(populate_existing=True)
            )
        ).first()

    # --- what a spreadsheet cannot do -------------------------------------------------------

    async def set_expected_payment_date(self, invoice_external_id: str, day: date) -> None:
        """Nothing to write: a spreadsheet ledger has nowhere to keep it. The promise stays in
        duely (the invoice's promise and its chase), which is where people see it."""

    async def invoice_pdf(self, invoice_external_id: str) -> bytes:
        raise NotImplementedError("a spreadsheet import holds no invoice PDFs")

    async def online_invoice_url(self, invoice_external_id: str) -> str:
        raise NotImplementedError("a spreadsheet import has no online invoice pages")

    async def add_notes(
        self, invoice_external_id: str, notes: list[str], idempotency_key: str
    ) -> None:
        raise NotImplementedError("a spreadsheet import keeps no history notes on an invoice")
