"""The sandbox's records in the WSDL's complex types, element by element in the order the
WSDL's sequences declare them (Account/Customer, InvoiceBase/Invoice with its InvoiceLine,
Bank, WSTransactionSummary, CustomerStatement).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from duely.sandbox.accountsiq.company import Bank, Company, Customer, Invoice, Receipt
from duely.sandbox.accountsiq.soap import NIL, Fields, array, boolean, day, money, stamp, write
from duely.sandbox.accountsiq.store import Statement, StatementLine

COUNTRY_CODES = {"Ireland": "IE", "United Kingdom": "GB", "United States": "US"}
SALES_GL_ACCOUNT = "4000"


def _version(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def customer_fields(customer: Customer) -> Fields:
    return [
        ("AccountID", str(customer.account_id)),
        ("ExternalApproverID", NIL),
        ("LedgerType", "Sales"),
        ("Code", customer.code),
        ("CountryCode", COUNTRY_CODES.get(customer.country, "")),
        ("Name", customer.name),
        ("CreditTermID", f"{customer.credit_term_days}D"),
        ("CurrencyCode", customer.currency),
        ("CreationDate", stamp(customer.created)),
        ("Address1", customer.address1),
        ("City", customer.city),
        ("Country", customer.country),
        ("PostCode", customer.post_code),
        ("Phone", customer.phone),
        ("Email", customer.email),
        ("Contact", customer.contact),
        ("DiscountRate", "0"),
        ("UseAccountTaxCode", "false"),
        ("IsActive", boolean(customer.active)),
        ("Hold", "0"),
        ("HeadOfficeAccountID", NIL),
        ("UseHeadOffice", "false"),
        ("IsHeadOffice", "false"),
        ("CreditLimit", "0.00"),
        ("IsFranchise", "false"),
        ("RowVersionNumber", _version(customer.last_modified)),
        ("SalesRepresentativeID", NIL),
    ]


def _line_fields(invoice: Invoice) -> Fields:
    return [
        ("InvoiceItemID", str(invoice.invoice_id * 10 + 1)),
        ("InvoiceID", str(invoice.invoice_id)),
        ("OrderItemID", NIL),
        ("StockItemDescription", invoice.description),
        ("InvoicedQuantity", "1"),
        ("DeliveredQuantity", "1"),
        ("StockItemCost", "0.00"),
        ("StockItemPrice", money(invoice.net)),
        ("DiscountRate", "0"),
        ("ActualPrice", money(invoice.net)),
        ("TaxCode", f"T{invoice.tax_rate_percent}"),
        ("TaxRate", str(invoice.tax_rate_percent)),
        ("NetAmount", money(invoice.net)),
        ("TaxAmount", money(invoice.tax)),
        ("GrossAmount", money(invoice.gross)),
        ("CreationDate", stamp(invoice.created)),
        ("AdditionalCost", "false"),
        ("GLAccountCode", SALES_GL_ACCOUNT),
        ("DeliveryItemID", NIL),
    ]


def invoice_fields(company: Company, invoice: Invoice) -> Fields:
    customer = company.customer_by_id(invoice.account_id)
    name = customer.name if customer else None
    return [
        ("InvoiceID", str(invoice.invoice_id)),
        ("AccountID", str(invoice.account_id)),
        ("CurrencyCode", company.currency),
        ("CurrrencyCode", company.currency),
        ("InvoiceNumber", invoice.invoice_number),
        ("ExternalReference", invoice.external_reference),
        ("CreationDate", stamp(invoice.created)),
        ("InvoiceDate", day(invoice.invoice_date)),
        ("ExternalApproverID", NIL),
        ("DeliveryDate", day(invoice.invoice_date)),
        ("Status", invoice.status),
        ("AccountName", name),
        ("AccountAddress1", customer.address1 if customer else None),
        ("City", customer.city if customer else None),
        ("Country", customer.country if customer else None),
        ("PostCode", customer.post_code if customer else None),
        ("Contact", customer.contact if customer else None),
        ("AuthorUserID", "sandbox.user"),
        ("Phone", customer.phone if customer else None),
        ("DiscountRate", "0"),
        ("ForCollection", "false"),
        ("ExchangeRate", "1"),
        ("UseAccountTaxCode", "false"),
        ("OrderID", NIL),
        ("Hold", "0"),
        ("Ledger", "Sales"),
        ("RowVersionNumber", _version(invoice.last_modified)),
        ("Lines", array("InvoiceLine", [invoice], lambda i: _line_fields(i))),  # type: ignore[arg-type]
        ("IsPrinted", "false"),
        ("AccountBranchID", NIL),
        ("OrderDate", NIL),
        ("ExcludeFromPrinting", "false"),
        ("Type", "Invoice"),
        ("SalesRepresentativeID", NIL),
        ("NetAmount", money(invoice.net)),
        ("TaxAmount", money(invoice.tax)),
        ("GrossAmount", money(invoice.gross)),
        ("BCNetAmount", money(invoice.net)),
        ("BCTaxAmount", money(invoice.tax)),
        ("BCGrossAmount", money(invoice.gross)),
        ("ForecastedPaymentDate", NIL),
        ("TaxAdjustmentAmount", "0.00"),
        ("BCTaxAdjustmentAmount", "0.00"),
        ("LastModifiedUTC", stamp(invoice.last_modified)),
        ("DueDate", day(invoice.due_date)),
        ("AccountCode", customer.code if customer else None),
    ]


def bank_fields(bank: Bank) -> Fields:
    return [
        ("GroupOnlinePaymentDuringReconciliation", "false"),
        ("BankID", str(bank.bank_id)),
        ("Code", bank.code),
        ("BankAccountCode", bank.bank_account_code),
        ("Name", bank.name),
        ("CurrencyCode", bank.currency),
        ("OverdraftLimit", "0.00"),
        ("InternationalBankAccountNumber", bank.iban),
        ("SortCode", bank.sort_code),
        ("OnlineBankType", "None"),
    ]


def _period(on: date) -> Fields:
    return [
        ("FinancialYear", str(on.year)),
        ("PeriodNumber", str(on.month)),
        ("PeriodName", on.strftime("%b %Y")),
    ]


def transaction_summary_fields(company: Company, item: Invoice | Receipt) -> Fields:
    """A sales invoice (positive amounts) or a sales receipt (negative: a credit on the
    customer's account) as WSTransactionSummary."""
    customer = company.customer_by_id(item.account_id)
    if isinstance(item, Invoice):
        kind, invoice_id, internal = "SalesInvoice", item.invoice_id, item.invoice_number
        reference, amount = item.external_reference, item.gross
        outstanding, on, due = company.invoice_outstanding(item), item.invoice_date, item.due_date
        bank_code = None
    else:
        kind, invoice_id, internal = "SalesReceipt", 0, f"SR{item.transaction_id}"
        reference, amount = item.check_reference, -item.amount
        outstanding, on, due = -company.receipt_unallocated(item), item.payment_date, None
        bank = company.bank(item.bank_account_code)
        bank_code = bank.code if bank else None
    year, number, name = _period(on)
    return [
        ("AccountID", str(item.account_id)),
        ("AccountCode", customer.code if customer else None),
        ("Ledger", "Sales"),
        ("TransactionType", kind),
        ("TransactionID", str(item.transaction_id)),
        ("IsBatchInvoiceOrNote", "false"),
        ("InvoiceID", str(invoice_id)),
        ("InternalNumber", internal),
        ("ExternalReference", reference),
        ("ControlAmount", money(amount)),
        ("OutstandingAmount", money(outstanding)),
        ("ControlBCAmount", money(amount)),
        ("TransactionDate", day(on)),
        year,
        number,
        name,
        ("CreationDate", stamp(item.created)),
        ("CurrencyCode", company.currency),
        ("PeriodDate", day(on.replace(day=1))),
        ("CreatedBy", "sandbox.user"),
        ("AccountName", customer.name if customer else None),
        ("TransactionBankGLAccountNumber", bank_code),
        ("IsReversed", "false"),
        ("IsInDispute", "false"),
        ("NumberOfAttachments", "0"),
        ("DueDate", day(due) if due else NIL),
    ]


def _statement_line_fields(line: StatementLine) -> Fields:
    return [
        ("TransactionReference", str(line.transaction_id)),
        ("Type", line.kind),
        ("InternalNumber", line.internal_number),
        ("ExternalReference", line.external_reference),
        ("Amount", money(line.amount)),
        ("OutstandingAmount", money(line.outstanding)),
        ("TransactionDate", day(line.transaction_date)),
        ("Description", line.description or None),
        ("DueDate", day(line.due_date)),
    ]


def statement_fields(statement: Statement) -> Fields:
    b = statement.buckets

    def state(element) -> None:  # noqa: ANN001
        write(
            element,
            [
                ("From0To30DaysBalanceBucket", money(b["0-30"])),
                ("From30To60DaysBalanceBucket", money(b["30-60"])),
                ("From60To90DaysBalanceBucket", money(b["60-90"])),
                ("From90To120DaysBalanceBucket", money(b["90-120"])),
                ("From120DaysPlusBalanceBucket", money(b["120+"])),
                ("FutureBalanceBucket", money(b["future"])),
                ("CurrentBalance", money(statement.balance)),
                ("CurrentDate", stamp(statement.current_date.astimezone(UTC))),
                ("CustomerCode", statement.customer_code),
            ],
        )

    return [
        ("CustomerState", state),
        ("TransactionList", array("TransactionState", statement.lines, _statement_line_fields)),  # type: ignore[arg-type]
    ]
