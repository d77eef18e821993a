"""Issue 12, finding 1: one organisation could claim another's Stripe Connect account (by
typing its `acct_...`) and receive its payments. Accounts are now linked only through
Stripe's OAuth (the sandbox's emulator of connect.stripe.com here), belong to one
organisation, and each account's events reach its one owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from duely.models import Organisation, Payment, WebhookEvent
from duely.payments.allocations import Allocation, Share, to_metadata
from duely.sandbox import create_sandbox_app
from duely.sandbox.stripe_connect.consent import choose_account
from duely.sandbox.stripe_connect.sandbox import StripeConnectSandbox
from duely.web.app import create_app
from duely.web.stripe_connect import CALLBACK_PATH
from tests.conftest import api_token, csrf_from, login
from tests.factories import add_customer, add_invoice
from tests.serving import serve, shut
from tests.stripe_webhooks import body_of, payment_succeeded, signature_header

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CLIENT_ID = "ca_duelyplatformtests"
PLATFORM_KEY = "sk_test_duelyplatformkey"
PLATFORM_WEBHOOK_SECRET = "whsec_platform_connect_endpoint"


@dataclass
class Platform:
    """duely on a real socket (it calls Stripe while a browser waits on it, so the test's
    in-process client, which blocks this loop, will not do) beside the sandbox's Stripe."""

    sandbox: StripeConnectSandbox
    url: str
    browsers: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self) -> httpx.AsyncClient:
        browser = httpx.AsyncClient(base_url=self.url, timeout=30)
        self.browsers.append(browser)
        return browser


@pytest_asyncio.fixture
async def platform(settings) -> AsyncIterator[Platform]:
    sandbox = StripeConnectSandbox()
    sandbox.add_platform(CLIENT_ID, PLATFORM_KEY, [f"{settings.public_url}{CALLBACK_PATH}"])
    stripe = await serve(create_sandbox_app(stripe_connect=sandbox))
    settings.stripe_connect_client_id = CLIENT_ID
    settings.stripe_secret_key = PLATFORM_KEY
    settings.stripe_publishable_key = "pk_test_duelyplatform"
    settings.stripe_connect_url = f"{stripe.url}/stripe-connect"
    settings.stripe_webhook_secret = PLATFORM_WEBHOOK_SECRET
    duely = await serve(create_app(settings))
    platform = Platform(sandbox, duely.url)
    try:
        yield platform
    finally:
        for browser in platform.browsers:
            await browser.aclose()
        await shut(duely)
        await shut(stripe)


async def start_connect(client: httpx.AsyncClient) -> str:
    """The admin presses "Connect with Stripe"; returns where Stripe's page is."""
    token = csrf_from((await client.get("/settings/organisation")).text)
    started = await client.post(
        "/settings/organisation/stripe/connect",
        data={"_csrf_token": token},
        follow_redirects=False,  # Stripe is another server: the test's browser goes there
    )
    assert started.status_code == 303, started.text
    return started.headers["location"]


async def come_back(client: httpx.AsyncClient, callback: str):
    """The browser follows Stripe's redirect back to duely."""
    parts = urlsplit(callback)
    return await client.get(f"{parts.path}?{parts.query}")


async def connect(client: httpx.AsyncClient, account_id: str, allow: bool = True):
    return await come_back(
        client, await choose_account(await start_connect(client), account_id, allow)
    )


def linked(db, org_id: int) -> str:
    return db.get(Organisation, org_id, populate_existing=True).stripe_account_id


async def test_an_admin_links_their_account_through_stripe_and_nobody_else_can(
    db, org_a, org_b, platform
):
    business = platform.sandbox.add_account("Alpha Ltd")
    client = platform.browser()
    await login(client, org_a.admin)
    page = await client.get("/settings/organisation")
    assert "Connect with Stripe" in page.text and 'name="account_id"' not in page.text

    done = await connect(client, business.id)
    assert done.status_code == 200, done.text
    assert f"Stripe account {business.id} linked" in done.text
    assert linked(db, org_a.id) == business.id
    view = (
        await client.get("/api/v1/organisation", headers=await api_token(client, org_a.admin))
    ).json()
    assert view["stripe"]["mode"] == "connect" and view["stripe"]["ready"] is True

    # Bravo's admin signs in to Stripe with the same account: refused, nothing changes.
    async with platform.browser() as bravo:
        await login(bravo, org_b.admin)
        refused = await connect(bravo, business.id)
        assert refused.status_code == 409
        assert "already linked to another organisation" in refused.text
        assert linked(db, org_b.id) == "" and linked(db, org_a.id) == business.id

        # ... and cannot name it in the API either (the reproduction of the finding).
        patched = await bravo.patch(
            "/api/v1/organisation",
            json={"stripe": {"account_id": business.id}},
            headers=await api_token(bravo, org_b.admin),
        )
        assert patched.status_code == 400
        assert "linked through Stripe's sign-in" in patched.json()["extra"]["stripe.account_id"]
        assert linked(db, org_b.id) == ""


