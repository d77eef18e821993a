"""Stripe events as Stripe sends them, for tests that deliver webhooks themselves: the
documented signature scheme (HMAC-SHA256 of "<t>.<body>", header `t=...,v1=...`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

from sqlalchemy import update

from duely.core.security import SecretBox
from duely.models import Organisation

WEBHOOK_SECRET = "whsec_duely_tests"


def signature_header(body: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    signed = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={signed}"


def event(kind: str, thing: dict, created: int | None = None) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "data": {"object": thing},
    }


def payment_succeeded(payment_id: str, amount: int, currency: str, metadata: dict) -> dict:
    return event(
        "payment_intent.succeeded",
        {
            "id": payment_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency.lower(),
            "status": "succeeded",
            "metadata": metadata,
        },
    )


def checkout_completed(payment_id: str, amount: int, currency: str, metadata: dict) -> dict:
    return event(
        "checkout.session.completed",
        {
            "id": f"cs_test_{uuid.uuid4().hex[:24]}",
            "object": "checkout.session",
            "amount_total": amount,
            "currency": currency.lower(),
            "payment_intent": payment_id,
            "payment_status": "paid",
            "status": "complete",
            "metadata": metadata,
        },
    )


def refunded(payment_id: str, amount: int, currency: str, whole: bool = True) -> dict:
    return event(
        "charge.refunded",
        {
            "id": f"ch_{uuid.uuid4().hex[:24]}",
            "object": "charge",
            "amount": amount,
            "amount_refunded": amount,
            "currency": currency.lower(),
            "payment_intent": payment_id,
            "refunded": whole,
            "metadata": {},
        },
    )


def body_of(stripe_event: dict) -> bytes:
    return json.dumps(stripe_event).encode()


def take_cards(db, org_id: int, settings, payment_accounts: str) -> None:
    """The organisation verifies Stripe webhooks with its own secret and books card payments
    to `payment_accounts` (empty: no account chosen)."""
    box = SecretBox(settings.resolved_secret_key)
    db.commit()  # a write straight away: SQLite cannot upgrade a stale read while chases write
    db.exec(
        update(Organisation)
        .where(Organisation.id == org_id)
        .values(
            stripe_webhook_secret_encrypted=box.encrypt(WEBHOOK_SECRET),
            payment_accounts=payment_accounts,
        )
    )
    db.commit()
