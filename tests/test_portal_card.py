"""Paying invoices by card on the portal: `POST /pay/{token}/card` against a real localstripe
process, on SQLite and PostgreSQL.

What is charged comes from duely's own records, never the browser; the PaymentIntent says in
its metadata which invoices it pays; a double click charges once; a decline, another
customer's invoice, mixed currencies, a missing CSRF token or an organisation without Stripe
charge nothing and record nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest
import pytest_asyncio
from litestar.testing import AsyncTestClient
from sqlmodel import select

from duely.core.security import SecretBox
from duely.models import Event, Invoice, Organisation
from duely.payments.allocations import Allocation, Share, from_metadata, to_metadata
from duely.web.app import create_app
from tests.conftest import csrf_from
from tests.factories import add_customer, add_invoice
from tests.serving import free_port
from tests.stripe_fake import DECLINED, NEEDS_3DS
from tests.test_portal import server_log, token_for

PAID = "Payment received, thank you — your invoices will show as paid in a moment."


def with_stripe(settings, api_base: str):
    return settings.model_copy(
        update={"stripe_api_base": api_base, "stripe_js_url": f"{api_base}/js.stripe.com/v3/"}
    )


@pytest.fixture
def card_settings(settings, localstripe):
    return with_stripe(settings, localstripe.api_base)


@pytest_asyncio.fixture
async def card_client(card_settings):
    async with AsyncTestClient(app=create_app(card_settings)) as test_client:
        yield test_client


def takes_cards(db, settings, org_id: int, secret_key: str, publishable_key: str) -> None:
    """The organisation's own Stripe key, stored as the settings page stores it."""
    organisation = db.get(Organisation, org_id)
    organisation.stripe_secret_key_encrypted = SecretBox(settings.resolved_secret_key).encrypt(
        secret_key
    )
    organisation.stripe_publishable_key = publishable_key
    db.commit()


@pytest.fixture
def shop(db, card_settings, localstripe, org_a):
    """Organisation A takes cards; its customer Acme owes three invoices (two in GBP)."""
    takes_cards(db, card_settings, org_a.id, localstripe.secret_key, localstripe.publishable_key)
    acme = add_customer(db, org_a.id, "Acme Widgets")
    first = add_invoice(db, acme, "INV-1", 12, amount=12_000)
    second = add_invoice(db, acme, "INV-2", 3, amount=3_050)
    euros = add_invoice(db, acme, "EU-1", 5, amount=9_999, currency="EUR")
    return acme, first, second, euros


def timeline(db, invoice: Invoice) -> list[Event]:
    db.expire_all()
    return list(db.exec(select(Event).where(Event.invoice_id == invoice.id).order_by(Event.id)))


async def open_page(client, url: str) -> str:
    page = await client.get(url)
    assert page.status_code == 200, page.text
    return page.text


async def pay(client, url: str, csrf: str | None, invoices: list, payment_method: str, **more):
    headers = {"x-csrftoken": csrf} if csrf else {}
    body = {"invoices": invoices, "payment_method": payment_method, **more}
    return await client.post(f"{url}/card", json=body, headers=headers)


# --- the page ----------------------------------------------------------------------------------


async def test_the_page_offers_the_card_form(card_client, card_settings, localstripe, shop):
    acme, *_ = shop
    url = f"/pay/{token_for(card_settings, acme)}"
    html = await open_page(card_client, url)
    section = html.split('id="portal-pay"', 1)[1].split("</section>", 1)[0]
    assert f'data-stripe-js="{localstripe.js_url}"' in section
    assert f'data-publishable-key="{localstripe.publishable_key}"' in section
    assert f'data-card-url="{url}/card"' in section
    assert '<script src="/static/pay.js" defer></script>' in section
    assert "data-card-element" in section and 'aria-live="polite"' in section
    assert re.search(r'<button type="button" class="pay-button" data-pay-button disabled', section)
    assert "does not take card payments" not in html
    assert localstripe.secret_key not in html  # only the publishable key reaches the page
    script = await card_client.get("/static/pay.js")
    assert script.status_code == 200 and "createPaymentMethod" in script.text
    assert "javascript" in script.headers["content-type"]


# --- paying ------------------------------------------------------------------------------------