async def test_the_database_keeps_one_organisation_per_account(db, org_a, org_b):
    for org in (org_a, org_b):
        db.get(Organisation, org.id).stripe_account_id = "acct_1SharedByNobody"
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
    for org in (org_a, org_b):  # no account is no account: many organisations have none
        db.get(Organisation, org.id).stripe_account_id = ""
    db.commit()


async def test_a_stripe_answer_this_session_did_not_ask_for_links_nothing(
    db, org_a, org_b, platform
):
    business = platform.sandbox.add_account("Bravo Ltd")
    client = platform.browser()
    async with platform.browser() as bravo:
        await login(bravo, org_b.admin)
        callback = await choose_account(await start_connect(bravo), business.id)
    # Alpha's admin is lured to Bravo's callback (a login CSRF of sorts): refused.
    await login(client, org_a.admin)
    lured = await come_back(client, callback)
    assert lured.status_code == 409 and "not started from this page" in lured.text
    assert linked(db, org_a.id) == "" and linked(db, org_b.id) == ""

    declined = await connect(client, business.id, allow=False)
    assert declined.status_code == 409
    assert "Stripe did not connect the account (The user denied your request)" in declined.text
    assert linked(db, org_a.id) == ""


async def test_unlinking_tells_stripe(db, org_a, platform):
    business = platform.sandbox.add_account("Alpha Ltd")
    client = platform.browser()
    await login(client, org_a.admin)
    await connect(client, business.id)
    assert (CLIENT_ID, business.id) in platform.sandbox.connections
    token = csrf_from((await client.get("/settings/organisation")).text)
    gone = await client.post(
        "/settings/organisation/stripe/disconnect", data={"_csrf_token": token}
    )
    assert gone.status_code == 200 and "Unlinked" in gone.text
    assert linked(db, org_a.id) == ""
    assert (CLIENT_ID, business.id) not in platform.sandbox.connections


async def test_only_admins_link_an_account(org_a, platform):
    client = platform.browser()
    await login(client, org_a.collector)
    token = csrf_from((await client.get("/settings/organisation")).text)
    answer = await client.post("/settings/organisation/stripe/connect", data={"_csrf_token": token})
    assert answer.status_code == 403


async def deliver(client: httpx.AsyncClient, stripe_event: dict):
    body = body_of(stripe_event)
    headers = {"Stripe-Signature": signature_header(body, PLATFORM_WEBHOOK_SECRET)}
    return await client.post("/webhooks/stripe", content=body, headers=headers)


def bravo_invoice_payment(db, org_b, account_id: str) -> dict:
    customer = add_customer(db, org_b.id, "Bravo's customer")
    invoice = add_invoice(db, customer, "INV-B1", 0)
    metadata = to_metadata(Allocation(org_b.id, customer.id, (Share(invoice.id, 100_00),)))
    event = payment_succeeded("pi_connect_elsewhere", 100_00, "GBP", metadata)
    event["account"] = account_id
    return event


async def test_a_connect_event_belongs_to_its_accounts_owner_whatever_its_metadata_says(
    db, org_a, org_b, platform
):
    """Money paid into Alpha's account, its metadata naming Bravo's invoice: it is Alpha's
    (unmatched there), and Bravo's invoice is not told it was paid."""
    alpha_account = platform.sandbox.add_account("Alpha Ltd")
    client = platform.browser()
    await login(client, org_a.admin)
    await connect(client, alpha_account.id)

    answer = await deliver(client, bravo_invoice_payment(db, org_b, alpha_account.id))
    assert answer.status_code == 200, answer.text
    kept = db.exec(select(WebhookEvent)).one()
    assert kept.organisation_id == org_a.id
    payments = db.exec(select(Payment)).all()
    assert all(p.organisation_id == org_a.id for p in payments)
    assert not any(p.organisation_id == org_b.id for p in payments)


async def test_a_connect_event_for_an_account_nobody_here_owns_is_nobodys(db, org_b, platform):
    """Anyone with a Stripe account can write Bravo's invoice into a payment's metadata:
    that payment went to their account, not Bravo's, and must not mark Bravo's invoice."""
    answer = await deliver(
        platform.browser(), bravo_invoice_payment(db, org_b, "acct_1NotLinkedHere00")
    )
    assert answer.status_code == 200, answer.text
    kept = db.exec(select(WebhookEvent)).one()
    assert kept.organisation_id is None
    assert db.exec(select(Payment)).all() == []
