"""The emulated operations of Integration 1.1: each reads its request element (parameters by
the WSDL's names) and answers its response element's fields.

Every operation but Login takes `token` first. An unknown or expired token (or one whose user
key was revoked since) is answered in the operation's own response shape with
Status=Failure, ErrorCode=WS_INVALIDTOKEN, HasExpired=true and no Result; a refusal by the
rules (store.Refused) likewise carries its Status and ErrorCode, HasExpired=false.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: N817, S405
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from duely.sandbox.accountsiq.company import Company
from duely.sandbox.accountsiq.representations import (
    bank_fields,
    customer_fields,
    invoice_fields,
    statement_fields,
    transaction_summary_fields,
)
from duely.sandbox.accountsiq.soap import (
    NIL,
    Fields,
    SoapFault,
    array,
    child,
    decimal_minor,
    envelope,
    flag,
    integer,
    integers,
    moment,
    result_status,
    strings,
    text,
    write,
)
from duely.sandbox.accountsiq.store import (
    NO_DATE,
    AccountsIQStore,
    InvoiceQuery,
    ReceiptFields,
    Refused,
)

Handler = Callable[[AccountsIQStore, Company, ET.Element], "Answer"]


@dataclass
class Answer:
    result: Callable[[ET.Element], None] | str | None = None
    """What goes in the Result element (absent: none)."""
    extra: Fields = ()
    """Elements after the Result element (SaveSalesReceiptGetBackTransactionID's
    transactionID)."""


@dataclass
class Operation:
    handler: Handler
    extra_on_failure: Fields = ()
    has_result: bool = True
    """False for operations answering a bare WSResultStatus (AllocateTransactions,
    SaveSalesReceiptGetBackTransactionID)."""


def _customers(rows: list) -> Callable[[ET.Element], None]:
    return array("Customer", rows, customer_fields)  # type: ignore[return-value]


def _invoices(company: Company, rows: list) -> Callable[[ET.Element], None]:
    return array("Invoice", rows, lambda i: invoice_fields(company, i))  # type: ignore[return-value,arg-type]


def get_customer_list(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    return Answer(_customers(list(company.customers)))


def get_customers_by(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    query = child(request, "query")
    rows = store.customers_by(
        company, strings(query, "Emails"), moment(query, "FromLastModifiedDateInUTC")
    )
    return Answer(_customers(rows))


def get_invoice(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    invoice = store.invoice(company, integer(request, "invoiceID") or 0)
    return Answer(lambda element: write(element, invoice_fields(company, invoice)))


def get_invoices_by_customer_code(
    store: AccountsIQStore, company: Company, request: ET.Element
) -> Answer:
    return Answer(_invoices(company, store.invoices_of(company, text(request, "customerCode"))))


def get_invoices_by(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    query = child(request, "query")
    if query is None:
        raise Refused("INVALID_QUERY", "The query is missing.")
    found = store.invoices_by(
        company,
        InvoiceQuery(
            from_date=moment(query, "FromDate") or NO_DATE,
            to_date=moment(query, "ToDate") or NO_DATE,
            from_creation_date=moment(query, "FromCreationDate") or NO_DATE,
            to_creation_date=moment(query, "ToCreationDate") or NO_DATE,
            skip=integer(query, "Skip") or 0,
            types=strings(query, "TypesFilter"),
            account_ids=integers(query, "AccountIDsFilter"),
            department_ids=strings(query, "DepartmentIDsFilter"),
            invoice_ids=integers(query, "InvoiceIDsFilter"),
            status=text(query, "Status") or None,
            invoice_numbers=strings(query, "InvoiceNumbersFilter"),
            reverse_order_by=flag(query, "ReverseOrderBy"),
            order_by=text(query, "OrderBy"),
            limit=integer(query, "Limit", default=None),
            from_last_modified=moment(query, "FromLastModifiedDateInUTC"),
        ),
    )
    return Answer(_invoices(company, found))


def get_transactions_by_external_reference(
    store: AccountsIQStore, company: Company, request: ET.Element
) -> Answer:
    query = child(request, "query")
    if query is None:
        raise Refused("INVALID_QUERY", "The query is missing.")
    found = store.transactions_by_external_reference(
        company,
        text(query, "ExternalReference"),
        moment(query, "FromDate") or NO_DATE,
        moment(query, "ToDate") or NO_DATE,
    )
    types = strings(query, "TypesFilter")
    accounts = integers(query, "AccountIDsFilter")
    ids = integers(query, "TransactionIDsFilter")
    rows = [
        t
        for t in found
        if (
            not types
            or ("SalesReceipt" if hasattr(t, "check_reference") else "SalesInvoice") in types
        )
        and (not accounts or t.account_id in accounts)
        and (not ids or t.transaction_id in ids)
    ]
    return Answer(
        array("WSTransactionSummary", rows, lambda t: transaction_summary_fields(company, t))  # type: ignore[arg-type]
    )


def get_bank_list(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    return Answer(array("Bank", company.banks, bank_fields))  # type: ignore[arg-type]


def get_customers_statement(
    store: AccountsIQStore, company: Company, request: ET.Element
) -> Answer:
    up_to = moment(request, "upTo") or datetime(1, 1, 1, tzinfo=UTC)
    statements = store.statement(
        company, up_to, strings(request, "customerCodes"), flag(request, "showZeros")
    )
    return Answer(array("CustomerStatement", statements, statement_fields))  # type: ignore[arg-type]


def _receipt_fields(receipt: ET.Element | None, store: AccountsIQStore) -> ReceiptFields:
    if receipt is None:
        raise Refused("INVALID_STATE_ENTITY_OR_SALES_RECEIPT_IS_NULL", "No sales receipt.")
    paid_at = moment(receipt, "PaymentDate")
    return ReceiptFields(
        customer_code=text(receipt, "CustomerCode"),
        check_reference=text(receipt, "CheckReference"),
        payment_amount=decimal_minor(receipt, "PaymentAmount"),
        bank_account_code=text(receipt, "BankAccountCode"),
        payment_date=paid_at.date() if paid_at else store.clock.today(),
        description=text(receipt, "Description"),
        lodgment_number=text(receipt, "LodgmentNumber"),
    )


def save_sales_receipt(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    receipt = store.save_receipt(company, _receipt_fields(child(request, "salesReceipt"), store))
    return Answer(extra=[("transactionID", str(receipt.transaction_id))])


def allocate_transactions(store: AccountsIQStore, company: Company, request: ET.Element) -> Answer:
    on = moment(request, "allocationDate")
    store.allocate(
        company,
        integer(request, "transactionID_1") or 0,
        integer(request, "transactionID_2") or 0,
        text(request, "allocationReference"),
        decimal_minor(request, "allocationAmount"),
        on.date() if on else store.clock.today(),
    )
    return Answer()


def post_pay_and_allocate_sales_invoice(
    store: AccountsIQStore, company: Company, request: ET.Element
) -> Answer:
    """Post a batch sales invoice, save a receipt and allocate one to the other. With
    PerformExternalReferenceDuplicateCheckOnInvoice (or ...OnReceipt) an invoice (receipt)
    already carrying the same ExternalReference (CheckReference) makes it Conflicted and
    nothing is written."""
    query = child(request, "query")
    if query is None:
        raise Refused("INVALID_QUERY", "The query is missing.")
    batch = child(query, "BatchInvoice")
    receipt_element = child(query, "Receipt")
    invoice = receipt = None
    reference = text(batch, "ExternalReference") if batch is not None else None
    fields = _receipt_fields(receipt_element, store) if receipt_element is not None else None
    check_invoice = flag(query, "PerformExternalReferenceDuplicateCheckOnInvoice")
    if (
        check_invoice
        and reference
        and any(i.external_reference == reference for i in company.invoices)
    ):
        raise Refused(
            "INVOICE_EXTERNAL_REFERENCE_ALREADY_EXISTS",
            f"An invoice with external reference {reference} exists.",
            status="Conflicted",
        )
    check_receipt = flag(query, "PerformExternalReferenceDuplicateCheckOnReceipt")
    if (
        check_receipt
        and fields
        and any(r.check_reference == fields.check_reference for r in company.receipts)
    ):
        raise Refused(
            "UNKNOWN",
            f"A receipt with reference {fields.check_reference} exists.",
            status="Conflicted",
        )
    if batch is not None:
        invoice = store.post_batch_invoice(
            company,
            text(batch, "CustomerCode"),
            moment(batch, "InvoiceDate"),
            reference,
            text(batch, "Description"),
            [
                (decimal_minor(line, "NetAmount"), decimal_minor(line, "TaxAmount"))
                for line in (child(batch, "Lines") or [])
            ],
            moment(batch, "DueDate"),
        )
    if fields is not None:
        receipt = store.save_receipt(company, fields)
    if invoice and receipt and flag(query, "PerformAllocation"):
        amount = decimal_minor(query, "AllocationAmount")
        on = moment(query, "AllocationDate")
        store.allocate(
            company,
            receipt.transaction_id,
            invoice.transaction_id,
            text(query, "AllocationReference") or "",
            amount,
            on.date() if on else store.clock.today(),
        )
    unique = text(query, "ClientUniqueReference")

    def result(element: ET.Element) -> None:
        write(
            element,
            [
                ("InvoiceTransactionID", str(invoice.transaction_id) if invoice else NIL),
                ("ReceiptTransactionID", str(receipt.transaction_id) if receipt else NIL),
                ("ClientUniqueReference", unique),
            ],
        )

    return Answer(result)


OPERATIONS: dict[str, Operation] = {
    "GetCustomerList": Operation(get_customer_list),
    "GetCustomersBy": Operation(get_customers_by),
    "GetInvoice": Operation(get_invoice),
    "GetInvoicesByCustomerCode": Operation(get_invoices_by_customer_code),
    "GetInvoicesBy": Operation(get_invoices_by),
    "GetTransactionsByExternalReference": Operation(get_transactions_by_external_reference),
    "GetBankList": Operation(get_bank_list),
    "GetCustomersStatement": Operation(get_customers_statement),
    "SaveSalesReceiptGetBackTransactionID": Operation(
        save_sales_receipt, extra_on_failure=[("transactionID", "0")], has_result=False
    ),
    "AllocateTransactions": Operation(allocate_transactions, has_result=False),
    "PostPayAndAllocateSalesInvoice": Operation(post_pay_and_allocate_sales_invoice),
}
EMULATED = ("Login", *OPERATIONS)


def _answer(operation: str, spec: Operation, status: Fields, answer: Answer | None) -> bytes:
    def fill(element: ET.Element) -> None:
        fields = list(status)
        if spec.has_result and answer is not None and answer.result is not None:
            fields.append(("Result", answer.result))
        write(element, fields)

    extra = answer.extra if answer is not None else spec.extra_on_failure
    return envelope(operation, [(f"{operation}Result", fill), *extra])


def answer(store: AccountsIQStore, region: str, operation: str, request: ET.Element) -> bytes:
    """The response envelope of `operation`, or a SoapFault for one not emulated."""
    if operation == "Login":
        token = store.login(
            region,
            text(request, "companyID") or "",
            text(request, "partnerKey") or "",
            text(request, "userKey") or "",
        )
        return envelope("Login", [("LoginResult", token)])
    spec = OPERATIONS.get(operation)
    if spec is None:
        raise SoapFault(
            "soap:Client",
            f"Server did not recognize the value of HTTP Header SOAPAction: "
            f"http://www.visorsoftware.com/visor/accountsiq/dashboard/Integration/{operation}. "
            "(The duely sandbox emulates only: " + ", ".join(EMULATED) + ".)",
        )
    company = store.company_of(text(request, "token"), region)
    if company is None:
        expired = result_status(
            "Failure", "WS_INVALIDTOKEN", "The session token is invalid or has expired.", True
        )
        return _answer(operation, spec, expired, None)
    try:
        done = spec.handler(store, company, request)
    except Refused as refusal:
        status = result_status(refusal.status, refusal.code, refusal.message, False)
        return _answer(operation, spec, status, None)
    return _answer(operation, spec, result_status("Success", "SUCCESS", None, False), done)
