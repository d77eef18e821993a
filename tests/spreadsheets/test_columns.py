"""guess_mapping on the headers of real exports (Xero, QuickBooks, Sage) and hand-made sheets."""

from __future__ import annotations

import pytest

from duely.spreadsheets import CUSTOMERS, INVOICES, KINDS, guess_mapping, missing_required
from duely.spreadsheets.columns import fold, recognise


def named(headers: list[str], kind) -> dict[str, str]:
    """The mapping with header names in place of indexes, to read easily."""
    return {field: headers[index] for field, index in guess_mapping(headers, kind).items()}


XERO_INVOICES = [
    "ContactName", "EmailAddress", "POAddressLine1", "POAddressLine2", "POCity", "POPostalCode",
    "InvoiceNumber", "Reference", "InvoiceDate", "DueDate", "Total", "TaxTotal",
    "InvoiceAmountPaid", "InvoiceAmountDue", "InventoryItemCode", "Description", "Quantity",
    "UnitAmount", "Discount", "LineAmount", "AccountCode", "TaxType", "TaxAmount",
    "TrackingName1", "TrackingOption1", "Currency", "Type", "Sent", "Status",
]  # fmt: skip


def test_xero_invoice_export():
    assert named(XERO_INVOICES, INVOICES) == {
        "invoice_number": "InvoiceNumber",
        "customer_name": "ContactName",
        "issue_date": "InvoiceDate",
        "due_date": "DueDate",
        "currency": "Currency",
        "total": "Total",
        "amount_due": "InvoiceAmountDue",
        "status": "Status",
        "reference": "Reference",
    }
    # Xero's AccountCode is a sales account (200), not the customer's: it must not be taken.
    assert missing_required(guess_mapping(XERO_INVOICES, INVOICES), INVOICES) == []


def test_xero_contacts_export_whose_contact_name_is_the_company():
    headers = [
        "*ContactName", "AccountNumber", "EmailAddress", "FirstName", "LastName",
        "POAttentionTo", "POAddressLine1", "PhoneNumber", "MobileNumber", "TaxNumber",
    ]  # fmt: skip
    assert named(headers, CUSTOMERS) == {
        "customer_code": "AccountNumber",
        "name": "*ContactName",
        "email": "EmailAddress",
        "phone": "PhoneNumber",
    }


def test_quickbooks_invoice_list_and_aging_detail():
    invoice_list = [
        "Date", "No.", "Customer", "Due date", "Balance", "Total before sales tax", "Total",
        "Status", "Currency",
    ]  # fmt: skip
    assert named(invoice_list, INVOICES) == {
        "invoice_number": "No.",
        "customer_name": "Customer",
        "issue_date": "Date",
        "due_date": "Due date",
        "currency": "Currency",
        "total": "Total",
        "amount_due": "Balance",
        "status": "Status",
    }
    aging = ["", "Date", "Transaction Type", "Num", "Customer", "Due Date", "Amount"]
    aging.append("Open Balance")
    assert named(aging, INVOICES) == {
        "invoice_number": "Num",
        "customer_name": "Customer",
        "issue_date": "Date",
        "due_date": "Due Date",
        "total": "Amount",
        "amount_due": "Open Balance",
    }


def test_quickbooks_customer_list_has_no_code_column():
    headers = ["Customer", "Company name", "Email", "Phone", "Full name", "Billing address"]
    mapping = guess_mapping(headers, CUSTOMERS)
    assert named(headers, CUSTOMERS) == {"name": "Customer", "email": "Email", "phone": "Phone"}
    assert missing_required(mapping, CUSTOMERS) == ["customer_code"]


