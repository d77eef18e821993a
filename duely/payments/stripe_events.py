"""What a Stripe event means for duely, read from the event alone.

Two kinds matter: money in (a PaymentIntent succeeded, or a Checkout Session completed paid)
and money in question (a refund, a dispute opened or closed). Everything else is stored and
otherwise ignored. Both kinds of "money in" name the PaymentIntent, so the same payment told
twice is recognisably the same payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from duely.core.money import format_money

PAYMENT_EVENTS = ("payment_intent.succeeded", "checkout.session.completed")
REVERSAL_EVENTS = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")
WANTED_EVENTS = (*PAYMENT_EVENTS, "payment_intent.payment_failed", *REVERSAL_EVENTS)
"""What duely registers for and re-reads from the Events API."""


@dataclass(frozen=True)
class MoneyIn:
    payment_id: str
    """The PaymentIntent (`pi_...`)."""
    amount: int
    currency: str
    metadata: dict[str, Any]
    paid_at: datetime


@dataclass(frozen=True)
class MoneyInQuestion:
    key: str
    """Unique per thing that happened (one refund amount, one dispute state), for alerts."""
    kind: str
    """"refund", "dispute" or "dispute_closed"."""
    payment_id: str
    """The PaymentIntent the charge belongs to ("" when Stripe did not say)."""
    detail: str


def read_event(event: dict[str, Any]) -> MoneyIn | MoneyInQuestion | None:
    kind = event.get("type", "")
    thing = (event.get("data") or {}).get("object") or {}
    at = datetime.fromtimestamp(int(event.get("created") or 0), UTC)
    if kind == "payment_intent.succeeded":
        return MoneyIn(
            payment_id=thing.get("id", ""),
            amount=int(thing.get("amount_received") or thing.get("amount") or 0),
            currency=str(thing.get("currency", "")).upper(),
            metadata=thing.get("metadata") or {},
            paid_at=at,
        )
    if kind == "checkout.session.completed":
        if thing.get("payment_status") != "paid" or not thing.get("payment_intent"):
            return None  # e.g. a bank debit still on its way; its PaymentIntent tells us later
        return MoneyIn(
            payment_id=_id(thing.get("payment_intent")),
            amount=int(thing.get("amount_total") or 0),
            currency=str(thing.get("currency", "")).upper(),
            metadata=thing.get("metadata") or {},
            paid_at=at,
        )
    if kind == "charge.refunded":
        currency = str(thing.get("currency", "")).upper()
        refunded = int(thing.get("amount_refunded") or 0)
        whole = "in full" if thing.get("refunded") else "in part"
        return MoneyInQuestion(
            key=f"refund:{thing.get('id')}:{refunded}",
            kind="refund",
            payment_id=_id(thing.get("payment_intent")),
            detail=f"{_money(refunded, currency)} refunded {whole} in Stripe (charge "
            f"{thing.get('id')})",
        )
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        currency = str(thing.get("currency", "")).upper()
        amount = _money(int(thing.get("amount") or 0), currency)
        reason = str(thing.get("reason") or "no reason given").replace("_", " ")
        if kind.endswith("created"):
            kind_name, detail = "dispute", f"the card holder disputes {amount} ({reason})"
        else:
            kind_name = "dispute_closed"
            detail = f"the card dispute over {amount} closed: {thing.get('status', 'unknown')}"
        return MoneyInQuestion(
            key=f"{kind_name}:{thing.get('id')}",
            kind=kind_name,
            payment_id=_id(thing.get("payment_intent")),
            detail=f"{detail} (dispute {thing.get('id')})",
        )
    return None


def _id(value: object) -> str:
    """Stripe sends a related object as its id, or expanded as the object itself."""
    if isinstance(value, dict):
        return str(value.get("id", ""))
    return str(value or "")


def _money(amount: int, currency: str) -> str:
    return format_money(amount, currency) if currency else str(amount)
