"""Paying invoices by card on the customer portal (`POST /pay/{token}/card`, in
duely/web/pages/portal.py, which reads the request and answers the page).

The customer's browser turns the card into a payment method id with Stripe.js; this module
creates and confirms one PaymentIntent for the ticked invoices in the business's own Stripe
account. What the customer is charged comes from duely's mirror of the ledger
(`Invoice.amount_due`), never from the browser, and the PaymentIntent's metadata says which
invoices it pays (`duely.payments.allocations`). The ledger is written later, when Stripe's
webhook arrives (`duely.web.webhooks.stripe`); here the attempt only goes on each invoice's
timeline.

A double click must never charge twice. The idempotency key is derived from the customer, the
invoice shares and the payment method, so real Stripe answers a repeat with the same
PaymentIntent for a day. localstripe ignores idempotency keys, and two clicks can race each
other, so the web process also remembers its recent attempts by that key (`RecentAttempts`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from duely.core.links import LinkedCustomer
from duely.core.money import format_money
from duely.integrations.payments.stripe import (
    CardDeclined as CardDeclined,  # what pay_by_card raises, for its callers
)
from duely.integrations.payments.stripe import (
    CardPayment,
    StripeAccount,
    StripeGateway,
)
from duely.integrations.payments.stripe import (
    StripeError as StripeError,
)
from duely.models import Event, Invoice, Organisation, saved_id
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.payments.stripe_accounts import stripe_account_of
from duely.settings import Settings

log = logging.getLogger(__name__)

CARD_PAYMENT = "card_payment"
"""Event kind of a card payment made on the portal."""
REMEMBER_SECONDS = 24 * 3600
"""As long as Stripe keeps an idempotency key."""
REMEMBER_AT_MOST = 10_000

NOT_TAKEN = (
    "This business does not take card payments here yet. Please pay as the invoice says, "
    "or tell them below when you will pay."
)
PAID = "Payment received, thank you — your invoices will show as paid in a moment."
PROCESSING = (
    "Thank you: your payment is being processed. Your invoices will show as paid once your "
    "bank completes it."
)
CONFIRM = "Your bank asks you to confirm this payment."


class CardsNotTaken(Exception):
    """The organisation has no Stripe account duely can charge into."""


class SeveralCurrencies(ValueError):
    """Invoices in more than one currency ticked for one payment; the message says what to do."""


@dataclass(frozen=True)
class CardSetup:
    """What the page needs to show the card form."""

    publishable_key: str
    js_url: str


def stripe_account(settings: Settings, organisation: Organisation) -> StripeAccount | None:
    """The organisation's Stripe account; None when it takes no cards, or when its stored key
    cannot be read (encrypted under another DUELY_SECRET_KEY): the page then says so instead
    of failing."""
    try:
        return stripe_account_of(settings, organisation)
    except InvalidToken:
        log.warning("organisation %s: its Stripe key cannot be decrypted", organisation.id)
        return None


def card_setup(settings: Settings, organisation: Organisation) -> CardSetup | None:
    account = stripe_account(settings, organisation)
    if account is None:
        return None
    return CardSetup(account.publishable_key, settings.stripe_js_url)


def single_currency(invoices: list[Invoice]) -> str:
    """One payment has one currency."""
    currencies = sorted({invoice.currency for invoice in invoices})
    if len(currencies) > 1:
        raise SeveralCurrencies(
            f"One card payment is in one currency: tick the invoices in {currencies[0]} or "
            f"those in {' or '.join(currencies[1:])}, and pay each currency separately."
        )
    return currencies[0]


def allocation_of(payer: LinkedCustomer, invoices: list[Invoice]) -> Allocation:
    """Each invoice's share is what duely's mirror says is due on it."""
    shares = tuple(Share(saved_id(invoice), invoice.amount_due) for invoice in invoices)
    return Allocation(saved_id(payer.organisation), saved_id(payer.customer), shares)


def idempotency_key(allocation: Allocation, payment_method: str) -> str:
    """The same customer, invoices, amounts and card give the same key, whatever the order
    the invoices were ticked in."""
    shares = ",".join(f"{s.invoice_id}:{s.amount}" for s in sorted(allocation.shares, key=_id))
    seed = f"{allocation.organisation_id}|{allocation.customer_id}|{shares}|{payment_method}"
    return "duely-portal-card-" + hashlib.sha256(seed.encode()).hexdigest()


def _id(share: Share) -> int:
    return share.invoice_id


# --- paying ------------------------------------------------------------------------------------


class RecentAttempts:
    """This process's card attempts of the last day, by idempotency key: a repeat while the
    first is running waits for it, a repeat afterwards gets its answer. Failures are not
    remembered, so a declined customer can try again (with a new payment method anyway)."""

    def __init__(
        self, keep_seconds: float = REMEMBER_SECONDS, at_most: int = REMEMBER_AT_MOST
    ) -> None:
        self.keep_seconds = keep_seconds
        self.at_most = at_most
        self._running: dict[str, asyncio.Future[CardPayment]] = {}
        self._done: OrderedDict[str, tuple[float, CardPayment]] = OrderedDict()

    async def run(self, key: str, charge: Callable[[], Awaitable[CardPayment]]) -> CardPayment:
        self._forget_old()
        if key in self._done:
            return self._done[key][1]
        running = self._running.get(key)
        if running is None:
            running = asyncio.ensure_future(charge())
            self._running[key] = running
            running.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a customer closing the tab must not cancel a charge another request
        # for the same click is waiting on.
        return await asyncio.shield(running)

    def _finished(self, key: str, done: asyncio.Future[CardPayment]) -> None:
        self._running.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return
        self._done[key] = (time.monotonic(), done.result())
        while len(self._done) > self.at_most:
            self._done.popitem(last=False)

    def _forget_old(self) -> None:
        horizon = time.monotonic() - self.keep_seconds
        while self._done and next(iter(self._done.values()))[0] < horizon:
            self._done.popitem(last=False)


async def pay_by_card(
    settings: Settings,
    attempts: RecentAttempts,
    session: AsyncSession,
    visit: LinkedCustomer,
    invoices: list[Invoice],
    payment_method: str,
) -> CardPayment:
    """Charge the card for what is due on `invoices` (already checked to be the customer's
    and outstanding); CardsNotTaken, SeveralCurrencies, CardDeclined or StripeError otherwise.
    `attempts` remembers this process's recent charges. The attempt goes on each invoice's
    timeline."""
    account = stripe_account(settings, visit.organisation)
    if account is None:
        raise CardsNotTaken(NOT_TAKEN)
    currency = single_currency(invoices)
    allocation = allocation_of(visit, invoices)
    key = idempotency_key(allocation, payment_method)
    numbers = ", ".join(invoice.number or f"#{invoice.id}" for invoice in invoices)

    async def charge() -> CardPayment:
        async with StripeGateway(account) as stripe:
            return await stripe.pay(
                amount=allocation.total,
                currency=currency,
                payment_method=payment_method,
                metadata=to_metadata(allocation),
                idempotency_key=key,
                description=f"{visit.sender}: {numbers}"[:500],
            )

    payment = await attempts.run(key, charge)
    await _record(session, visit, invoices, payment)
    log.info(
        "customer %s of organisation %s: card payment %s for %d invoice(s) is %s",
        visit.customer.id,
        visit.organisation.id,
        payment.id,
        len(invoices),
        payment.status,
    )
    return payment


async def _record(
    session: AsyncSession, visit: LinkedCustomer, invoices: list[Invoice], payment: CardPayment
) -> None:
    """One line per invoice, once per PaymentIntent (a repeated click adds nothing)."""
    already = set(
        (
            await session.exec(
                select(Event.invoice_id).where(
                    Event.organisation_id == visit.organisation.id,
                    Event.kind == CARD_PAYMENT,
                    col(Event.invoice_id).in_([invoice.id for invoice in invoices]),
                    col(Event.detail).contains(payment.id, autoescape=True),
                )
            )
        ).all()
    )
    total = format_money(payment.amount, payment.currency)
    if payment.status == "succeeded":
        what = f"card payment of {total} taken on the portal"
    elif payment.status == "requires_action":
        what = (
            f"card payment of {total} started on the portal, awaiting the bank's 3-D Secure check"
        )
    else:
        what = f"card payment of {total} made on the portal, {payment.status.replace('_', ' ')}"
    for invoice in invoices:
        if invoice.id in already:
            continue
        detail = f"{what}, {payment.id}"
        if len(invoices) > 1:
            share = format_money(invoice.amount_due, invoice.currency)
            detail = f"{what} for {len(invoices)} invoices ({share} for this one), {payment.id}"
        session.add(
            Event(
                organisation_id=saved_id(visit.organisation),
                invoice_id=saved_id(invoice),
                kind=CARD_PAYMENT,
                detail=detail,
            )
        )
    await session.commit()


def outcome_message(payment: CardPayment) -> str:
    if payment.status == "succeeded":
        return PAID
    if payment.status == "requires_action":
        return CONFIRM
    if payment.status == "processing":
        return PROCESSING
    return "The payment was not completed: please try again or use another card."
