"""Xero's records in duely's terms: statuses, money, dates, contacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal

from duely.core.money import to_minor
from duely.integrations.ledgers.base import (
    LedgerContact,
    LedgerCredit,
    LedgerInvoice,
    LedgerOrganisation,
    LedgerPerson,
)
from duely.models import InvoiceStatus

_MS_DATE = re.compile(r"/Date\((-?\d+)([+-]\d{4})?\)/")

INVOICE_STATUSES = {
    "DRAFT": InvoiceStatus.DRAFT,
    "SUBMITTED": InvoiceStatus.DRAFT,
    "AUTHORISED": InvoiceStatus.OPEN,
    "PAID": InvoiceStatus.PAID,
    "VOIDED": InvoiceStatus.VOIDED,
    "DELETED": InvoiceStatus.VOIDED,
}

# Xero names zones the Windows way; these are the ones its organisations commonly use.
_TIMEZONES = {
    "GMTSTANDARDTIME": "Europe/London",
    "GREENWICHSTANDARDTIME": "Atlantic/Reykjavik",
    "WEUROPESTANDARDTIME": "Europe/Berlin",
    "ROMANCESTANDARDTIME": "Europe/Paris",
    "CENTRALEUROPESTANDARDTIME": "Europe/Warsaw",
    "EASTERNSTANDARDTIME": "America/New_York",
    "CENTRALSTANDARDTIME": "America/Chicago",
    "MOUNTAINSTANDARDTIME": "America/Denver",
    "PACIFICSTANDARDTIME": "America/Los_Angeles",
    "AUSEASTERNSTANDARDTIME": "Australia/Sydney",
    "EAUSTRALIASTANDARDTIME": "Australia/Brisbane",
    "CENAUSTRALIASTANDARDTIME": "Australia/Adelaide",
    "WAUSTRALIASTANDARDTIME": "Australia/Perth",
    "NEWZEALANDSTANDARDTIME": "Pacific/Auckland",
    "SOUTHAFRICASTANDARDTIME": "Africa/Johannesburg",
    "SINGAPORESTANDARDTIME": "Asia/Singapore",
    "UTC": "UTC",
}


def parse_instant(value: str | None) -> datetime | None:
    """`/Date(1552326816230+0000)/` (or ISO text) -> aware UTC datetime."""
    if not value:
        return None
    match = _MS_DATE.fullmatch(value)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_calendar_date(text: str | None, encoded: str | None = None) -> date | None:
    """Xero dates are calendar days of the organisation; `DateString` carries them as text,
    and the `/Date(...)/` form is that day at midnight UTC."""
    if text:
        return date.fromisoformat(text[:10])
    instant = parse_instant(encoded)
    return instant.date() if instant else None


def invoice_from_xero(raw: dict) -> LedgerInvoice:
    currency = raw.get("CurrencyCode") or ""
    contact = raw.get("Contact") or {}
    return LedgerInvoice(
        external_id=raw["InvoiceID"],
        number=raw.get("InvoiceNumber") or "",
        reference=raw.get("Reference") or "",
        contact_external_id=contact.get("ContactID", ""),
        contact_name=contact.get("Name", ""),
        issue_date=parse_calendar_date(raw.get("DateString"), raw.get("Date")),
        due_date=parse_calendar_date(raw.get("DueDateString"), raw.get("DueDate"))
        or parse_calendar_date(raw.get("DateString"), raw.get("Date")),
        currency=currency,
        total=to_minor(raw.get("Total") or 0, currency),
        amount_due=to_minor(raw.get("AmountDue") or 0, currency),
        status=INVOICE_STATUSES.get(raw.get("Status", ""), InvoiceStatus.DRAFT),
        expected_payment_date=parse_calendar_date(
            raw.get("ExpectedPaymentDateString"), raw.get("ExpectedPaymentDate")
        ),
        updated_at=parse_instant(raw.get("UpdatedDateUTC")),
    )


CREDIT_IDS = {
    "credit_note": "CreditNoteID",
    "overpayment": "OverpaymentID",
    "prepayment": "PrepaymentID",
}


def credit_from_xero(kind: str, raw: dict) -> LedgerCredit:
    """A credit note (ACCRECCREDIT), overpayment or prepayment (RECEIVE-...) of a customer."""
    currency = raw.get("CurrencyCode") or ""
    return LedgerCredit(
        external_id=raw[CREDIT_IDS[kind]],
        kind=kind,
        number=raw.get("CreditNoteNumber") or raw.get("Reference") or "",
        contact_external_id=(raw.get("Contact") or {}).get("ContactID", ""),
        issue_date=parse_calendar_date(raw.get("DateString"), raw.get("Date")),
        currency=currency,
        remaining=to_minor(raw.get("RemainingCredit") or 0, currency),
    )


def closing_balance(report: dict) -> Decimal | None:
    """The last cell of a report's "Closing Balance" summary row (Xero's reports are rows of
    cells: Header, Section, Row, SummaryRow)."""

    def rows(within: list[dict]) -> Iterator[dict]:
        for row in within:
            yield row
            yield from rows(row.get("Rows") or [])

    for row in rows(report.get("Rows") or []):
        cells = row.get("Cells") or []
        title = cells[0].get("Value") if cells else None
        if row.get("RowType") == "SummaryRow" and title == "Closing Balance":
            return Decimal(cells[-1].get("Value") or "0")
    return None


def contact_from_xero(raw: dict) -> LedgerContact:
    """The contact's own email first; people ticked "include in emails" are chased normally,
    the others only when a chase escalates."""
    phone = next(
        (
            " ".join(
                filter(
                    None, (p.get("PhoneCountryCode"), p.get("PhoneAreaCode"), p.get("PhoneNumber"))
                )
            )
            for p in raw.get("Phones") or []
            if p.get("PhoneType") == "MOBILE" and p.get("PhoneNumber")
        ),
        "",
    )
    people = []
    if raw.get("EmailAddress") or phone:
        people.append(
            LedgerPerson(
                raw.get("FirstName") or "",
                raw.get("LastName") or "",
                raw.get("EmailAddress") or "",
                phone,
            )
        )
    for person in raw.get("ContactPersons") or []:
        if person.get("EmailAddress"):
            people.append(
                LedgerPerson(
                    person.get("FirstName") or "",
                    person.get("LastName") or "",
                    person["EmailAddress"],
                    escalation=not person.get("IncludeInEmails", False),
                )
            )
    return LedgerContact(
        external_id=raw["ContactID"],
        name=raw.get("Name") or "",
        people=tuple(people),
        updated_at=parse_instant(raw.get("UpdatedDateUTC")),
        archived=raw.get("ContactStatus") == "ARCHIVED",
    )


def organisation_from_xero(raw: dict) -> LedgerOrganisation:
    return LedgerOrganisation(
        name=raw.get("Name") or raw.get("LegalName") or "",
        country=raw.get("CountryCode") or "",
        timezone=_TIMEZONES.get((raw.get("Timezone") or "").upper(), ""),
        base_currency=raw.get("BaseCurrency") or "",
    )
