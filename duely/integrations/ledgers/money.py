"""Converting between providers' decimal amounts and duely's integer minor units."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217 currencies without a minor unit; every other currency duely meets has two decimals
# (the three-decimal dinars are not supported by the ledgers duely connects to).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)


def decimals(currency: str) -> int:
    return 0 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 2


def to_minor(amount: float | int | str | Decimal, currency: str) -> int:
    """`1234.5` GBP -> 123450. Goes through the decimal text, never binary float arithmetic."""
    scaled = Decimal(str(amount)).scaleb(decimals(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-decimals(currency))