def test_sage_like_exports():
    invoices = [
        "Type", "A/C Ref", "Inv No", "Date", "Due Date", "Details", "Net", "VAT", "Gross",
        "Outstanding", "Currency",
    ]  # fmt: skip
    assert named(invoices, INVOICES) == {
        "invoice_number": "Inv No",
        "customer_code": "A/C Ref",
        "issue_date": "Date",
        "due_date": "Due Date",
        "currency": "Currency",
        "total": "Gross",
        "amount_due": "Outstanding",
    }
    customers = ["A/C", "Company Name", "Contact Name", "Telephone", "E-mail", "Balance"]
    assert named(customers, CUSTOMERS) == {
        "customer_code": "A/C",
        "name": "Company Name",
        "email": "E-mail",
        "phone": "Telephone",
        "contact_name": "Contact Name",
    }


def test_hand_made_sheets():
    headers = ["Invoice #", "Client", "Date sent", "Due", "Amount (£)", "Paid?", "Notes"]
    assert named(headers, INVOICES) == {
        "invoice_number": "Invoice #",
        "customer_name": "Client",
        "issue_date": "Date sent",
        "due_date": "Due",
        "total": "Amount (£)",
    }
    headers = [
        " INV NO ", "Customer Code", "Customer", "Invoice Date", "Due Date", "CCY",
        "Gross", "Balance", "State", "PO", "Document Number",
    ]  # fmt: skip
    assert named(headers, INVOICES) == {
        "invoice_number": " INV NO ",  # a better synonym than "Document Number"
        "customer_code": "Customer Code",
        "customer_name": "Customer",
        "issue_date": "Invoice Date",
        "due_date": "Due Date",
        "currency": "CCY",
        "total": "Gross",
        "amount_due": "Balance",
        "status": "State",
        "reference": "PO",
    }
    headers = ["code", "NAME", "e-mail address", "tel.", "contact"]
    assert named(headers, CUSTOMERS) == {
        "customer_code": "code",
        "name": "NAME",
        "email": "e-mail address",
        "phone": "tel.",
        "contact_name": "contact",
    }


def test_the_first_of_two_alike_columns_wins():
    assert guess_mapping(["Total", "Inv No", "TOTAL"], INVOICES) == {
        "invoice_number": 1,
        "total": 0,
    }


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Inv No", "invoice_number"),
        ("Invoice #", "invoice_number"),
        ("invoice_no.", "invoice_number"),
        ("Document Number", "invoice_number"),
        ("Client", "customer_name"),
        ("Account", "customer_code"),
        ("Due", "due_date"),
        ("Due Date", "due_date"),
        ("Balance", "amount_due"),
        ("Outstanding", "amount_due"),
        ("Amount Due", "amount_due"),
        ("Gross", "total"),
        ("Total", "total"),
        ("Total (inc. VAT)", "total"),
        ("Currency", "currency"),
        ("CCY", "currency"),
        ("Payment status", "status"),
        ("Your ref", "reference"),
        ("Description", None),
        ("AccountCode", None),
    ],
)
def test_recognise_invoice_headers(header, field):
    assert recognise(header, INVOICES) == field


def test_fold():
    assert fold("Invoice #") == fold("INVOICE NO.") == fold("invoice_no") == "invoiceno"
    assert fold("Total (GBP)") == "total"
    assert fold("E-mail") == "email"


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())
def test_no_header_means_two_fields_of_one_kind(kind):
    seen: dict[str, str] = {}
    for field in kind.fields:
        for synonym in field.synonyms:
            assert seen.setdefault(fold(synonym), field.name) == field.name, synonym


def test_missing_required():
    assert missing_required({}, INVOICES) == [
        "invoice_number",
        "customer_code",
        "due_date",
        "total",
    ]
    # A customer name column stands in for the code.
    named_only = {"invoice_number": 0, "customer_name": 1, "due_date": 2, "total": 3}
    assert missing_required(named_only, INVOICES) == []
    assert missing_required(named_only, "invoices") == []
    assert missing_required({"customer_code": 0, "name": 1}, CUSTOMERS) == ["email"]
    assert INVOICES.label("total") == "Amount"
