"""One cell's text as an amount, a date, a currency, a status or email addresses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from duely.spreadsheets.values import (
    Invalid,
    minor_units,
    numeric_order,
    parse_amount,
    parse_currency,
    parse_date,
    parse_emails,
    parse_status,
)


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        ("1234.50", "1234.50", None),
        ("1234.5", "1234.5", None),
        ("1234", "1234", None),
        ("£1,234.50", "1234.50", "GBP"),
        ("1.234,50 €", "1234.50", "EUR"),
        ("€1.234,50", "1234.50", "EUR"),
        ("1 234,50", "1234.50", None),
        ("1\u00a0234,50\u00a0€", "1234.50", "EUR"),
        ("1\u202f234,50", "1234.50", None),
        ("1'234.50", "1234.50", None),
        ("$1,234,567.89", "1234567.89", None),
        ("1.234.567,89", "1234567.89", None),
        ("1,234,567", "1234567", None),
        ("1,23,456.00", "123456.00", None),
        ("1,234", "1234", None),
        ("1.234", "1234", None),
        ("12,50", "12.50", None),
        ("0,50", "0.50", None),
        ("0.125", "0.125", None),
        ("1234.567", "1234.567", None),
        (".50", "0.50", None),
        ("USD 12.00", "12.00", "USD"),
        ("12.00 usd", "12.00", "USD"),
        ("GBP1,000", "1000", "GBP"),
        ("+12", "12", None),
        ("(120.00)", "-120.00", None),
        ("(£120.00)", "-120.00", "GBP"),
        ("-£12.00", "-12.00", "GBP"),
        ("£-12.00", "-12.00", "GBP"),
        ("−12.00", "-12.00", None),
        ("120.00-", "-120.00", None),
        ("120.00 CR", "-120.00", None),
        ("120.00 DR", "120.00", None),
        ("0", "0", None),
        (" 42 ", "42", None),
    ],
)
def test_amount_formats(text, value, currency):
    amount = parse_amount(text, "Amount")
    assert amount.value == Decimal(value)
    assert amount.currency == currency


@pytest.mark.parametrize(
    "text",
    [
        "twelve",
        "12..5",
        "1,2,3",
        "1.234.56,7,8",
        "12 apples",
        "£",
        "-",
        "()",
        "1e5",
        "12/04",
        "N/A",
    ],
)
def test_not_amounts(text):
    with pytest.raises(Invalid) as raised:
        parse_amount(text, "Amount")
    assert raised.value.reason == f"Amount '{text}' is not a number"


def test_three_decimal_currencies_read_a_dot_and_three_digits_as_decimals():
    assert parse_amount("1.234", "Amount").value == Decimal(1234)
    assert parse_amount("BHD 1.234", "Amount").value == Decimal("1.234")


def test_minor_units_by_currency():
    assert minor_units(Decimal("1234.5"), "GBP", "Amount", "1234.5") == 123450
    assert minor_units(Decimal("1234"), "JPY", "Amount", "1234") == 1234
    assert minor_units(Decimal("1234.00"), "JPY", "Amount", "1,234.00") == 1234
    assert minor_units(Decimal("1.234"), "KWD", "Amount", "1.234") == 1234
    with pytest.raises(Invalid) as raised:
        minor_units(Decimal("12.5"), "JPY", "Amount", "12.5")
    assert raised.value.reason == "Amount '12.5' has decimals, but JPY has none"
    with pytest.raises(Invalid) as raised:
        minor_units(Decimal("0.125"), "GBP", "Amount due", "0.125")
    assert raised.value.reason == ("Amount due '0.125' has more decimal places than GBP allows (2)")


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-04-03", None, date(2026, 4, 3)),
        ("2026-04-03 00:00:00", None, date(2026, 4, 3)),
        ("2026-04-03T10:15:00", None, date(2026, 4, 3)),
        ("2026/04/03", None, date(2026, 4, 3)),
        ("2026.4.3", None, date(2026, 4, 3)),
        ("25/04/2026", None, date(2026, 4, 25)),
        ("04/25/2026", None, date(2026, 4, 25)),
        ("03/04/2026", "DMY", date(2026, 4, 3)),
        ("03/04/2026", "MDY", date(2026, 3, 4)),
        ("03-04-2026", "DMY", date(2026, 4, 3)),
        ("03.04.2026", "DMY", date(2026, 4, 3)),
        ("3/4/26", "DMY", date(2026, 4, 3)),
        ("04/04/2026", None, date(2026, 4, 4)),
        ("25/04/2026 14:30", None, date(2026, 4, 25)),
        ("3 Apr 2026", None, date(2026, 4, 3)),
        ("3 April 2026", None, date(2026, 4, 3)),
        ("03-Apr-2026", None, date(2026, 4, 3)),
        ("3-Apr-26", None, date(2026, 4, 3)),
        ("3rd Sept 2026", None, date(2026, 9, 3)),
        ("April 3, 2026", None, date(2026, 4, 3)),
        ("Apr 3 2026", "DMY", date(2026, 4, 3)),
    ],
)
def test_date_formats(text, order, expected):
    assert parse_date(text, "Due date", order) == expected


@pytest.mark.parametrize(
    ("text", "order", "reason"),
    [
        (
            "03/04/2026",
            None,
            "Due date '03/04/2026' could mean 3 April or 4 March: set the file's date order",
        ),
        (
            "04/25/2026",
            "DMY",
            "Due date '04/25/2026' is not a day/month/year date, which is the file's date order",
        ),
        (
            "25/04/2026",
            "MDY",
            "Due date '25/04/2026' is not a month/day/year date, which is the file's date order",
        ),
        ("31/02/2026", "DMY", "Due date '31/02/2026' is not a real date"),
        ("2026-02-30", None, "Due date '2026-02-30' is not a real date"),
        ("31/13/2026", None, "Due date '31/13/2026' is not a date"),
        ("next Tuesday", None, "Due date 'next Tuesday' is not a date"),
        ("3 Smarch 2026", None, "Due date '3 Smarch 2026' is not a date"),
        ("46115", None, "Due date '46115' is not a date"),
        (
            "0001-01-01",
            None,
            "Due date '0001-01-01' is not a date we can use (the year is before 1900)",
        ),
    ],
)
def test_not_dates(text, order, reason):
    with pytest.raises(Invalid) as raised:
        parse_date(text, "Due date", order)
    assert raised.value.reason == reason


def test_numeric_order():
    assert numeric_order("25/04/2026") == "DMY"
    assert numeric_order("04/25/2026") == "MDY"
    assert numeric_order("03/04/2026") is None
    assert numeric_order("2026-04-25") is None
    assert numeric_order("25 Apr 2026") is None


def test_currencies():
    assert parse_currency("gbp") == "GBP"
    assert parse_currency(" JPY ") == "JPY"
    assert parse_currency("£") == "GBP"
    for text in ("XYZ", "$", "Pounds", "GB"):
        with pytest.raises(Invalid) as raised:
            parse_currency(text)
        assert raised.value.reason == f"Currency '{text}' is not a currency code"


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Paid", "paid"),
        ("PAID", "paid"),
        ("Void", "voided"),
        ("Voided", "voided"),
        ("Cancelled", "voided"),
        ("Outstanding", "open"),
        ("Open", "open"),
        ("Awaiting payment", "open"),
        ("AWAITING_PAYMENT", "open"),
        ("Authorised", "open"),
        ("Part paid", "open"),
        ("Overdue", "open"),
        ("closed", "paid"),
    ],
)
def test_statuses(text, status):
    assert parse_status(text) == status


def test_unknown_statuses():
    with pytest.raises(Invalid, match="'Draft' is a draft"):
        parse_status("Draft")
    with pytest.raises(Invalid) as raised:
        parse_status("SUBMITTED")  # Xero's "awaiting approval": not yet sent
    assert (
        raised.value.reason == "Status 'SUBMITTED' is a draft: only issued invoices can be chased"
    )
    with pytest.raises(Invalid) as raised:
        parse_status("Disputed")
    assert raised.value.reason == "Status 'Disputed' is not one we know: use Open, Paid or Void"


def test_emails():
    assert parse_emails("ap@acme.example") == ["ap@acme.example"]
    assert parse_emails("ap@acme.example; jo@acme.example") == [
        "ap@acme.example",
        "jo@acme.example",
    ]
    with pytest.raises(Invalid) as raised:
        parse_emails("ap@acme")
    assert raised.value.reason == "Email 'ap@acme' is not an email address"
    with pytest.raises(Invalid) as raised:
        parse_emails("ap@acme.example, jo at acme")
    assert "'jo' is not an email address" in raised.value.reason
