"""Money: integer minor units inside, decimal numbers (as Xero sends them) on the wire."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 currencies without the usual two decimals; everything else has two.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "ISK", "CLP", "VND", "XOF", "XAF", "UGX"})
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "KWD", "OMR", "JOD", "TND"})


def decimals(currency: str) -> int:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_minor(amount: object, currency: str) -> int:
    """Minor units of a decimal amount from a request (number or numeric string).

    Raises ValueError when `amount` is not a number. Extra decimals are rounded half up, as
    Xero rounds amounts to the currency's precision.
    """
    if isinstance(amount, bool):
        raise ValueError("amount is not a number")
    try:
        value = Decimal(str(amount))
    except InvalidOperation as error:
        raise ValueError(f"{amount!r} is not a number") from error
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a number")
    scaled = (value * (10 ** decimals(currency))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(scaled)


def to_major(minor: int, currency: str) -> float:
    """The decimal number Xero would send for `minor` units (1234.5 for 123450 GBP pence).

    A float prints the shortest exact decimal for these values, which is what JSON needs.
    """
    places = decimals(currency)
    return minor / (10**places) if places else float(minor)
