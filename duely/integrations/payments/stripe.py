"""Stripe, through the stripe package's async client (DESIGN section 4).

duely charges cards into each business's own Stripe account (its own secret key, or the
platform's key with `Stripe-Account` for Connect). Three things live here:

- `StripeGateway`: create-and-confirm a PaymentIntent for a payment method the customer's
  browser made, read one back, and list recent events (to recover missed webhooks). Only the
  package's async methods are used: its sync methods would block the event loop.
- `verify_event`: check a webhook's `Stripe-Signature` against the account's secrets.
- The errors a caller acts on: `CardDeclined` (tell the customer), `StripeError` (anything
  else, in words a person can read, never with the secret key in them).

Every call is kept to what both real Stripe and localstripe (the fake `duely up` and the tests
run) accept; where they differ, the method's docstring says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import stripe

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 20.0
"""Seconds for one HTTP call to Stripe; a customer waits on `pay`, so not Stripe's 80."""
NETWORK_RETRIES = 1
"""A call that fails on the network is tried once more, with the same idempotency key (so a
retry never charges twice on real Stripe)."""
PAGE_SIZE = 100
"""Stripe's largest page."""
MAX_PAGES = 1000
"""100,000 events: far beyond 30 days of a business's payments; a guard against a server
that never says `has_more: false`."""
DEFAULT_TOLERANCE = 300
"""Seconds a webhook signature stays acceptable (Stripe's own default)."""
MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True)
class StripeAccount:
    """How to reach one business's Stripe account."""

    api_base: str
    secret_key: str
    account_id: str = ""
    """Connect: `acct_...`, sent as `Stripe-Account`; empty for the business's own key."""
    publishable_key: str = ""
    webhook_secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardPayment:
    """A PaymentIntent, in duely's terms."""

    id: str
    status: str
    """`succeeded`, `requires_action` (3-D Secure: the page finishes it with
    `stripe.confirmCardPayment(client_secret)`), `processing`, or another PaymentIntent
    status."""
    client_secret: str
    amount: int
    """Minor units."""
    currency: str
    """Upper-case ISO code, e.g. "GBP" (Stripe itself speaks lower case)."""


class StripeError(Exception):
    """Stripe could not be reached, refused the key, or failed; the message is for a person
    and never contains the secret key."""


