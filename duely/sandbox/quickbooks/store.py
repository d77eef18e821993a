"""The sandbox's companies and the only ways they change.

The QuickBooks-shaped API, its batch endpoint and the admin API call the same methods here, so
SyncToken, MetaData.LastUpdatedTime, change data capture and webhooks behave alike whoever
makes a change. Requests come in as QuickBooks JSON (the API's bodies); refusals are QBFault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from duely.sandbox.clock import SandboxClock
from duely.sandbox.quickbooks.company import (
    Company,
    Customer,
    Invoice,
    LinkedTxn,
    Payment,
    PaymentLine,
    SalesLine,
    Tombstone,
)
from duely.sandbox.quickbooks.errors import (
    QBError,
    QBFault,
    business,
    invalid,
    not_found,
    required,
    stale,
)

OVERPAID = "The amount applied to invoice {doc} is more than its balance due ({due})."
LINES_OVER_TOTAL = "The payment's lines apply more than its TotalAmt."
NOT_SAME_CUSTOMER = "Invoice {doc} belongs to another customer."
VOIDED = "Invoice {doc} is void."
# What a sparse update may set on an invoice (what a person edits on the invoice form).
INVOICE_FIELDS = ("DueDate", "TxnDate", "DocNumber", "BillEmail", "PrivateNote", "EmailStatus")
CUSTOMER_FIELDS = (
    "DisplayName",
    "CompanyName",
    "GivenName",
    "FamilyName",
    "PrimaryEmailAddr",
    "PrimaryPhone",
    "Mobile",
    "Active",
)
EMAIL_STATUSES = ("NotSet", "NeedToSend", "EmailSent")


@dataclass(frozen=True, slots=True)
class Change:
    """One change for webhooks: realm, entity name, Id and QuickBooks' operation name."""

    realm_id: str
    entity: str
    entity_id: str
    operation: str  # Create, Update, Delete, Void


def to_minor(value: object, element: str) -> int:
    """A JSON amount in cents; QBFault for a value that is not a number with 2 decimals."""
    try:
        number = Decimal(str(value))
    except InvalidOperation as error:
        raise invalid(f"{element} is not a number: {value}", element=element) from error
    if not number.is_finite() or number != number.quantize(Decimal("0.01")):
        raise invalid(f"{element} must have at most 2 decimal places", element=element)
    return int(number * 100)


