"""The `where` parser: what it accepts, and that it refuses everything else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from duely.sandbox.xero.where import Field, WhereError, compile_where


@dataclass
class Row:
    name: str
    status: str
    amount: Decimal
    due: date
    contact_id: str
    customer: bool
    updated: datetime


FIELDS = {
    "Name": Field("string", lambda r: r.name),
    "Status": Field("string", lambda r: r.status),
    "AmountDue": Field("number", lambda r: r.amount),
    "DueDate": Field("date", lambda r: r.due),
    "Contact.ContactID": Field("guid", lambda r: r.contact_id),
    "IsCustomer": Field("bool", lambda r: r.customer),
    "UpdatedDateUTC": Field("datetime", lambda r: r.updated),
}
ROW = Row(
    name="Acme (UK) Ltd",
    status="AUTHORISED",
    amount=Decimal("120.50"),
    due=date(2026, 1, 31),
    contact_id="a3675fc4-f8dd-4f03-ba5b-f1870566bcd7",
    customer=True,
    updated=datetime(2026, 2, 1, 9, 30, tzinfo=UTC),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Status=="AUTHORISED"', True),
        ('Status!="AUTHORISED"', False),
        ('Status="AUTHORISED"', True),
        ("AmountDue>120.5", False),
        ("AmountDue>=120.5", True),
        ("AmountDue<200 AND AmountDue>100", True),
        ('Status=="PAID" OR (AmountDue>100 && Name=="Acme (UK) Ltd")', True),
        ("DueDate>=DateTime(2026,01,31)", True),
        ("DueDate<DateTime(2026,01,31)", False),
        ("UpdatedDateUTC>DateTime(2026,02,01,09,00,00)", True),
        ('Contact.ContactID==Guid("A3675FC4-F8DD-4F03-BA5B-F1870566BCD7")', True),
        ('contact.contactid=="a3675fc4-f8dd-4f03-ba5b-f1870566bcd7"', True),
        ("IsCustomer==true", True),
        ("IsCustomer", True),
        ('NOT Status=="PAID"', True),
        ('Name.Contains("(UK)")', True),
        ('Name.StartsWith("Acme") AND Name.EndsWith("Ltd")', True),
        ('Name=="Say \\"hi\\""', False),
        ("", True),
    ],
)
def test_supported_filters(text, expected):
    assert compile_where(text, FIELDS, "Invoice")(ROW) is expected


@pytest.mark.parametrize(
    "text",
    [
        'Status=="A" XOR Status=="B"',
        "Unknown==1",
        'Status>"A"',
        'AmountDue=="x"',
        "Status==",
        '(Status=="A"',
        'Name.Replace("a")',
        "__import__('os').system('true')",
        "DueDate==DateTime(2026,13,1)",
        "DueDate==DateTime(2026)",
        'Status=="A";',
    ],
)
def test_unsupported_filters_are_refused(text):
    with pytest.raises(WhereError):
        compile_where(text, FIELDS, "Invoice")
