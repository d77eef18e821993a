"""Money as duely holds it: integer minor units of an ISO 4217 currency.

Converting from and to providers' decimal amounts, and showing amounts to people.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Minor-unit digits where ISO 4217 says other than two.
_DECIMALS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}  # fmt: skip


def decimals(currency: str) -> int:
    return _DECIMALS.get(currency.upper(), 2)


def to_minor(amount: float | int | str | Decimal, currency: str) -> int:
    """`1234.5` GBP -> 123450. Goes through the decimal text, never binary float arithmetic."""
    scaled = Decimal(str(amount)).scaleb(decimals(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-decimals(currency))


def format_money(amount: int, currency: str) -> str:
    """Minor units as a person reads them: `format_money(123450, "GBP") == "GBP 1,234.50"`."""
    places = decimals(currency)
    major, minor = divmod(abs(amount), 10**places)
    digits = f"{major:,}" + (f".{minor:0{places}d}" if places else "")
    return f"{currency} {'-' if amount < 0 else ''}{digits}"
