"""Reading one cell's text as an amount, a date, a currency or a status.

Each reader raises Invalid with the whole reason, in words a finance person reads: the field's
label, the text as the file holds it, and what is wrong with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

from duely.core.money import decimals
from duely.spreadsheets.currencies import CURRENCIES, SYMBOLS

DateOrder = Literal["DMY", "MDY"]
ORDER_WORDS: dict[str, str] = {"DMY": "day/month/year", "MDY": "month/day/year"}


class Invalid(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- amounts ---------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u2007\u202f\u2009]+")
_AMOUNT_SYMBOLS = (
    "US$", "A$", "AU$", "C$", "CA$", "NZ$", "HK$", "S$", "R$", "£", "$", "€", "¥", "₹", "₩",
    "₽", "₺", "₪", "₦", "₱", "฿", "₫", "zł", "kr", "Kč", "Fr.", "CHF",
)  # fmt: skip
_CODE_AT_START = re.compile(r"^([A-Za-z]{3})(?![A-Za-z])")
_CODE_AT_END = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})$")
_DIGITS = re.compile(r"^[0-9.,' ’]*[0-9][0-9.,' ’]*$")


@dataclass(frozen=True)
class Amount:
    value: Decimal
    """Negative when the text says so: "-12.00", "12.00-", "(12.00)", "12.00 CR"."""
    currency: str | None
    """The currency the text names, by ISO code ("USD 12.00") or a one-currency symbol (£, €)."""


def parse_amount(text: str, label: str) -> Amount:
    """ "£1,234.50", "1.234,50 €", "(120.00)", "1 234,50", "USD 12", "1'234.50" ...

    Of "." and ",", the last one in the text is the decimal mark when both appear. When only one
    kind appears once, followed by exactly three digits after one to three others ("1,234",
    "1.234"), it separates thousands; otherwise it is the decimal mark ("12,50", "0.125").
    """
    rest = _SPACES.sub(" ", text).strip()
    negative = False
    currency: str | None = None
    changed = True
    while changed and rest:
        before = rest
        if rest.startswith("(") and rest.endswith(")"):
            negative, rest = True, rest[1:-1].strip()
        if rest[:1] in ("-", "\u2212"):
            negative, rest = True, rest[1:].strip()
        elif rest[:1] == "+":
            rest = rest[1:].strip()
        if rest.endswith("-"):
            negative, rest = True, rest[:-1].strip()
        upper = rest.upper()
        if upper.endswith("CR"):
            negative, rest = True, rest[:-2].strip()
        elif upper.endswith("DR"):
            rest = rest[:-2].strip()
        for symbol in _AMOUNT_SYMBOLS:
            if rest.startswith(symbol):
                currency = currency or SYMBOLS.get(symbol)
                rest = rest[len(symbol) :].strip()
            if rest.endswith(symbol):
                currency = currency or SYMBOLS.get(symbol)
                rest = rest[: -len(symbol)].strip()
        for pattern in (_CODE_AT_START, _CODE_AT_END):
            match = pattern.search(rest)
            if match and match.group(1).upper() in CURRENCIES:
                currency = match.group(1).upper()
                rest = (rest[: match.start()] + rest[match.end() :]).strip()
        changed = rest != before
    if not rest or not _DIGITS.match(rest):
        raise Invalid(f"{label} '{text}' is not a number")
    digits = rest.replace(" ", "").replace("'", "").replace("’", "")
    number = _decimal_of(digits, currency)
    if number is None:
        raise Invalid(f"{label} '{text}' is not a number")
    return Amount(-number if negative else number, currency)


def _decimal_of(digits: str, currency: str | None) -> Decimal | None:
    dots, commas = digits.count("."), digits.count(",")
    whole: str | None
    if dots and commas:
        mark = "." if digits.rfind(".") > digits.rfind(",") else ","
        if digits.count(mark) > 1:
            return None
        whole, fraction = digits.split(mark)
        whole = _ungroup(whole, "," if mark == "." else ".")
    elif dots + commas > 1:
        whole, fraction = _ungroup(digits, "." if dots else ","), ""
    elif dots + commas == 1:
        mark = "." if dots else ","
        whole, fraction = digits.split(mark)
        three_decimals = currency is not None and decimals(currency) == 3 and mark == "."
        if len(fraction) == 3 and 1 <= len(whole) <= 3 and whole != "0" and not three_decimals:
            whole, fraction = whole + fraction, ""
    else:
        whole, fraction = digits, ""
    if whole is None or not (whole + fraction).isdigit():
        return None
    try:
        return Decimal(f"{whole or '0'}.{fraction or '0'}")
    except InvalidOperation:
        return None


def _ungroup(whole: str, grouping: str) -> str | None:
    """ "1,234,567" -> "1234567"; None when the groups are not thousands (or lakhs)."""
    groups = whole.split(grouping)
    if len(groups) == 1:
        return whole
    if not groups[0] or len(groups[0]) > 3 or any(len(g) not in (2, 3) for g in groups[1:]):
        return None
    if len(groups[-1]) != 3:
        return None
    return "".join(groups)


def minor_units(amount: Decimal, currency: str, label: str, text: str) -> int:
    """The amount in the currency's minor units; Invalid when it has more decimal places than
    the currency has (12.345 GBP, 12.5 JPY)."""
    places = decimals(currency)
    scaled = amount.scaleb(places)
    if scaled != scaled.to_integral_value():
        if places == 0:
            raise Invalid(f"{label} '{text}' has decimals, but {currency} has none")
        raise Invalid(f"{label} '{text}' has more decimal places than {currency} allows ({places})")
    return int(scaled)


# --- currencies ------------------------------------------------------------------------------


def parse_currency(text: str, label: str = "Currency") -> str:
    code = SYMBOLS.get(text.strip(), text.strip().upper())
    if code not in CURRENCIES:
        raise Invalid(f"{label} '{text}' is not a currency code")
    return code


# --- dates -----------------------------------------------------------------------------------

MONTHS: dict[str, int] = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip

_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)?"
_YEAR_FIRST = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})" + _TIME + "$")
_NUMERIC = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + "$")
_DAY_NAMED = re.compile(
    r"^(\d{1,2})(?:st|nd|rd|th)?[\s\-/.]+([A-Za-z]+)\.?,?[\s\-/.]+(\d{4}|\d{2})$", re.IGNORECASE
)
_MONTH_NAMED = re.compile(
    r"^([A-Za-z]+)\.?[\s\-/.]+(\d{1,2})(?:st|nd|rd|th)?,?[\s\-/.]+(\d{4})$", re.IGNORECASE
)


def numeric_order(text: str) -> DateOrder | None:
    """The order a numeric day-month date must be in to make sense ("25/04/2026" is DMY,
    "04/25/2026" MDY); None when either would do, or neither, or it is not such a date."""
    match = _NUMERIC.match(text.strip())
    if not match:
        return None
    first, second = int(match.group(1)), int(match.group(3))
    if first > 12 and 1 <= second <= 12:
        return "DMY"
    if second > 12 and 1 <= first <= 12:
        return "MDY"
    return None


def parse_date(text: str, label: str, order: DateOrder | None) -> date:
    """ISO dates (with or without a time), YYYY/MM/DD, DD/MM/YYYY or MM/DD/YYYY (also with
    - or . between, and two-digit years meaning 20YY), "3 Apr 2026", "3-April-26",
    "April 3, 2026". A numeric date that reads both ways needs `order`."""
    stripped = text.strip()
    if match := _YEAR_FIRST.match(stripped):
        return _real(label, text, int(match.group(1)), int(match.group(2)), int(match.group(3)))
    if match := _NUMERIC.match(stripped):
        first, second = int(match.group(1)), int(match.group(3))
        year = _year(match.group(4))
        evident = numeric_order(stripped)
        if order is not None and evident is not None and evident != order:
            raise Invalid(
                f"{label} '{text}' is not a {ORDER_WORDS[order]} date, "
                f"which is the file's date order"
            )
        chosen = order or evident
        if chosen is None and first != second:
            if first > 12 or second > 12:
                raise Invalid(f"{label} '{text}' is not a date")
            one = f"{first} {MONTH_NAMES[second - 1]}"
            other = f"{second} {MONTH_NAMES[first - 1]}"
            raise Invalid(
                f"{label} '{text}' could mean {one} or {other}: set the file's date order"
            )
        day, month = (second, first) if chosen == "MDY" else (first, second)
        return _real(label, text, year, month, day)
    if match := _DAY_NAMED.match(stripped):
        month_number = MONTHS.get(match.group(2).lower())
        if month_number is not None:
            year = _year(match.group(3))
            return _real(label, text, year, month_number, int(match.group(1)))
    if match := _MONTH_NAMED.match(stripped):
        month_number = MONTHS.get(match.group(1).lower())
        if month_number is not None:
            year = int(match.group(3))
            return _real(label, text, year, month_number, int(match.group(2)))
    raise Invalid(f"{label} '{text}' is not a date")


def _year(digits: str) -> int:
    return 2000 + int(digits) if len(digits) == 2 else int(digits)


def _real(label: str, text: str, year: int, month: int, day: int) -> date:
    try:
        found = date(year, month, day)
    except ValueError:
        raise Invalid(f"{label} '{text}' is not a real date") from None
    if year < 1900:
        raise Invalid(f"{label} '{text}' is not a date we can use (the year is before 1900)")
    return found


# --- statuses --------------------------------------------------------------------------------

Status = Literal["open", "paid", "voided"]
"""As duely.models.InvoiceStatus spells them."""

STATUS_WORDS: dict[str, Status] = {
    **dict.fromkeys(
        (
            "open", "outstanding", "awaiting payment", "unpaid", "due", "overdue", "authorised",
            "authorized", "approved", "sent", "issued", "posted", "partially paid", "part paid",
            "partly paid", "partial", "pending", "awaiting", "not paid", "active",
        ),
        "open",
    ),
    **dict.fromkeys(("paid", "fully paid", "paid in full", "closed", "settled"), "paid"),
    **dict.fromkeys(
        (
            "void", "voided", "cancelled", "canceled", "deleted", "written off", "write off",
            "credited",
        ),
        "voided",
    ),
}  # fmt: skip


def parse_status(text: str, label: str = "Status") -> Status:
    words = " ".join(re.sub(r"[^a-z]+", " ", text.lower()).split())
    status = STATUS_WORDS.get(words)
    if status is None:
        if words in ("draft", "submitted", "awaiting approval"):
            raise Invalid(f"{label} '{text}' is a draft: only issued invoices can be chased")
        raise Invalid(f"{label} '{text}' is not one we know: use Open, Paid or Void")
    return status


# --- email addresses -------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[A-Za-z]{2,}$")


def parse_emails(text: str, label: str = "Email") -> list[str]:
    """One address or several, separated by ; or , (or spaces)."""
    addresses = [part for part in re.split(r"[;,\s]+", text.strip()) if part]
    for address in addresses:
        if not _EMAIL.match(address):
            if len(addresses) == 1:
                raise Invalid(f"{label} '{text}' is not an email address")
            raise Invalid(f"{label} '{text}': '{address}' is not an email address")
    return addresses
