"""The Stripe Connect OAuth emulator, checked with the official `stripe` package's OAuth
client (its authorize URL, its token and deauthorize calls, its error classes), not with
duely's own client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
import stripe
from stripe.oauth_error import InvalidClientError, InvalidGrantError

from duely.sandbox import create_sandbox_app
from duely.sandbox.stripe_connect.consent import choose_account, query_of
from duely.sandbox.stripe_connect.sandbox import StripeConnectSandbox
from tests.serving import serve, shut

PLATFORM_KEY = "sk_test_platformkey4242"
CLIENT_ID = "ca_sandboxplatform"
REDIRECT = "http://127.0.0.1:9/settings/stripe/connected"


@dataclass
class Connect:
    sandbox: StripeConnectSandbox
    url: str

    def client(self, key: str = PLATFORM_KEY) -> stripe.StripeClient:
        return stripe.StripeClient(key, client_id=CLIENT_ID, base_addresses={"connect": self.url})


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Connect]:
    sandbox = StripeConnectSandbox()
    sandbox.add_platform(CLIENT_ID, PLATFORM_KEY, [REDIRECT])
    served = await serve(create_sandbox_app(stripe_connect=sandbox))
    try:
        yield Connect(sandbox, f"{served.url}/stripe-connect")
    finally:
        await shut(served)


async def code_for(connect: Connect, account_id: str, state: str = "st4te") -> dict[str, str]:
    url = connect.client().oauth.authorize_url(
        {"scope": "read_write", "state": state, "redirect_uri": REDIRECT}
    )
    return query_of(await choose_account(url, account_id))


async def test_the_official_client_connects_an_account_through_the_emulator(connect):
    business = connect.sandbox.add_account("Harbour Lane Supplies")
    back = await code_for(connect, business.id)
    assert back["state"] == "st4te" and back["scope"] == "read_write"
    assert back["code"].startswith("ac_")

    token = await asyncio.to_thread(
        connect.client().oauth.token, {"grant_type": "authorization_code", "code": back["code"]}
    )
    assert token.stripe_user_id == business.id
    assert token.stripe_publishable_key == business.publishable_key
    assert token.token_type == "bearer" and token.livemode is False
    assert token.scope == "read_write"

    gone = await asyncio.to_thread(
        connect.client().oauth.deauthorize, {"stripe_user_id": business.id}
    )
    assert gone.stripe_user_id == business.id
    with pytest.raises(InvalidClientError):  # not connected any more
        await asyncio.to_thread(connect.client().oauth.deauthorize, {"stripe_user_id": business.id})


async def test_a_code_is_good_once_and_only_for_its_platform(connect):
    business = connect.sandbox.add_account("Northwind Joinery")
    code = (await code_for(connect, business.id))["code"]
    connect.sandbox.add_platform("ca_other", "sk_test_otherplatform", [REDIRECT])

    with pytest.raises(InvalidGrantError, match="does not exist"):
        await asyncio.to_thread(
            connect.client("sk_test_otherplatform").oauth.token,
            {"grant_type": "authorization_code", "code": code},
        )
    await asyncio.to_thread(
        connect.client().oauth.token, {"grant_type": "authorization_code", "code": code}
    )
    with pytest.raises(InvalidGrantError, match="already used"):
        await asyncio.to_thread(
            connect.client().oauth.token, {"grant_type": "authorization_code", "code": code}
        )
    with pytest.raises(InvalidClientError):
        await asyncio.to_thread(
            connect.client("sk_test_notaplatform").oauth.token,
            {"grant_type": "authorization_code", "code": code},
        )


async def test_declining_redirects_with_access_denied_and_the_state(connect):
    business = connect.sandbox.add_account("Declines")
    url = connect.client().oauth.authorize_url({"scope": "read_write", "state": "s1"})
    back = query_of(await choose_account(url, business.id, allow=False))
    assert back == {
        "error": "access_denied",
        "error_description": "The user denied your request",
        "state": "s1",
    }


async def test_an_unregistered_redirect_uri_is_refused_on_the_page(connect):
    url = connect.client().oauth.authorize_url({"redirect_uri": "http://127.0.0.1:9/elsewhere"})
    with pytest.raises(RuntimeError, match="invalid_redirect_uri"):
        await choose_account(url, "acct_whatever")
