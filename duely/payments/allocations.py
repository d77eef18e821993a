"""Which invoices a payment is for, carried in the Stripe payment's metadata.

duely creates every PaymentIntent, so the metadata is its own note to itself: the organisation,
the customer, and each invoice's share in minor units. Stripe allows 50 keys of up to 500
characters, so the shares are spread over `duely_invoices`, `duely_invoices_2`, ...
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ORG_KEY = "duely_org"
CUSTOMER_KEY = "duely_customer"
INVOICES_KEY = "duely_invoices"
MAX_VALUE = 500
MAX_INVOICE_KEYS = 45
"""Leaves room under Stripe's 50 keys for the organisation, customer and a few of our own."""


class BadAllocation(ValueError):
    """Metadata that does not say which invoices a payment is for."""


@dataclass(frozen=True)
class Share:
    invoice_id: int
    amount: int


@dataclass(frozen=True)
class Allocation:
    organisation_id: int
    customer_id: int
    shares: tuple[Share, ...]

    @property
    def total(self) -> int:
        return sum(share.amount for share in self.shares)


def to_metadata(allocation: Allocation) -> dict[str, str]:
    if not allocation.shares:
        raise BadAllocation("a payment must be for at least one invoice")
    chunks: list[str] = []
    for share in allocation.shares:
        item = f"{share.invoice_id}:{share.amount}"
        if chunks and len(chunks[-1]) + 1 + len(item) <= MAX_VALUE:
            chunks[-1] += f",{item}"
        else:
            chunks.append(item)
    if len(chunks) > MAX_INVOICE_KEYS:
        raise BadAllocation("too many invoices for one payment")
    metadata = {ORG_KEY: str(allocation.organisation_id), CUSTOMER_KEY: str(allocation.customer_id)}
    for number, chunk in enumerate(chunks, start=1):
        metadata[INVOICES_KEY if number == 1 else f"{INVOICES_KEY}_{number}"] = chunk
    return metadata


def is_duelys(metadata: Mapping[str, Any] | None) -> bool:
    """Whether duely's payment page made this payment (other payments carry none of this)."""
    return bool(metadata and ORG_KEY in metadata)


def organisation_of(metadata: Mapping[str, Any] | None) -> int | None:
    try:
        return int((metadata or {})[ORG_KEY])
    except (KeyError, TypeError, ValueError):
        return None


def from_metadata(metadata: Mapping[str, Any] | None) -> Allocation:
    """The allocation a payment carries; BadAllocation when it carries none (a payment made
    outside duely) or something unreadable."""
    metadata = metadata or {}
    organisation_id = organisation_of(metadata)
    if organisation_id is None:
        raise BadAllocation("the payment does not say which organisation it is for")
    shares: list[Share] = []
    for number in range(1, MAX_INVOICE_KEYS + 1):
        chunk = metadata.get(INVOICES_KEY if number == 1 else f"{INVOICES_KEY}_{number}")
        if not chunk:
            break
        for item in str(chunk).split(","):
            invoice, _, amount = item.partition(":")
            try:
                shares.append(Share(int(invoice), int(amount)))
            except ValueError:
                raise BadAllocation(f"unreadable invoice share {item!r}") from None
    if not shares:
        raise BadAllocation("the payment does not say which invoices it is for")
    try:
        customer_id = int(metadata.get(CUSTOMER_KEY, 0))
    except ValueError:
        customer_id = 0
    return Allocation(organisation_id, customer_id, tuple(shares))
