"""Xero's payloads in duely's terms: money, dates, statuses, contacts."""

import asyncio
import time
from datetime import UTC, date, datetime

import pytest

from duely.core.money import to_major, to_minor
from duely.integrations.ledgers.rate_limit import TenantRateLimiter
from duely.integrations.ledgers.xero.mapping import (
    contact_from_xero,
    invoice_from_xero,
    organisation_from_xero,
    parse_instant,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (1234.5, "GBP", 123450),
        ("0.1", "USD", 10),
        (0.29, "EUR", 29),
        (1500, "JPY", 1500),
        (19.99, "NZD", 1999),
        (0.005, "GBP", 1),
    ],
)
def test_money_to_minor_units(amount, currency, minor):
    assert to_minor(amount, currency) == minor


def test_money_back_to_major_units():
    assert str(to_major(123450, "GBP")) == "1234.50"
    assert str(to_major(1500, "JPY")) == "1500"


def test_xero_instants_and_calendar_dates():
    assert parse_instant("/Date(1552326816230+0000)/") == datetime(
        2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC
    )
    invoice = invoice_from_xero(
        {
            "InvoiceID": "i-1",
            "InvoiceNumber": "INV-0001",
            "Type": "ACCREC",
            "Contact": {"ContactID": "c-1", "Name": "Acme"},
            "Date": "/Date(1539993600000+0000)/",
            "DateString": "2018-10-20T00:00:00",
            "DueDate": "/Date(1541203200000+0000)/",
            "DueDateString": "2018-11-03T00:00:00",
            "CurrencyCode": "GBP",
            "Total": 1200.0,
            "AmountDue": 450.5,
            "Status": "AUTHORISED",
            "UpdatedDateUTC": "/Date(1552326816230+0000)/",
        }
    )
    assert invoice.issue_date == date(2018, 10, 20) and invoice.due_date == date(2018, 11, 3)
    assert (invoice.total, invoice.amount_due, invoice.status) == (120000, 45050, "open")
    assert invoice.contact_external_id == "c-1" and invoice.expected_payment_date is None


@pytest.mark.parametrize(
    ("xero", "duely"),
    [
        ("DRAFT", "draft"),
        ("SUBMITTED", "draft"),
        ("AUTHORISED", "open"),
        ("PAID", "paid"),
        ("VOIDED", "voided"),
        ("DELETED", "voided"),
    ],
)
def test_statuses(xero, duely):
    raw = {"InvoiceID": "i", "Contact": {}, "DateString": "2026-01-01T00:00:00", "Status": xero}
    assert invoice_from_xero(raw).status == duely


def test_contacts_keep_every_email_with_its_kind():
    contact = contact_from_xero(
        {
            "ContactID": "c-1",
            "Name": "Acme Ltd",
            "FirstName": "Ann",
            "LastName": "Lee",
            "EmailAddress": "ann@example.com",
            "Phones": [
                {"PhoneType": "MOBILE", "PhoneNumber": "555 0100", "PhoneCountryCode": "44"}
            ],
            "ContactPersons": [
                {
                    "FirstName": "Bo",
                    "LastName": "Ng",
                    "EmailAddress": "bo@example.com",
                    "IncludeInEmails": True,
                },
                {
                    "FirstName": "Cy",
                    "LastName": "Ox",
                    "EmailAddress": "cfo@example.com",
                    "IncludeInEmails": False,
                },
            ],
            "ContactStatus": "ACTIVE",
            "UpdatedDateUTC": "/Date(1552326816230+0000)/",
        }
    )
    assert [(p.email, p.escalation) for p in contact.people] == [
        ("ann@example.com", False),
        ("bo@example.com", False),
        ("cfo@example.com", True),
    ]
    assert contact.people[0].phone == "44 555 0100"


def test_organisation_profile_uses_iana_zones():
    profile = organisation_from_xero(
        {
            "Name": "Kiwi Ltd",
            "CountryCode": "NZ",
            "Timezone": "NEWZEALANDSTANDARDTIME",
            "BaseCurrency": "NZD",
        }
    )
    assert (profile.name, profile.country, profile.timezone, profile.base_currency) == (
        "Kiwi Ltd",
        "NZ",
        "Pacific/Auckland",
        "NZD",
    )
    assert organisation_from_xero({"Timezone": "MARSSTANDARDTIME"}).timezone == ""


async def test_rate_limiter_spaces_calls_over_its_window():
    limiter = TenantRateLimiter(per_minute=3, concurrent=5, window_seconds=0.5)
    started = time.monotonic()
    stamps = []
    for _ in range(7):
        async with limiter.slot():
            stamps.append(time.monotonic() - started)
    assert stamps[2] < 0.1 and 0.5 <= stamps[3] < 0.7 and 1.0 <= stamps[6] < 1.3


async def test_rate_limiter_caps_calls_in_flight_and_honours_pauses():
    limiter = TenantRateLimiter(per_minute=100, concurrent=2)
    in_flight = peak = 0

    async def call():
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1

    await asyncio.gather(*(call() for _ in range(8)))
    assert peak == 2
    limiter.pause(0.3)
    started = time.monotonic()
    async with limiter.slot():
        assert time.monotonic() - started >= 0.29
