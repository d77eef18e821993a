"""duely's Stripe client against a real localstripe process: card payments (paid, declined,
3-D Secure), reading them back, the Events API, signed webhooks arriving at a real HTTP
server, signature checks, and failures that must read well and never show the key.

Where the exact request matters (the Idempotency-Key, `Stripe-Account`, which parameters are
sent), the gateway talks to localstripe through a small recording proxy on loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import stripe
from litestar import Litestar, Request, Response, post, route
from litestar.params import FromPath

from duely.integrations.payments import stripe as stripe_module
from duely.integrations.payments.stripe import (
    BadSignature,
    CardDeclined,
    CardPayment,
    StripeAccount,
    StripeError,
    StripeGateway,
    verify_event,
)
from tests.serving import free_port, serve, shut
from tests.stripe_fake import DECLINED, NEEDS_3DS, SUCCEEDS

WEBHOOK_SECRET = "whsec_gateway_tests"
METADATA = {"duely_org": "7", "duely_customer": "42", "duely_invoices": "101:12000,102:3050"}


def account_of(localstripe, **changes) -> StripeAccount:
    fields = {"api_base": localstripe.api_base, "secret_key": localstripe.secret_key}
    return StripeAccount(**{**fields, **changes})


async def pay(gateway: StripeGateway, card: str, amount: int = 15_050, **changes) -> CardPayment:
    fields = {
        "amount": amount,
        "currency": "GBP",
        "payment_method": card,
        "metadata": METADATA,
        "idempotency_key": f"test-{card}-{amount}",
    }
    return await gateway.pay(**{**fields, **changes})


@pytest_asyncio.fixture
async def gateway(localstripe) -> AsyncIterator[StripeGateway]:
    async with StripeGateway(account_of(localstripe)) as opened:
        yield opened


# --- paying ------------------------------------------------------------------------------------


async def test_a_good_card_is_charged_with_the_metadata(gateway, localstripe):
    payment = await pay(gateway, localstripe.card(SUCCEEDS), description="Alpha Ltd: INV-1")
    assert payment.status == "succeeded"
    assert (payment.amount, payment.currency) == (15_050, "GBP")
    assert payment.id.startswith("pi_") and payment.client_secret.startswith(payment.id)

    stored = localstripe.get(f"/v1/payment_intents/{payment.id}")
    assert (stored["amount"], stored["currency"], stored["status"]) == (15_050, "gbp", "succeeded")
    # The metadata round-trips exactly; the description rides along in it (see `pay`).
    assert stored["metadata"] == {**METADATA, "description": "Alpha Ltd: INV-1"}

    again = await gateway.payment(payment.id)
    assert again == payment


async def test_a_declined_card_raises_card_declined(gateway, localstripe):
    with pytest.raises(CardDeclined) as declined:
        await pay(gateway, localstripe.card(DECLINED))
    assert str(declined.value) == "Your card was declined."
    assert declined.value.code == "card_declined"
    assert isinstance(declined.value, StripeError)  # callers may catch either


async def test_a_card_needing_3d_secure_comes_back_for_the_page(gateway, localstripe):
    payment = await pay(gateway, localstripe.card(NEEDS_3DS))
    assert payment.status == "requires_action"
    assert payment.client_secret.startswith(f"{payment.id}_secret_")
    # Nothing is charged until the customer's bank confirms it in the browser.
    assert localstripe.get(f"/v1/payment_intents/{payment.id}")["latest_charge"] is None


async def test_bad_arguments_are_refused_before_stripe_is_asked(gateway, localstripe):
    card = localstripe.card()
    for changes in (
        {"amount": 0},
        {"amount": 10.5},
        {"currency": "pounds"},
        {"payment_method": ""},
        {"idempotency_key": ""},
        {"idempotency_key": "k" * 256},
    ):
        with pytest.raises(ValueError):
            await pay(gateway, card, **changes)
    assert localstripe.payment_intents() == []


# --- exactly what goes over the wire -----------------------------------------------------------


class Recorder:
    """A loopback proxy in front of localstripe that keeps every request it passes on;
    `fail_with` answers that status itself instead."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.fail_with = 0

    def app(self) -> Litestar:
        @route("/{path:path}", http_method=["GET", "POST"])
        async def forward(request: Request, path: FromPath[str]) -> Response:
            body = await request.body()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.requests.append((request.method, path, headers, body))
            if self.fail_with:
                return Response({"error": {"message": "boom"}}, status_code=self.fail_with)
            passed = {k: v for k, v in headers.items() if k in ("authorization", "content-type")}
            async with httpx.AsyncClient() as client:
                answer = await client.request(
                    request.method,
                    f"{self.target}{path}",
                    params=dict(request.query_params),
                    content=body,
                    headers=passed,
                )
            return Response(
                answer.content, status_code=answer.status_code, media_type="application/json"
            )

        return Litestar([forward])


