"""Xero's JSON for the sandbox's records: field names, date formats and money as Xero writes
them (checked against the official OpenAPI spec by tests/sandbox/test_contract.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from duely.sandbox.xero.dates import date_string, ms_date, ms_timestamp, utc_string
from duely.sandbox.xero.ledger import (
    Account,
    Contact,
    CreditNote,
    Invoice,
    Ledger,
    Organisation,
    Payment,
)
from duely.sandbox.xero.money import to_major

# Xero always lists these four phone kinds on a full contact, empty or not.
PHONE_KINDS = ("DEFAULT", "DDI", "FAX", "MOBILE")
REVENUE_ACCOUNT_CODE = "200"


def envelope(key: str, items: list[dict], now: datetime, provider: str, **extra) -> dict:
    """The wrapper every Accounting API answer has: {Id, Status, ProviderName, DateTimeUTC}."""
    return {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider,
        "DateTimeUTC": ms_timestamp(now),
        **extra,
        key: items,
    }


def _dates(prefix: str, value: date | None) -> dict:
    if value is None:
        return {}
    return {prefix: ms_date(value), f"{prefix}String": date_string(value)}


def contact_summary(contact: Contact | None, contact_id: str) -> dict:
    """The contact as Xero nests it in a list of invoices."""
    return {
        "ContactID": contact_id,
        "Name": contact.name if contact else "",
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }


def contact_json(contact: Contact, *, summary_only: bool = False) -> dict:
    body = {
        "ContactID": contact.contact_id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "EmailAddress": contact.email,
        "UpdatedDateUTC": ms_date(contact.updated),
        "IsSupplier": contact.is_supplier,
        "IsCustomer": contact.is_customer,
        "HasAttachments": False,
        "HasValidationErrors": False,
    }
    if contact.account_number:
        body["AccountNumber"] = contact.account_number
    if contact.currency:
        body["DefaultCurrency"] = contact.currency
    if summary_only:
        return body
    phones = {phone.kind: phone for phone in contact.phones}
    body.update(
        BankAccountDetails="",
        Addresses=[{"AddressType": "STREET"}, {"AddressType": "POBOX"}],
        Phones=[
            {
                "PhoneType": kind,
                "PhoneNumber": phones[kind].number if kind in phones else "",
                "PhoneAreaCode": phones[kind].area_code if kind in phones else "",
                "PhoneCountryCode": phones[kind].country_code if kind in phones else "",
            }
            for kind in PHONE_KINDS
        ],
        ContactGroups=[],
        SalesTrackingCategories=[],
        PurchasesTrackingCategories=[],
        ContactPersons=[
            {
                "FirstName": person.first_name,
                "LastName": person.last_name,
                "EmailAddress": person.email,
                "IncludeInEmails": person.include_in_emails,
            }
            for person in contact.persons
        ],
    )
    return body


def contact_balances(ledger: Ledger, contact: Contact, today: date) -> dict:
    """Balances as GET /Contacts/{id} shows them: what the contact owes and what is late."""
    sums = {"ACCREC": [0, 0], "ACCPAY": [0, 0]}
    for invoice in ledger.invoices.values():
        if invoice.contact_id == contact.contact_id and invoice.status == "AUTHORISED":
            sums[invoice.kind][0] += invoice.amount_due
            if invoice.due_date < today:
                sums[invoice.kind][1] += invoice.amount_due
    currency = contact.currency or ledger.organisation.base_currency
    return {
        name: {"Outstanding": to_major(owed, currency), "Overdue": to_major(late, currency)}
        for name, (owed, late) in (
            ("AccountsReceivable", sums["ACCREC"]),
            ("AccountsPayable", sums["ACCPAY"]),
        )
    }


def line_item(invoice: Invoice) -> dict:
    """The single line every sandbox invoice has (derived, not stored: 100k invoices)."""
    currency = invoice.currency
    return {
        "LineItemID": str(uuid.uuid5(uuid.UUID(invoice.invoice_id), "line-1")),
        "Description": invoice.description or invoice.reference or invoice.number,
        "Quantity": 1.0,
        "UnitAmount": to_major(invoice.sub_total, currency),
        "TaxType": invoice.tax_type,
        "TaxAmount": to_major(invoice.total_tax, currency),
        "LineAmount": to_major(invoice.sub_total, currency),
        "AccountCode": REVENUE_ACCOUNT_CODE,
        "Tracking": [],
    }


def payment_on_invoice(payment: Payment) -> dict:
    return {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.date),
        "Amount": to_major(payment.amount, payment.currency),
        "Reference": payment.reference,
        "CurrencyRate": payment.currency_rate,
        "HasAccount": False,
        "HasValidationErrors": False,
    }


def credit_on_invoice(ledger: Ledger, invoice: Invoice) -> list[dict]:
    applied = []
    for credit_note_id in invoice.credit_note_ids:
        note = ledger.credit_notes[credit_note_id]
        amount = sum(a.amount for a in note.allocations if a.invoice_id == invoice.invoice_id)
        applied.append(
            {
                "CreditNoteID": note.credit_note_id,
                "CreditNoteNumber": note.number,
                "Date": ms_date(note.date),
                "AppliedAmount": to_major(amount, note.currency),
                "Total": to_major(note.total, note.currency),
                "HasErrors": False,
            }
        )
    return applied


def payment_credit_on_invoice(ledger: Ledger, invoice: Invoice, id_name: str) -> list[dict]:
    """The overpayments (id_name OverpaymentID) or prepayments (PrepaymentID) allocated to
    an invoice, as Xero nests them in it."""
    if id_name == "OverpaymentID":
        ids, records = invoice.overpayment_ids, ledger.overpayments
    else:
        ids, records = invoice.prepayment_ids, ledger.prepayments
    applied = []
    for credit_id in ids:
        credit = records[credit_id]
        amount = sum(a.amount for a in credit.allocations if a.invoice_id == invoice.invoice_id)
        applied.append(
            {
                id_name: credit.credit_id,
                "Date": ms_date(credit.date),
                "AppliedAmount": to_major(amount, credit.currency),
                "Total": to_major(credit.total, credit.currency),
                "RemainingCredit": to_major(credit.remaining, credit.currency),
                "CurrencyRate": 1.0,
                "HasAttachments": False,
            }
        )
    return applied


def invoice_json(
    ledger: Ledger, invoice: Invoice, *, detail: str = "list", summary_only: bool = False
) -> dict:
    """One invoice. `detail` is "list" (a page without paging: no line items, contact
    summary), "page" (paged lists: line items too) or "single" (GET by id: full contact).
    """
    currency = invoice.currency
    contact = ledger.contacts.get(invoice.contact_id)
    body = {
        "Type": invoice.kind,
        "InvoiceID": invoice.invoice_id,
        "InvoiceNumber": invoice.number,
        "Reference": invoice.reference,
        "AmountDue": to_major(invoice.amount_due, currency),
        "AmountPaid": to_major(invoice.amount_paid, currency),
        "AmountCredited": to_major(invoice.amount_credited, currency),
        "CurrencyRate": invoice.currency_rate,
        "IsDiscounted": False,
        "HasAttachments": False,
        "HasErrors": False,
        **_dates("Date", invoice.date),
        **_dates("DueDate", invoice.due_date),
        "Status": invoice.status,
        "LineAmountTypes": "Exclusive",
        "SubTotal": to_major(invoice.sub_total, currency),
        "TotalTax": to_major(invoice.total_tax, currency),
        "Total": to_major(invoice.total, currency),
        "UpdatedDateUTC": ms_date(invoice.updated),
        "CurrencyCode": currency,
    }
    if invoice.expected_payment_date:
        body["ExpectedPaymentDate"] = ms_date(invoice.expected_payment_date)
    if invoice.fully_paid_on:
        body["FullyPaidOnDate"] = ms_date(invoice.fully_paid_on)
    if summary_only:
        body["Contact"] = {"ContactID": invoice.contact_id, "Name": contact.name if contact else ""}
        return body
    body.update(
        SentToContact=invoice.sent_to_contact,
        Payments=[payment_on_invoice(ledger.payments[p]) for p in invoice.payment_ids],
        CreditNotes=credit_on_invoice(ledger, invoice),
        Prepayments=payment_credit_on_invoice(ledger, invoice, "PrepaymentID"),
        Overpayments=payment_credit_on_invoice(ledger, invoice, "OverpaymentID"),
        UpdatedDateUTCString=utc_string(invoice.updated),
        LineItems=[line_item(invoice)] if detail in ("page", "single") else [],
    )
    if detail == "single" and contact is not None:
        body["Contact"] = contact_json(contact)
    else:
        body["Contact"] = contact_summary(contact, invoice.contact_id)
    return body


def payment_json(ledger: Ledger, payment: Payment) -> dict:
    invoice = ledger.invoices[payment.invoice_id]
    account = ledger.accounts[payment.account_id]
    contact = ledger.contacts.get(invoice.contact_id)
    amount = to_major(payment.amount, payment.currency)
    return {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.date),
        "BankAmount": amount,
        "Amount": amount,
        "Reference": payment.reference,
        "CurrencyRate": payment.currency_rate,
        "PaymentType": payment.payment_type,
        "Status": payment.status,
        "UpdatedDateUTC": ms_date(payment.updated),
        "HasAccount": True,
        "IsReconciled": False,
        "Account": {"AccountID": account.account_id, "Code": account.code},
        "Invoice": {
            "Type": invoice.kind,
            "InvoiceID": invoice.invoice_id,
            "InvoiceNumber": invoice.number,
            "Contact": {"ContactID": invoice.contact_id, "Name": contact.name if contact else ""},
            "CurrencyCode": invoice.currency,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "LineItems": [],
            "IsDiscounted": False,
            "HasErrors": False,
        },
        "HasValidationErrors": False,
    }


def credit_note_json(ledger: Ledger, note: CreditNote) -> dict:
    currency = note.currency
    contact = ledger.contacts.get(note.contact_id)
    body = {
        "CreditNoteID": note.credit_note_id,
        "CreditNoteNumber": note.number,
        "Type": note.kind,
        "Reference": note.reference,
        "Contact": {"ContactID": note.contact_id, "Name": contact.name if contact else ""},
        **_dates("Date", note.date),
        "Status": note.status,
        "LineAmountTypes": "Exclusive",
        "LineItems": [],
        "SubTotal": to_major(note.total, currency),
        "TotalTax": 0.0,
        "Total": to_major(note.total, currency),
        "UpdatedDateUTC": ms_date(note.updated),
        "CurrencyCode": currency,
        "CurrencyRate": 1.0,
        "RemainingCredit": to_major(note.remaining, currency),
        "Allocations": [
            {
                "AllocationID": allocation.allocation_id,
                "Amount": to_major(allocation.amount, currency),
                "Date": ms_date(allocation.date),
                "Invoice": {
                    "InvoiceID": allocation.invoice_id,
                    "InvoiceNumber": ledger.invoices[allocation.invoice_id].number,
                },
            }
            for allocation in note.allocations
        ],
        "Payments": [],
        "HasAttachments": False,
        "HasErrors": False,
    }
    if note.status == "PAID":
        body["FullyPaidOnDate"] = ms_date(max(a.date for a in note.allocations))
    return body


def account_json(account: Account) -> dict:
    body = {
        "AccountID": account.account_id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.kind,
        "TaxType": "NONE" if account.kind == "BANK" else "OUTPUT2",
        "Class": account.account_class,
        "EnablePaymentsToAccount": account.enable_payments,
        "ShowInExpenseClaims": False,
        "ReportingCode": account.reporting_code,
        "HasAttachments": False,
        "UpdatedDateUTC": ms_date(account.updated),
        "AddToWatchlist": False,
    }
    if account.kind == "BANK":
        body.update(BankAccountNumber=account.bank_account_number, BankAccountType="BANK")
    if account.currency:
        body["CurrencyCode"] = account.currency
    if account.system_account:
        body["SystemAccount"] = account.system_account
    return body


def organisation_json(organisation: Organisation) -> dict:
    return {
        "OrganisationID": organisation.organisation_id,
        "APIKey": "",
        "Name": organisation.name,
        "LegalName": organisation.legal_name,
        "PaysTax": True,
        "Version": organisation.version,
        "OrganisationType": "COMPANY",
        "BaseCurrency": organisation.base_currency,
        "CountryCode": organisation.country_code,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 3,
        "SalesTaxBasis": organisation.sales_tax_basis,
        "SalesTaxPeriod": "QUARTERLY",
        "DefaultSalesTax": organisation.default_sales_tax,
        "DefaultPurchasesTax": organisation.default_sales_tax,
        "CreatedDateUTC": ms_date(organisation.created),
        "OrganisationEntityType": "COMPANY",
        "Timezone": organisation.timezone,
        "ShortCode": organisation.short_code,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "LineOfBusiness": "Wholesale trade",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {
            "Sales": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
            "Bills": {"Day": 30, "Type": "DAYSAFTERBILLDATE"},
        },
    }