async def test_paying_two_invoices_by_card(
    card_client, card_settings, db, localstripe, shop, org_a, caplog
):
    acme, first, second, euros = shop
    token = token_for(card_settings, acme)
    url = f"/pay/{token}"
    csrf = csrf_from(await open_page(card_client, url))

    with caplog.at_level(logging.INFO):
        # The browser cannot set the amount: an `amount` it sends is ignored.
        answer = await pay(
            card_client, url, csrf, [second.id, str(first.id)], localstripe.card(), amount=1
        )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "succeeded" and body["message"] == PAID
    assert "client_secret" not in body
    assert answer.headers["cache-control"] == "no-store"

    [intent] = localstripe.payment_intents()
    assert intent["id"] == body["payment_intent"]
    assert (intent["amount"], intent["currency"], intent["status"]) == (15_050, "gbp", "succeeded")
    allocation = from_metadata(intent["metadata"])
    assert allocation == Allocation(
        org_a.id, acme.id, (Share(second.id, 3_050), Share(first.id, 12_000))
    )
    assert to_metadata(allocation).items() <= intent["metadata"].items()

    for invoice, share in ((first, "GBP 120.00"), (second, "GBP 30.50")):
        [event] = timeline(db, invoice)
        assert event.kind == "card_payment" and event.organisation_id == org_a.id
        assert "card payment of GBP 150.50 taken on the portal" in event.detail
        assert share in event.detail and intent["id"] in event.detail
    assert timeline(db, euros) == []
    db.expire_all()
    assert db.get(Invoice, first.id).status == "open"  # the ledger is written from the webhook

    logged = server_log(caplog)
    assert f"customer {acme.id} of organisation {org_a.id}: card payment {intent['id']}" in logged
    assert token not in logged and "Acme" not in logged


async def test_a_declined_card_is_a_402_and_nothing_is_recorded(
    card_client, card_settings, db, localstripe, shop
):
    acme, first, *_ = shop
    url = f"/pay/{token_for(card_settings, acme)}"
    csrf = csrf_from(await open_page(card_client, url))
    declined = await pay(card_client, url, csrf, [first.id], localstripe.card(DECLINED))
    assert declined.status_code == 402
    assert declined.json() == {"status": "declined", "message": "Your card was declined."}
    assert timeline(db, first) == []
    # The customer tries again with another card, and that one goes through.
    again = await pay(card_client, url, csrf, [first.id], localstripe.card())
    assert again.status_code == 200 and again.json()["status"] == "succeeded"
    assert [e.kind for e in timeline(db, first)] == ["card_payment"]


async def test_3d_secure_hands_the_client_secret_to_the_page(
    card_client, card_settings, db, localstripe, shop
):
    acme, first, *_ = shop
    url = f"/pay/{token_for(card_settings, acme)}"
    csrf = csrf_from(await open_page(card_client, url))
    answer = await pay(card_client, url, csrf, [first.id], localstripe.card(NEEDS_3DS))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "requires_action"
    assert body["client_secret"].startswith(f"{body['payment_intent']}_secret_")
    [event] = timeline(db, first)
    assert "3-D Secure" in event.detail and body["payment_intent"] in event.detail


async def test_a_double_click_charges_once(card_client, card_settings, db, localstripe, shop):
    acme, first, second, _ = shop
    url = f"/pay/{token_for(card_settings, acme)}"
    csrf = csrf_from(await open_page(card_client, url))
    card = localstripe.card()
    # Two at once (a double click), then the same again (a reload and a second try).
    answers = await asyncio.gather(
        pay(card_client, url, csrf, [first.id, second.id], card),
        pay(card_client, url, csrf, [second.id, first.id], card),
    )
    answers.append(await pay(card_client, url, csrf, [first.id, second.id], card))
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["payment_intent"] for a in answers}) == 1
    assert len(localstripe.payment_intents()) == 1
    assert len(timeline(db, first)) == 1 and len(timeline(db, second)) == 1
    # A different card is a different payment.
    other = await pay(card_client, url, csrf, [first.id, second.id], localstripe.card())
    assert other.json()["payment_intent"] != answers[0].json()["payment_intent"]
    assert len(localstripe.payment_intents()) == 2


# --- refusals ----------------------------------------------------------------------------------


