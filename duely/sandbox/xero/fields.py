"""The fields of each resource that `where` and `order` may name, as Xero names them."""

from __future__ import annotations

from decimal import Decimal

from duely.sandbox.xero.ledger import Invoice, Ledger, Payment
from duely.sandbox.xero.money import decimals
from duely.sandbox.xero.where import Field


def _money(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-decimals(currency))


def invoice_fields(ledger: Ledger) -> dict[str, Field]:
    def contact_name(invoice: Invoice) -> str:
        contact = ledger.contacts.get(invoice.contact_id)
        return contact.name if contact else ""

    return {
        "InvoiceID": Field("guid", lambda i: i.invoice_id),
        "InvoiceNumber": Field("string", lambda i: i.number),
        "Reference": Field("string", lambda i: i.reference),
        "Type": Field("string", lambda i: i.kind),
        "Status": Field("string", lambda i: i.status),
        "CurrencyCode": Field("string", lambda i: i.currency),
        "Contact.ContactID": Field("guid", lambda i: i.contact_id),
        "Contact.Name": Field("string", contact_name),
        "Date": Field("date", lambda i: i.date),
        "DueDate": Field("date", lambda i: i.due_date),
        "ExpectedPaymentDate": Field("date", lambda i: i.expected_payment_date),
        "FullyPaidOnDate": Field("date", lambda i: i.fully_paid_on),
        "UpdatedDateUTC": Field("datetime", lambda i: i.updated),
        "AmountDue": Field("number", lambda i: _money(i.amount_due, i.currency)),
        "AmountPaid": Field("number", lambda i: _money(i.amount_paid, i.currency)),
        "AmountCredited": Field("number", lambda i: _money(i.amount_credited, i.currency)),
        "SubTotal": Field("number", lambda i: _money(i.sub_total, i.currency)),
        "TotalTax": Field("number", lambda i: _money(i.total_tax, i.currency)),
        "Total": Field("number", lambda i: _money(i.total, i.currency)),
        "SentToContact": Field("bool", lambda i: i.sent_to_contact),
    }


def contact_fields(ledger: Ledger) -> dict[str, Field]:
    return {
        "ContactID": Field("guid", lambda c: c.contact_id),
        "Name": Field("string", lambda c: c.name),
        "FirstName": Field("string", lambda c: c.first_name),
        "LastName": Field("string", lambda c: c.last_name),
        "EmailAddress": Field("string", lambda c: c.email),
        "AccountNumber": Field("string", lambda c: c.account_number),
        "ContactStatus": Field("string", lambda c: c.status),
        "IsCustomer": Field("bool", lambda c: c.is_customer),
        "IsSupplier": Field("bool", lambda c: c.is_supplier),
        "UpdatedDateUTC": Field("datetime", lambda c: c.updated),
    }


def payment_fields(ledger: Ledger) -> dict[str, Field]:
    def account_code(payment: Payment) -> str:
        return ledger.accounts[payment.account_id].code

    return {
        "PaymentID": Field("guid", lambda p: p.payment_id),
        "Reference": Field("string", lambda p: p.reference),
        "Status": Field("string", lambda p: p.status),
        "PaymentType": Field("string", lambda p: p.payment_type),
        "Date": Field("date", lambda p: p.date),
        "UpdatedDateUTC": Field("datetime", lambda p: p.updated),
        "Amount": Field("number", lambda p: _money(p.amount, p.currency)),
        "Invoice.InvoiceID": Field("guid", lambda p: p.invoice_id),
        "Invoice.InvoiceNumber": Field("string", lambda p: ledger.invoices[p.invoice_id].number),
        "Account.AccountID": Field("guid", lambda p: p.account_id),
        "Account.Code": Field("string", account_code),
    }


def credit_note_fields(ledger: Ledger) -> dict[str, Field]:
    return {
        "CreditNoteID": Field("guid", lambda n: n.credit_note_id),
        "CreditNoteNumber": Field("string", lambda n: n.number),
        "Type": Field("string", lambda n: n.kind),
        "Status": Field("string", lambda n: n.status),
        "Reference": Field("string", lambda n: n.reference),
        "Contact.ContactID": Field("guid", lambda n: n.contact_id),
        "Date": Field("date", lambda n: n.date),
        "UpdatedDateUTC": Field("datetime", lambda n: n.updated),
        "Total": Field("number", lambda n: _money(n.total, n.currency)),
        "RemainingCredit": Field("number", lambda n: _money(n.remaining, n.currency)),
    }


def account_fields(ledger: Ledger) -> dict[str, Field]:
    return {
        "AccountID": Field("guid", lambda a: a.account_id),
        "Code": Field("string", lambda a: a.code),
        "Name": Field("string", lambda a: a.name),
        "Type": Field("string", lambda a: a.kind),
        "Class": Field("string", lambda a: a.account_class),
        "Status": Field("string", lambda a: a.status),
        "CurrencyCode": Field("string", lambda a: a.currency or ""),
        "EnablePaymentsToAccount": Field("bool", lambda a: a.enable_payments),
        "UpdatedDateUTC": Field("datetime", lambda a: a.updated),
    }
