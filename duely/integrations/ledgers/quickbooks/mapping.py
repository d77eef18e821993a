"""QuickBooks Online's JSON (minorversion 75) into duely's ledger records.

QuickBooks has no invoice status: an invoice with a Balance is open, one without is paid, and
one deleted (the change feed's `status: "Deleted"`, which carries only the id) is voided.
Amounts are decimal numbers in the document's currency; fields without a value are left out of
the JSON altogether.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from duely.core.money import to_minor
from duely.integrations.ledgers.base import (
    LedgerContact,
    LedgerCredit,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerPerson,
)
from duely.models import InvoiceStatus

Json = dict[str, Any]


def parse_instant(text: str | None) -> datetime | None:
    """`2026-11-02T10:30:00-08:00` -> aware UTC datetime."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _currency(raw: Json, home: str) -> str:
    return str((raw.get("CurrencyRef") or {}).get("value") or home)


def invoice_from_quickbooks(raw: Json, home_currency: str) -> LedgerInvoice:
    if raw.get("status") == "Deleted":  # the change feed keeps only its id and stamp
        return deleted_invoice(raw)
    currency = _currency(raw, home_currency)
    customer = raw.get("CustomerRef") or {}
    balance = to_minor(raw.get("Balance") or 0, currency)
    issued = _day(raw.get("TxnDate")) or date.today()
    status = InvoiceStatus.OPEN if balance > 0 else InvoiceStatus.PAID
    return LedgerInvoice(
        external_id=str(raw["Id"]),
        number=raw.get("DocNumber") or "",
        reference="",  # QuickBooks keeps a customer's PO number only in custom fields
        contact_external_id=str(customer.get("value", "")),
        contact_name=customer.get("name", ""),
        issue_date=issued,
        due_date=_day(raw.get("DueDate")) or issued,
        currency=currency,
        total=to_minor(raw.get("TotalAmt") or 0, currency),
        amount_due=balance,
        status=status,
        expected_payment_date=None,
        updated_at=parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime")),
    )


def credit_from_quickbooks(kind: str, raw: Json, home_currency: str) -> LedgerCredit:
    """A credit memo (its Balance is the credit left) or a payment's unapplied amount."""
    currency = _currency(raw, home_currency)
    left = raw.get("Balance") if kind == "credit_note" else raw.get("UnappliedAmt")
    return LedgerCredit(
        external_id=str(raw["Id"]),
        kind=kind,
        number=raw.get("DocNumber") or raw.get("PaymentRefNum") or "",
        contact_external_id=str((raw.get("CustomerRef") or {}).get("value", "")),
        issue_date=_day(raw.get("TxnDate")),
        currency=currency,
        remaining=to_minor(left or 0, currency),
    )


def deleted_invoice(raw: Json) -> LedgerInvoice:
    return LedgerInvoice(
        external_id=str(raw["Id"]),
        number="",
        reference="",
        contact_external_id="",
        contact_name="",
        issue_date=date.min,
        due_date=date.min,
        currency="",
        total=0,
        amount_due=0,
        status=InvoiceStatus.VOIDED,
        expected_payment_date=None,
        updated_at=parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime")),
        deleted=True,
    )


def contact_from_quickbooks(raw: Json) -> LedgerContact:
    """A customer: its own email and phone make one person (QuickBooks keeps no contact
    persons on a customer)."""
    email = (raw.get("PrimaryEmailAddr") or {}).get("Address", "")
    phone = (raw.get("Mobile") or raw.get("PrimaryPhone") or {}).get("FreeFormNumber", "")
    people: tuple[LedgerPerson, ...] = ()
    if email or phone:
        people = (
            LedgerPerson(
                first_name=raw.get("GivenName", ""),
                last_name=raw.get("FamilyName", ""),
                email=email,
                phone=phone,
            ),
        )
    return LedgerContact(
        external_id=str(raw["Id"]),
        name=raw.get("DisplayName") or raw.get("CompanyName") or "",
        people=people,
        updated_at=parse_instant((raw.get("MetaData") or {}).get("LastUpdatedTime")),
        archived=raw.get("Active") is False or raw.get("status") == "Deleted",
    )


def organisation_from_quickbooks(company: Json, preferences: Json) -> LedgerOrganisation:
    currency = (preferences.get("CurrencyPrefs") or {}).get("HomeCurrency") or {}
    country = company.get("Country") or (company.get("CompanyAddr") or {}).get("Country", "")
    return LedgerOrganisation(
        name=company.get("CompanyName") or company.get("LegalName") or "",
        country=country,
        timezone="",
        base_currency=currency.get("value", ""),
    )