def _date(value: object, element: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as error:
        raise invalid(f"{element} is not a date (YYYY-MM-DD): {value}", element=element) from error


def _ref(body: dict, name: str) -> str:
    ref = body.get(name)
    if not isinstance(ref, dict) or not str(ref.get("value", "")).strip():
        raise required(name)
    return str(ref["value"]).strip()


class QuickBooksStore:
    def __init__(self, clock: SandboxClock) -> None:
        self.clock = clock
        self.companies: dict[str, Company] = {}
        self.listeners: list[Callable[[Change], None]] = []

    def company(self, realm_id: str) -> Company:
        """The company; KeyError when there is none."""
        return self.companies[realm_id]

    def add_company(self, company: Company) -> Company:
        self.companies[company.realm_id] = company
        return company

    def _notify(self, change: Change) -> None:
        for listener in self.listeners:
            listener(change)

    def _touch(self, company: Company, entity: str, record: object, operation: str) -> None:
        record.updated = self.clock.now()  # type: ignore[attr-defined]
        if operation != "Create":
            record.sync_token += 1  # type: ignore[attr-defined]
        self._notify(Change(company.realm_id, entity, record.id, operation))  # type: ignore[attr-defined]

    def _customer(self, company: Company, customer_id: str) -> Customer:
        customer = company.customers.get(customer_id)
        if customer is None:
            raise not_found("CustomerRef")
        return customer

    def invoice(self, company: Company, invoice_id: str) -> Invoice:
        invoice = company.invoices.get(invoice_id)
        if invoice is None:
            raise not_found()
        return invoice

    @staticmethod
    def check_sync_token(record: object, body: dict) -> None:
        """An update must name the SyncToken it read; an older one is a stale object."""
        if "SyncToken" not in body:
            raise required("SyncToken")
        if str(body["SyncToken"]) != str(record.sync_token):  # type: ignore[attr-defined]
            raise stale()

    # --- payments ------------------------------------------------------------------------

    def create_payment(self, realm_id: str, body: dict) -> Payment:
        """POST /payment: apply the lines to their invoices (the rest is unapplied credit)."""
        company = self.company(realm_id)
        customer = self._customer(company, _ref(body, "CustomerRef"))
        if "TotalAmt" not in body:
            raise required("TotalAmt")
        total = to_minor(body["TotalAmt"], "TotalAmt")
        if total < 0:
            raise business("A payment's TotalAmt cannot be negative.", "TotalAmt")
        lines = self._payment_lines(company, customer, body.get("Line") or [])
        if sum(line.amount for line in lines) > total:
            raise business(LINES_OVER_TOTAL, "Line")
        now = self.clock.now()
        payment = Payment(
            id=company.next_id(),
            customer_id=customer.id,
            txn_date=_date(body["TxnDate"], "TxnDate") if body.get("TxnDate") else now.date(),
            total=total,
            currency=customer.currency,
            lines=lines,
            created=now,
            updated=now,
            ref_num=str(body.get("PaymentRefNum", ""))[:21],
            unapplied=total - sum(line.amount for line in lines),
            private_note=str(body.get("PrivateNote", ""))[:4000],
        )
        self.apply_payment(company, payment)
        self._notify(Change(realm_id, "Payment", payment.id, "Create"))
        for line in lines:
            self._touch(company, "Invoice", company.invoices[line.txn_id], "Update")
        return payment

    def _payment_lines(self, company: Company, customer: Customer, raw: list) -> list[PaymentLine]:
        lines: list[PaymentLine] = []
        applied: dict[str, int] = {}
        for line in raw:
            if "Amount" not in line:
                raise required("Line.Amount")
            line_amount = to_minor(line["Amount"], "Line.Amount")
            for linked in line.get("LinkedTxn") or []:
                if linked.get("TxnType") != "Invoice":
                    raise invalid("Only invoices can be linked here", element="LinkedTxn.TxnType")
                invoice = company.invoices.get(str(linked.get("TxnId", "")))
                if invoice is None:
                    raise not_found("LinkedTxn.TxnId")
                if invoice.customer_id != customer.id:
                    raise business(NOT_SAME_CUSTOMER.format(doc=invoice.doc_number), "LinkedTxn")
                if invoice.voided:
                    raise business(VOIDED.format(doc=invoice.doc_number), "LinkedTxn")
                applied[invoice.id] = applied.get(invoice.id, 0) + line_amount
                if line_amount <= 0 or applied[invoice.id] > invoice.balance:
                    due = f"{invoice.balance / 100:.2f}"
                    raise business(OVERPAID.format(doc=invoice.doc_number, due=due), "Line.Amount")
                lines.append(PaymentLine(line_amount, invoice.id))
        return lines

    @staticmethod
    def apply_payment(company: Company, payment: Payment) -> None:
        """Book a validated payment: the seed uses this too, without dating or events."""
        company.payments[payment.id] = payment
        for line in payment.lines:
            invoice = company.invoices[line.txn_id]
            invoice.balance -= line.amount
            invoice.linked.append(LinkedTxn(payment.id, "Payment"))

    def _unapply(self, company: Company, payment: Payment) -> None:
        """The invoices a payment paid owe it again."""
        for line in payment.lines:
            invoice = company.invoices.get(line.txn_id)
            if invoice is not None:
                invoice.balance += line.amount
                invoice.linked = [t for t in invoice.linked if t.txn_id != payment.id]
                self._touch(company, "Invoice", invoice, "Update")

    def void_payment(self, realm_id: str, body: dict) -> Payment:
        """POST /payment?operation=update&include=void: kept, with every amount zero."""
        company = self.company(realm_id)
        payment = company.payments.get(str(body.get("Id", "")))
        if payment is None:
            raise not_found()
        self.check_sync_token(payment, body)
        self._unapply(company, payment)
        payment.lines = [PaymentLine(0, line.txn_id, line.txn_type) for line in payment.lines]
        payment.total = payment.unapplied = 0
        payment.private_note = f"Voided {payment.private_note}".strip()
        self._touch(company, "Payment", payment, "Void")
        return payment

    def delete_payment(self, realm_id: str, body: dict) -> Payment:
        """POST /payment?operation=delete: the invoices owe again what it paid."""
        company = self.company(realm_id)
        payment = company.payments.get(str(body.get("Id", "")))
        if payment is None:
            raise not_found()
        self.check_sync_token(payment, body)
        del company.payments[payment.id]
        company.tombstones.append(Tombstone("Payment", payment.id, self.clock.now()))
        self._notify(Change(realm_id, "Payment", payment.id, "Delete"))
        self._unapply(company, payment)
        return payment

    def pay_in_full(self, realm_id: str, invoice_id: str, amount: int | None = None) -> Payment:
        """A payment received "in QuickBooks" (the admin API): the balance or `amount`."""
        company = self.company(realm_id)
        invoice = self.invoice(company, invoice_id)
        paying = invoice.balance if amount is None else amount
        body = {
            "CustomerRef": {"value": invoice.customer_id},
            "TotalAmt": paying / 100,
            "PaymentRefNum": "Received in QuickBooks",
            "Line": [
                {"Amount": paying / 100, "LinkedTxn": [{"TxnId": invoice.id, "TxnType": "Invoice"}]}
            ],
        }
        return self.create_payment(realm_id, body)

    # --- invoices ------------------------------------------------------------------------

    def create_invoice(self, realm_id: str, body: dict) -> Invoice:
        """POST /invoice without an Id: SalesItemLineDetail lines make up TotalAmt."""
        company = self.company(realm_id)
        customer = self._customer(company, _ref(body, "CustomerRef"))
        raw_lines = [
            line
            for line in body.get("Line") or []
            if line.get("DetailType") != "SubTotalLineDetail"
        ]
        if not raw_lines:
            raise required("Line")
        lines = [
            SalesLine(
                to_minor(line.get("Amount", 0), "Line.Amount"), str(line.get("Description", ""))
            )
            for line in raw_lines
        ]
        total = sum(line.amount for line in lines)
        now = self.clock.now()
        txn_date = _date(body["TxnDate"], "TxnDate") if body.get("TxnDate") else now.date()
        numbers = [int(i.doc_number) for i in company.invoices.values() if i.doc_number.isdigit()]
        doc_number = str(body.get("DocNumber") or max(numbers, default=1000) + 1)
        bill_email = (body.get("BillEmail") or {}).get("Address", customer.email)
        invoice = Invoice(
            id=company.next_id(),
            doc_number=doc_number[:21],
            customer_id=customer.id,
            txn_date=txn_date,
            due_date=(
                _date(body["DueDate"], "DueDate")
                if body.get("DueDate")
                else txn_date + timedelta(30)
            ),
            total=total,
            balance=total,
            currency=customer.currency,
            bill_email=bill_email,
            lines=lines,
            created=now,
            updated=now,
            private_note=str(body.get("PrivateNote", "")),
        )
        company.invoices[invoice.id] = invoice
        self._notify(Change(realm_id, "Invoice", invoice.id, "Create"))
        return invoice

    def update_invoice(self, realm_id: str, body: dict) -> Invoice:
        """POST /invoice with an Id and SyncToken. With `sparse: true` only the fields sent
        change; a full update is read the same way for the fields the sandbox keeps (it does
        not clear the others)."""
        company = self.company(realm_id)
        invoice = self.invoice(company, str(body.get("Id", "")))
        self.check_sync_token(invoice, body)
        changes = {k: v for k, v in body.items() if k in INVOICE_FIELDS}
        self._apply_invoice_changes(invoice, changes)
        self._touch(company, "Invoice", invoice, "Update")
        return invoice

    def edit_invoice(self, realm_id: str, changes: dict) -> Invoice:
        """An edit made "in QuickBooks" by a person (the admin API): no SyncToken needed."""
        company = self.company(realm_id)
        invoice = self.invoice(company, str(changes.pop("Id")))
        unknown = set(changes) - {*INVOICE_FIELDS, "TotalAmt", "Balance"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        self._apply_invoice_changes(invoice, changes)
        self._touch(company, "Invoice", invoice, "Update")
        return invoice

    @staticmethod
    def _apply_invoice_changes(invoice: Invoice, changes: dict) -> None:
        for name, value in changes.items():
            if name in ("DueDate", "TxnDate"):
                setattr(
                    invoice, "due_date" if name == "DueDate" else "txn_date", _date(value, name)
                )
            elif name == "DocNumber":
                invoice.doc_number = str(value)[:21]
            elif name == "BillEmail":
                invoice.bill_email = str((value or {}).get("Address", ""))
            elif name == "PrivateNote":
                invoice.private_note = str(value)[:4000]
            elif name == "EmailStatus":
                if value not in EMAIL_STATUSES:
                    raise invalid(f"EmailStatus {value} is not valid", element="EmailStatus")
                invoice.email_status = value
            elif name == "TotalAmt":
                paid = invoice.total - invoice.balance
                invoice.total = to_minor(value, name)
                invoice.lines = [SalesLine(invoice.total, invoice.lines[0].description)]
                invoice.balance = max(invoice.total - paid, 0)
            elif name == "Balance":
                invoice.balance = to_minor(value, name)

    def void_invoice(self, realm_id: str, body: dict) -> Invoice:
        """POST /invoice?operation=void (or the admin API): nothing owed, amounts zero."""
        company = self.company(realm_id)
        invoice = self.invoice(company, str(body.get("Id", "")))
        if "SyncToken" in body:
            self.check_sync_token(invoice, body)
        invoice.voided = True
        invoice.total = invoice.balance = 0
        invoice.lines = [SalesLine(0, line.description, line.item_name) for line in invoice.lines]
        invoice.private_note = f"Voided {invoice.private_note}".strip()
        self._touch(company, "Invoice", invoice, "Void")
        return invoice

    def delete_invoice(self, realm_id: str, body: dict) -> Invoice:
        """POST /invoice?operation=delete (or the admin API): gone, with a tombstone."""
        company = self.company(realm_id)
        invoice = self.invoice(company, str(body.get("Id", "")))
        if "SyncToken" in body:
            self.check_sync_token(invoice, body)
        if invoice.linked:
            raise business("This transaction is linked to a payment or credit; unlink it first.")
        del company.invoices[invoice.id]
        company.tombstones.append(Tombstone("Invoice", invoice.id, self.clock.now()))
        self._notify(Change(realm_id, "Invoice", invoice.id, "Delete"))
        return invoice

    # --- customers -----------------------------------------------------------------------

    def update_customer(self, realm_id: str, body: dict, *, check_token: bool = True) -> Customer:
        company = self.company(realm_id)
        customer = self._customer(company, str(body.get("Id", "")))
        if check_token:
            self.check_sync_token(customer, body)
        for name, value in body.items():
            if name not in CUSTOMER_FIELDS:
                continue
            if name in ("PrimaryEmailAddr",):
                customer.email = str((value or {}).get("Address", ""))
            elif name in ("PrimaryPhone", "Mobile"):
                number = str((value or {}).get("FreeFormNumber", ""))
                setattr(customer, "phone" if name == "PrimaryPhone" else "mobile", number)
            elif name == "Active":
                customer.active = bool(value)
            else:
                attribute = {
                    "DisplayName": "display_name",
                    "CompanyName": "company_name",
                    "GivenName": "given_name",
                    "FamilyName": "family_name",
                }[name]
                setattr(customer, attribute, str(value))
        if not customer.display_name.strip():
            raise required("DisplayName")
        self._touch(company, "Customer", customer, "Update")
        return customer

    def create_customer(self, realm_id: str, body: dict) -> Customer:
        company = self.company(realm_id)
        name = str(body.get("DisplayName", "")).strip()
        if not name:
            raise required("DisplayName")
        if any(c.display_name == name for c in company.customers.values()):
            raise QBFault(
                [
                    QBError(
                        "Duplicate Name Exists Error",
                        "6240",
                        "The name supplied already exists. : Another customer, vendor or "
                        "employee is already using this name. Please use a different name.",
                    )
                ]
            )
        now = self.clock.now()
        customer = Customer(
            id=company.next_id(),
            display_name=name,
            company_name=str(body.get("CompanyName", "")),
            given_name=str(body.get("GivenName", "")),
            family_name=str(body.get("FamilyName", "")),
            email=str((body.get("PrimaryEmailAddr") or {}).get("Address", "")),
            phone=str((body.get("PrimaryPhone") or {}).get("FreeFormNumber", "")),
            mobile=str((body.get("Mobile") or {}).get("FreeFormNumber", "")),
            currency=str((body.get("CurrencyRef") or {}).get("value", company.currency)),
            created=now,
            updated=now,
        )
        company.customers[customer.id] = customer
        self._notify(Change(realm_id, "Customer", customer.id, "Create"))
        return customer