async def test_the_request_carries_the_idempotency_key_and_only_accepted_parameters(localstripe):
    recorder = Recorder(localstripe.api_base)
    served = await serve(recorder.app())
    try:
        account = account_of(localstripe, api_base=served.url, account_id="acct_business1")
        async with StripeGateway(account) as gateway:
            payment = await pay(gateway, localstripe.card(), idempotency_key="duely-key-1")
        assert payment.status == "succeeded"
        method, path, headers, body = recorder.requests[-1]
        assert (method, path) == ("POST", "/v1/payment_intents")
        assert headers["idempotency-key"] == "duely-key-1"
        assert headers["stripe-account"] == "acct_business1"  # Connect
        sent = httpx.QueryParams(body.decode())
        names = {key.split("[", 1)[0] for key in sent}
        assert names == {
            "amount",
            "currency",
            "payment_method",
            "payment_method_types",
            "confirm",
            "metadata",
        }
        assert sent["confirm"] == "true" and sent["payment_method_types[0]"] == "card"

        # Stripe failing (a 5xx) is a StripeError a person can read.
        recorder.fail_with = 500
        async with StripeGateway(account) as gateway:
            with pytest.raises(StripeError) as failed:
                await gateway.payment(payment.id)
        assert "HTTP 500" in str(failed.value) and not isinstance(failed.value, CardDeclined)

        # Without an account id, no Stripe-Account header: the business's own key.
        recorder.fail_with = 0
        async with StripeGateway(account_of(localstripe, api_base=served.url)) as gateway:
            await gateway.payment(payment.id)
        assert "stripe-account" not in recorder.requests[-1][2]
    finally:
        await shut(served)


async def test_nothing_listening_or_a_refused_key_is_a_stripe_error_without_the_key(localstripe):
    port = free_port()
    unreachable = StripeAccount(api_base=f"http://127.0.0.1:{port}", secret_key="sk_test_hidden_1")
    async with StripeGateway(unreachable, timeout=2) as gateway:
        with pytest.raises(StripeError) as failed:
            await pay(gateway, "card_anything")
    assert "could not be reached" in str(failed.value) and str(port) in str(failed.value)
    assert "sk_test_hidden_1" not in str(failed.value)

    # localstripe, like Stripe, refuses a key that is not a secret key.
    refused = account_of(localstripe, secret_key="pk_test_not_secret_at_all")
    async with StripeGateway(refused) as gateway:
        with pytest.raises(StripeError) as failed:
            await gateway.events(0, ["payment_intent.succeeded"])
    assert "refused the secret key" in str(failed.value)
    assert "pk_test_not_secret_at_all" not in str(failed.value)

    with pytest.raises(StripeError, match="no Stripe secret key"):
        StripeGateway(StripeAccount(api_base=localstripe.api_base, secret_key=""))


# --- the Events API ----------------------------------------------------------------------------


async def test_events_lists_every_matching_event_oldest_first(gateway, localstripe, monkeypatch):
    started = int(time.time()) - 1
    first = await pay(gateway, localstripe.card(), amount=1_000)
    with pytest.raises(CardDeclined):
        await pay(gateway, localstripe.card(DECLINED), amount=2_000)
    # The next payments land in a later second than the first's event, for the `created`
    # filter: the next whole second after the first two answered (a fixed second after
    # `started` was not enough when they took over a second, under load in CI).
    await asyncio.sleep(1.05 - time.time() % 1)
    later = [await pay(gateway, localstripe.card(), amount=3_000 + n) for n in range(4)]

    # Small pages, so that paging with starting_after is exercised.
    monkeypatch.setattr(stripe_module, "PAGE_SIZE", 2)
    succeeded = await gateway.events(started, ["payment_intent.succeeded"])
    assert [e["data"]["object"]["id"] for e in succeeded] == [first.id] + [p.id for p in later]
    assert all(isinstance(event, dict) for event in succeeded)
    assert succeeded[0]["data"]["object"]["metadata"] == METADATA
    created = [event["created"] for event in succeeded]
    assert created == sorted(created)

    both = await gateway.events(
        started, ["payment_intent.succeeded", "payment_intent.payment_failed"]
    )
    assert [e["type"] for e in both].count("payment_intent.payment_failed") == 1
    assert len(both) == 6 and len({event["id"] for event in both}) == 6

    after_first = await gateway.events(first_event_time(succeeded), ["payment_intent.succeeded"])
    assert [e["data"]["object"]["id"] for e in after_first] == [p.id for p in later]
    assert await gateway.events(int(time.time()) + 60, ["payment_intent.succeeded"]) == []