class CardDeclined(StripeError):
    """The card was declined; the message is Stripe's, meant for the customer."""

    def __init__(self, message: str, *, code: str = "", payment_intent: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.payment_intent = payment_intent


class BadSignature(Exception):
    """A webhook whose `Stripe-Signature` is missing, malformed, wrong or stale."""


# --- webhook signatures ------------------------------------------------------------------------


def verify_event(
    payload: bytes,
    signature_header: str,
    secrets: Iterable[str],
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict:
    """The event a webhook carries, once its signature checks out against one of `secrets`.

    Stripe signs `"<t>.<raw body>"` with HMAC-SHA256 and sends `Stripe-Signature: t=<unix>,
    v1=<hex>[,v1=<hex>...]` (several v1 while a secret is being rolled). The signature is
    checked first, then its age, so "too old" is only said of a genuine signature.
    """
    if not signature_header or not signature_header.strip():
        raise BadSignature("no Stripe-Signature header")
    timestamp, signatures = _parse_signature_header(signature_header)
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise BadSignature("no webhook secret to check the signature with")
    signed = timestamp.encode() + b"." + payload
    expected = [hmac.new(key.encode(), signed, hashlib.sha256).hexdigest() for key in keys]
    # Every pair is compared (no early exit), so timing says nothing about which was close.
    matches = [hmac.compare_digest(e, s) for e in expected for s in signatures]
    if not any(matches):
        raise BadSignature("signature does not match")
    age = (time.time() if now is None else now) - int(timestamp)
    if age > tolerance:
        raise BadSignature("signature is too old")
    if age < -tolerance:
        raise BadSignature("signature is dated in the future")
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise BadSignature("the signed body is not a Stripe event")
    return event


def _parse_signature_header(header: str) -> tuple[str, list[str]]:
    timestamp = ""
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamp = value.strip()
        elif name == "v1" and value.strip():
            signatures.append(value.strip())
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadSignature("malformed Stripe-Signature header: no timestamp")
    if not signatures:
        raise BadSignature("malformed Stripe-Signature header: no v1 signature")
    return timestamp, signatures


# --- the API -----------------------------------------------------------------------------------


class StripeGateway:
    """One Stripe account's API, for as long as the `async with` (or until `aclose()`)."""

    def __init__(self, account: StripeAccount, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not account.secret_key:
            raise StripeError("no Stripe secret key is configured")
        self.account = account
        self._http = stripe.HTTPXClient(timeout=timeout)  # async only: sync calls would raise
        self._client = stripe.StripeClient(
            account.secret_key,
            base_addresses={"api": account.api_base.rstrip("/")},
            http_client=self._http,
            stripe_account=account.account_id or None,
            max_network_retries=NETWORK_RETRIES,
        )

    async def __aenter__(self) -> StripeGateway:
        return self

    async def __aexit__(self, *_) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.close_async()

    async def pay(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
        description: str = "",
    ) -> CardPayment:
        """Create and confirm a PaymentIntent in one call; CardDeclined when the card is
        declined, StripeError for any other failure.

        Only parameters localstripe also accepts are sent. `payment_method_types=["card"]`
        keeps real Stripe from offering redirect-based methods (which would need a
        `return_url`). localstripe refuses `description`, so a description travels in the
        metadata (key `description`). The Idempotency-Key makes a repeat of the same call
        return the same PaymentIntent on real Stripe; localstripe ignores the header, so
        callers that must never charge twice also keep their own record of recent attempts.
        """
        if not (isinstance(amount, int) and amount > 0):
            raise ValueError(f"a card payment needs a positive amount in minor units: {amount!r}")
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise ValueError(f"not a currency code: {currency!r}")
        if not payment_method:
            raise ValueError("a card payment needs a payment method")
        if not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise ValueError("an idempotency key of 1 to 255 characters is required")
        metadata = dict(metadata)
        if description:
            metadata.setdefault("description", description[:500])
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": metadata,
        }
        try:
            intent = await self._client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        except stripe.CardError as declined:
            raise CardDeclined(
                self._scrub(declined.user_message or "Your card was declined."),
                code=declined.code or "",
                payment_intent=_payment_intent_of(declined),
            ) from None
        except stripe.StripeError as error:
            raise self._failure(error, "take the card payment") from None
        payment = _card_payment(intent)
        log.info("Stripe PaymentIntent %s: %s", payment.id, payment.status)
        return payment

    async def payment(self, payment_intent_id: str) -> CardPayment:
        """One PaymentIntent, as Stripe has it now."""
        try:
            intent = await self._client.v1.payment_intents.retrieve_async(payment_intent_id)
        except stripe.StripeError as error:
            raise self._failure(error, f"read payment {payment_intent_id}") from None
        return _card_payment(intent)

    async def events(self, created_after: int, types: Sequence[str]) -> list[dict]:
        """Every event created after `created_after` (unix seconds) of one of `types` (all
        types when empty), oldest first, as plain dicts.

        Asked one type at a time with `type=`: real Stripe also takes `types[]`, but
        localstripe 1.15 refuses it ("Unexpected types"). Pages are followed with
        `starting_after` until `has_more` is false; real Stripe pages newest first and
        localstripe oldest first, so the result is sorted here. The Events API only reaches
        back 30 days on real Stripe.
        """
        found: dict[str, dict] = {}
        for event_type in list(dict.fromkeys(types)) or [None]:
            for event in await self._all_events(created_after, event_type):
                found.setdefault(event["id"], event)
        events = list(found.values())
        # Stable sort by second; within a second the order the server listed them in.
        if len(events) > 1 and events[0].get("created", 0) > events[-1].get("created", 0):
            events.reverse()
        events.sort(key=lambda event: event.get("created", 0))
        return events

    async def _all_events(self, created_after: int, event_type: str | None) -> list[dict]:
        params: dict[str, Any] = {"created": {"gt": int(created_after)}, "limit": PAGE_SIZE}
        if event_type:
            params["type"] = event_type
        events: list[dict] = []
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            try:
                page = await self._client.v1.events.list_async(params)  # type: ignore[arg-type]
            except stripe.StripeError as error:
                raise self._failure(error, "list events") from None
            fresh = [event.to_dict() for event in page.data if event.id not in seen]
            events.extend(fresh)
            seen.update(event["id"] for event in fresh)
            # A page of nothing new means the server lost its place: stop rather than loop.
            if not page.has_more or not fresh:
                break
            params["starting_after"] = fresh[-1]["id"]
        return events

    # --- errors ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        if self.account.secret_key and self.account.secret_key in text:
            text = text.replace(self.account.secret_key, self.account.secret_key[:8] + "…")
        return text

    def _failure(self, error: stripe.StripeError, doing: str) -> StripeError:
        """Stripe's exception as a message a person can act on."""
        status = error.http_status
        if isinstance(error, stripe.APIConnectionError):
            text = f"Stripe could not be reached at {self.account.api_base} to {doing}"
        elif isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
            text = f"Stripe refused the secret key (HTTP {status}) to {doing}: check the key"
        elif isinstance(error, stripe.RateLimitError):
            text = f"Stripe is limiting requests and did not {doing}: try again shortly"
        elif isinstance(error, stripe.IdempotencyError):
            text = f"Stripe refused to {doing}: the attempt was already made differently"
        elif isinstance(error, stripe.InvalidRequestError):
            text = f"Stripe refused to {doing} (HTTP {status}): {error.user_message or ''}"
        elif status and status >= 500:
            text = f"Stripe failed to {doing} (HTTP {status})"
        else:
            text = f"Stripe could not {doing}: {error.user_message or type(error).__name__}"
        log.warning("%s", self._scrub(text))
        return StripeError(self._scrub(text.rstrip(": ")))


def _card_payment(stripe_intent: stripe.PaymentIntent) -> CardPayment:
    intent = stripe_intent.to_dict()
    return CardPayment(
        id=intent["id"],
        status=intent["status"],
        client_secret=intent.get("client_secret") or "",
        amount=int(intent["amount"]),
        currency=str(intent["currency"]).upper(),
    )


def _payment_intent_of(error: stripe.StripeError) -> str:
    """The PaymentIntent a decline left behind (real Stripe names it; localstripe does not)."""
    body = error.json_body if isinstance(error.json_body, dict) else {}
    intent = (body.get("error") or {}).get("payment_intent") or {}
    return intent.get("id", "") if isinstance(intent, dict) else str(intent)
