"""What a customers or an invoices spreadsheet holds, and which of its columns is which.

A column is recognised by its header, compared with each field's synonyms after both are
folded: lower case, anything in brackets dropped ("Total (GBP)"), "#" read as "no", and every
space and punctuation mark removed, so "Invoice #", "Inv. No" and "INVOICE_NO" all match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mapping = dict[str, int]
"""Field name -> index of the column that holds it."""

KindName = Literal["customers", "invoices"]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    """How a person calls it, in problems and on pages."""
    required: bool
    synonyms: tuple[str, ...]
    """Headers that mean this field, best first: when two columns match, the better wins."""


@dataclass(frozen=True)
class Kind:
    name: KindName
    fields: tuple[Field, ...]
    alternatives: tuple[tuple[str, str], ...] = ()
    """(required field, field that may stand in for it when the file lacks the first)."""

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)

    def label(self, name: str) -> str:
        return self.field(name).label


_CODE = (
    "Customer code",
    "Customer ID",
    "Customer no",
    "Customer number",
    "Customer account",
    "Customer ref",
    "Account",
    "Account no",
    "Account number",
    "Account ref",
    "Account reference",
    "A/C",
    "A/C ref",
    "A/C no",
    "Client code",
    "Client ID",
    "Client no",
    "Client number",
    "Contact code",
    "Contact ID",
    "Debtor code",
    "Debtor no",
    "Debtor ID",
    "Cust code",
    "Cust ID",
    "Cust no",
)

CUSTOMERS = Kind(
    "customers",
    (
        Field("customer_code", "Customer code", True, (*_CODE, "Code", "ID", "Ref")),
        Field(
            "name",
            "Customer name",
            True,
            (
                "Customer name",
                "Name",
                "Customer",
                "Company",
                "Company name",
                "Client",
                "Client name",
                "Business name",
                "Business",
                "Organisation",
                "Organization",
                "Account name",
                "Debtor",
                "Debtor name",
                "Display name",
                "Legal name",
                "Trading name",
            ),
        ),
        Field(
            "email",
            "Email",
            True,
            (
                "Email",
                "Email address",
                "E-mail",
                "E-mail address",
                "Mail",
                "Contact email",
                "Billing email",
                "Accounts email",
                "Invoice email",
                "Invoicing email",
                "Primary email",
                "Main email",
            ),
        ),
        Field(
            "phone",
            "Phone",
            False,
            (
                "Phone",
                "Phone number",
                "Telephone",
                "Telephone number",
                "Tel",
                "Tel no",
                "Phone no",
                "Mobile",
                "Mobile number",
                "Mobile phone",
                "Cell",
                "Main phone",
                "Contact phone",
                "Contact number",
            ),
        ),
        Field(
            "contact_name",
            "Contact name",
            False,
            (
                "Contact name",
                "Contact",
                "Contact person",
                "Main contact",
                "Primary contact",
                "Attention",
                "Attn",
                "FAO",
            ),
        ),
    ),
)

INVOICES = Kind(
    "invoices",
    (
        Field(
            "invoice_number",
            "Invoice number",
            True,
            (
                "Invoice number",
                "Invoice no",
                "Inv no",
                "Invoice",
                "Invoice ID",
                "Invoice ref",
                "Invoice reference",
                "Inv",
                "Inv ref",
                "Document number",
                "Document no",
                "Doc no",
                "Doc number",
                "Number",
                "No",
                "Num",
                "Transaction number",
                "Transaction no",
                "Trans no",
            ),
        ),
        Field("customer_code", "Customer code", True, _CODE),
        Field(
            "customer_name",
            "Customer",
            False,
            (
                "Customer",
                "Customer name",
                "Client",
                "Client name",
                "Contact",
                "Contact name",
                "Company",
                "Company name",
                "Name",
                "Account name",
                "Debtor",
                "Debtor name",
                "Bill to",
                "Billed to",
            ),
        ),
        Field(
            "issue_date",
            "Issue date",
            False,
            (
                "Issue date",
                "Invoice date",
                "Date",
                "Date issued",
                "Date sent",
                "Issued",
                "Issued on",
                "Inv date",
                "Document date",
                "Doc date",
                "Transaction date",
                "Trans date",
                "Txn date",
                "Tax point",
                "Tax date",
            ),
        ),
        Field(
            "due_date",
            "Due date",
            True,
            (
                "Due date",
                "Due",
                "Date due",
                "Due on",
                "Due by",
                "Payment due",
                "Payment due date",
                "Pay by",
            ),
        ),
        Field(
            "currency",
            "Currency",
            False,
            ("Currency", "Currency code", "CCY", "Cur", "Curr", "Curr code"),
        ),
        Field(
            "total",
            "Amount",
            True,
            (
                "Total",
                "Invoice total",
                "Total amount",
                "Amount",
                "Invoice amount",
                "Gross",
                "Gross amount",
                "Gross total",
                "Gross value",
                "Total inc VAT",
                "Total incl VAT",
                "Total including VAT",
                "Total inc tax",
                "Total incl tax",
                "Total including tax",
                "Amount inc VAT",
                "Amount incl VAT",
                "Amount inc tax",
                "Amount incl tax",
                "Original amount",
                "Invoice value",
                "Value",
            ),
        ),
        Field(
            "amount_due",
            "Amount due",
            False,
            (
                "Amount due",
                "Balance",
                "Balance due",
                "Outstanding",
                "Amount outstanding",
                "Outstanding amount",
                "Outstanding balance",
                "Open balance",
                "Open amount",
                "Invoice amount due",
                "Total amount due",
                "Total due",
                "Due amount",
                "Remaining",
                "Remaining balance",
                "Unpaid",
                "Unpaid amount",
                "Left to pay",
            ),
        ),
        Field(
            "status",
            "Status",
            False,
            ("Status", "Invoice status", "Payment status", "State"),
        ),
        Field(
            "reference",
            "Reference",
            False,
            (
                "Reference",
                "Ref",
                "Your ref",
                "Your reference",
                "Customer reference",
                "PO",
                "PO number",
                "PO no",
                "Purchase order",
                "Purchase order number",
                "Order number",
                "Order no",
                "Memo",
            ),
        ),
    ),
    alternatives=(("customer_code", "customer_name"),),
)

KINDS: dict[str, Kind] = {"customers": CUSTOMERS, "invoices": INVOICES}


def kind_of(kind: Kind | str) -> Kind:
    return kind if isinstance(kind, Kind) else KINDS[kind]


def fold(header: str) -> str:
    """A header as compared with synonyms: "Total (GBP)" -> "total", "Invoice #" -> "invoiceno"."""
    text = re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", header.lower())
    text = text.replace("#", " no ").replace("&", " and ")
    return re.sub(r"[^0-9a-z]+", "", text)


_SYNONYMS: dict[str, dict[str, tuple[str, int]]] = {
    kind.name: {
        fold(synonym): (field.name, rank)
        for field in kind.fields
        for rank, synonym in enumerate(field.synonyms)
    }
    for kind in KINDS.values()
}


def recognise(header: str, kind: Kind | str) -> str | None:
    """The field a header names, or None."""
    found = _SYNONYMS[kind_of(kind).name].get(fold(header))
    return found[0] if found else None


def recognised_anywhere(header: str) -> bool:
    return any(recognise(header, kind) for kind in KINDS.values())


def guess_mapping(headers: list[str], kind: Kind | str) -> Mapping:
    """Field name -> column index, from the headers' names.

    Each field takes the column whose header is its best synonym (the first such column when
    two headers are alike). In a customers file whose only name-like column is "Contact name"
    (as Xero's contacts export names the company), that column is the customer's name.
    """
    kind = kind_of(kind)
    best: dict[str, tuple[int, int]] = {}
    for index, header in enumerate(headers):
        found = _SYNONYMS[kind.name].get(fold(header))
        if found is None:
            continue
        name, rank = found
        if name not in best or rank < best[name][0]:
            best[name] = (rank, index)
    mapping = {name: index for name, (_, index) in best.items()}
    if kind is CUSTOMERS and "name" not in mapping and "contact_name" in mapping:
        mapping["name"] = mapping.pop("contact_name")
    return {field.name: mapping[field.name] for field in kind.fields if field.name in mapping}


def missing_required(mapping: Mapping, kind: Kind | str) -> list[str]:
    """Names of the required fields no column holds (a stand-in counts: an invoices file with a
    customer name column and no customer code column lacks nothing)."""
    kind = kind_of(kind)
    stand_ins = dict(kind.alternatives)
    return [
        field.name
        for field in kind.fields
        if field.required and field.name not in mapping and stand_ins.get(field.name) not in mapping
    ]