def first_event_time(events: list[dict]) -> int:
    return events[0]["created"]


# --- webhooks ----------------------------------------------------------------------------------


async def test_a_webhook_from_localstripe_passes_verify_event(gateway, localstripe):
    received: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    @post("/hook", status_code=200)
    async def hook(request: Request) -> dict:
        await received.put((await request.body(), request.headers.get("stripe-signature", "")))
        return {"received": True}

    served = await serve(Litestar([hook]))
    try:
        localstripe.register_webhook(
            f"{served.url}/hook", WEBHOOK_SECRET, ["payment_intent.succeeded"]
        )
        payment = await pay(gateway, localstripe.card())
        # Events of earlier tests' payments may still be on their way: wait for this one's.
        async with asyncio.timeout(10):
            while True:
                body, header = await received.get()
                event = verify_event(body, header, ["whsec_some_other_endpoint", WEBHOOK_SECRET])
                if event["data"]["object"]["id"] == payment.id:
                    break
    finally:
        await shut(served)

    assert event["type"] == "payment_intent.succeeded"
    assert event["data"]["object"]["metadata"] == METADATA
    # The official package agrees with it.
    assert stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET).id == event["id"]

    with pytest.raises(BadSignature, match="signature does not match"):
        verify_event(body, header, ["whsec_wrong"])
    with pytest.raises(BadSignature, match="signature does not match"):
        verify_event(body.replace(b"succeeded", b"SUCCEEDED"), header, [WEBHOOK_SECRET])
    with pytest.raises(BadSignature, match="signature is too old"):
        verify_event(body, header, [WEBHOOK_SECRET], now=event["created"] + 301)
    assert verify_event(body, header, [WEBHOOK_SECRET], now=event["created"] + 299) == event


def signed(body: bytes, secret: str, at: int) -> str:
    signature = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={signature}"


def test_verify_event_refuses_what_stripe_would():
    body = json.dumps({"id": "evt_1", "type": "charge.refunded"}).encode()
    now = 1_800_000_000
    good = signed(body, WEBHOOK_SECRET, now)
    assert verify_event(body, good, [WEBHOOK_SECRET], now=now)["id"] == "evt_1"
    # A second v1 (Stripe sends two while a secret is rolled) and spaces are fine.
    rolled = f"t={now}, v1={'0' * 64}, v1={good.split('v1=')[1]}"
    assert verify_event(body, rolled, [WEBHOOK_SECRET], now=now)["id"] == "evt_1"

    refusals = [
        (body, "", "no Stripe-Signature header"),
        (body, "   ", "no Stripe-Signature header"),
        (body, f"v1={'a' * 64}", "malformed"),
        (body, f"t=soon,v1={'a' * 64}", "malformed"),
        (body, f"t={now}", "malformed"),
        (body, f"t={now},v0={'a' * 64}", "malformed"),
        (body, signed(body, "whsec_other", now), "signature does not match"),
        (body, signed(body, WEBHOOK_SECRET, now - 301), "signature is too old"),
        (body, signed(body, WEBHOOK_SECRET, now + 301), "in the future"),
        (b"[1, 2]", signed(b"[1, 2]", WEBHOOK_SECRET, now), "not a Stripe event"),
        (b"not json", signed(b"not json", WEBHOOK_SECRET, now), "not a Stripe event"),
    ]
    for payload, header, message in refusals:
        with pytest.raises(BadSignature, match=message):
            verify_event(payload, header, [WEBHOOK_SECRET], now=now)
    with pytest.raises(BadSignature, match="no webhook secret"):
        verify_event(body, good, ["", ""], now=now)
    # The tolerance is the caller's to choose.
    late = signed(body, WEBHOOK_SECRET, now - 500)
    assert verify_event(body, late, [WEBHOOK_SECRET], tolerance=600, now=now)["id"] == "evt_1"
    # And the official package accepts what duely accepts.
    assert stripe.WebhookSignature.verify_header(body.decode(), good, WEBHOOK_SECRET, 10**10)