async def test_what_cannot_be_paid_is_refused(
    card_client, card_settings, db, localstripe, shop, org_a, org_b
):
    acme, first, second, euros = shop
    paid = add_invoice(db, acme, "PAID-1", 10, status="paid")
    others = add_invoice(db, add_customer(db, org_a.id, "Other Customer"), "OTHER-1", 10)
    strangers = add_invoice(db, add_customer(db, org_b.id, "Stranger"), "BRAVO-1", 10)
    url = f"/pay/{token_for(card_settings, acme)}"
    csrf = csrf_from(await open_page(card_client, url))
    card = localstripe.card()

    for ids in ([others.id], [strangers.id], [first.id, others.id], ["1; drop"]):
        refused = await pay(card_client, url, csrf, ids, card)
        assert refused.status_code == 404, ids
        assert refused.json()["status"] == "not_found"
        assert "OTHER-1" not in refused.text and "BRAVO-1" not in refused.text

    mixed = await pay(card_client, url, csrf, [first.id, euros.id], card)
    assert mixed.status_code == 400
    assert "one currency" in mixed.json()["message"] and "EUR" in mixed.json()["message"]

    refusals = [
        ({"invoices": [paid.id], "payment_method": card}, "Nothing is due on PAID-1"),
        ({"invoices": [], "payment_method": card}, "Tick the invoices"),
        ({"invoices": "all", "payment_method": card}, "Tick the invoices"),
        ({"invoices": [first.id]}, "card details"),
        ({"invoices": [first.id], "payment_method": "tok_<script>"}, "card details"),
        ({"invoices": [True], "payment_method": card}, "not understood"),
        (["not", "an", "object"], "not understood"),
    ]
    for body, message in refusals:
        refused = await card_client.post(f"{url}/card", json=body, headers={"x-csrftoken": csrf})
        assert refused.status_code == 400, body
        assert message in refused.json()["message"], body
    garbage = await card_client.post(
        f"{url}/card",
        content=b"{not json",
        headers={"x-csrftoken": csrf, "content-type": "application/json"},
    )
    assert garbage.status_code == 400 and "not understood" in garbage.json()["message"]

    bad_link = await pay(card_client, "/pay/not-a-token", csrf, [first.id], card)
    assert bad_link.status_code == 400 and bad_link.json()["status"] == "invalid_link"

    assert localstripe.payment_intents() == []
    for invoice in (first, second, euros, paid, others, strangers):
        assert timeline(db, invoice) == []


async def test_the_card_post_needs_the_csrf_token(
    card_client, card_settings, db, localstripe, shop
):
    acme, first, *_ = shop
    url = f"/pay/{token_for(card_settings, acme)}"
    await open_page(card_client, url)  # the cookie alone is not enough
    for csrf in (None, "forged"):
        refused = await pay(card_client, url, csrf, [first.id], localstripe.card())
        assert refused.status_code == 403
        assert refused.json()["status"] == "error" and "reload" in refused.json()["message"]
    assert localstripe.payment_intents() == [] and timeline(db, first) == []


async def test_without_stripe_there_is_no_card_form_and_no_charge(
    card_client, card_settings, db, localstripe, org_b
):
    acme = add_customer(db, org_b.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    url = f"/pay/{token_for(card_settings, acme)}"
    html = await open_page(card_client, url)
    assert "This business does not take card payments here yet" in html
    assert "pay.js" not in html and "js.stripe.com" not in html
    refused = await pay(card_client, url, csrf_from(html), [invoice.id], localstripe.card())
    assert refused.status_code == 409
    assert "does not take card payments" in refused.json()["message"]
    assert localstripe.payment_intents() == [] and timeline(db, invoice) == []


async def test_stripe_out_of_reach_is_a_calm_502(settings, db, localstripe, org_a):
    down = with_stripe(settings, f"http://127.0.0.1:{free_port()}")
    takes_cards(db, down, org_a.id, localstripe.secret_key, localstripe.publishable_key)
    acme = add_customer(db, org_a.id, "Acme Widgets")
    invoice = add_invoice(db, acme, "INV-1", 10)
    url = f"/pay/{token_for(down, acme)}"
    async with AsyncTestClient(app=create_app(down)) as client:
        csrf = csrf_from(await open_page(client, url))
        failed = await pay(client, url, csrf, [invoice.id], "card_abcdef123456")
    assert failed.status_code == 502
    assert failed.json()["message"].startswith("The card payment could not be made right now")
    assert "127.0.0.1" not in failed.text and localstripe.secret_key not in failed.text
    assert timeline(db, invoice) == []
