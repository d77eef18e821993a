"""duely's QuickBooks OAuth against the sandbox's real pages and token endpoint: the consent
redirect brings code, state and realmId; the code is redeemed with PKCE and HTTP Basic client
authentication; refresh tokens rotate (an old one is refused once its grace is over, which
duely reports as a connection to reconnect); revocation ends the grant."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import pytest_asyncio

from duely.integrations.ledgers.base import LedgerAuthError
from duely.integrations.ledgers.quickbooks.oauth import QuickBooksEndpoints, QuickBooksOAuth
from duely.sandbox import create_sandbox_app
from duely.sandbox.quickbooks import QuickBooksSandbox
from tests.serving import serve, shut

CLIENT_ID, CLIENT_SECRET = "duely-qb-oauth", "duely-qb-oauth-secret"
REDIRECT_URI = "http://127.0.0.1:9/connections/quickbooks/callback"


@dataclass
class Intuit:
    sandbox: QuickBooksSandbox
    oauth: QuickBooksOAuth
    base: str


@pytest_asyncio.fixture
async def intuit() -> AsyncIterator[Intuit]:
    sandbox = QuickBooksSandbox()
    sandbox.register_app(CLIENT_ID, CLIENT_SECRET, "duely tests", [REDIRECT_URI])
    sandbox.add_company("Consenting Ltd", 20, seed=41)
    served = await serve(create_sandbox_app(quickbooks=sandbox))
    base = f"{served.url}/quickbooks"
    endpoints = QuickBooksEndpoints.under(base)
    try:
        yield Intuit(sandbox, QuickBooksOAuth(endpoints, CLIENT_ID, CLIENT_SECRET), base)
    finally:
        await shut(served)


async def consent(intuit: Intuit) -> dict[str, str]:
    """A person follows duely's authorization URL and picks the company; the redirect's query."""
    request = intuit.oauth.authorization_request(REDIRECT_URI)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(request.url)
        assert page.status_code == 200 and "Consenting Ltd" in page.text
        form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
        (realm_id,) = re.findall(r'name="realm_id" value="([^"]+)"', page.text)
        answer = await browser.post(
            str(page.url), data={**form, "realm_id": realm_id, "decision": "allow"}
        )
    assert answer.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlparse(answer.headers["location"]).query).items()}
    assert query["state"] == request.state and query["realmId"] == realm_id
    return {**query, "verifier": request.code_verifier}


async def test_connecting_a_company_and_rotating_its_refresh_token(intuit):
    answer = await consent(intuit)
    tokens = await intuit.oauth.exchange_code(answer["code"], REDIRECT_URI, answer["verifier"])
    async with httpx.AsyncClient() as http:
        info = await http.get(
            f"{intuit.base}/v3/company/{answer['realmId']}/companyinfo/{answer['realmId']}",
            params={"minorversion": "75"},
            headers={
                "Authorization": f"Bearer {tokens.access_token}",
                "Accept": "application/json",
            },
        )
    assert info.json()["CompanyInfo"]["CompanyName"] == "Consenting Ltd"

    rotated = await intuit.oauth.refresh(tokens.refresh_token)
    assert rotated.refresh_token != tokens.refresh_token
    intuit.sandbox.clock.advance(26 * 3600)  # past the old refresh token's grace
    with pytest.raises(LedgerAuthError, match="Reconnect to QuickBooks"):
        await intuit.oauth.refresh(tokens.refresh_token)


async def test_a_code_is_redeemed_once_and_only_with_its_verifier(intuit):
    answer = await consent(intuit)
    with pytest.raises(LedgerAuthError, match="QuickBooks refused"):
        await intuit.oauth.exchange_code(answer["code"], REDIRECT_URI, "not-the-verifier" * 4)
    answer = await consent(intuit)
    await intuit.oauth.exchange_code(answer["code"], REDIRECT_URI, answer["verifier"])
    with pytest.raises(LedgerAuthError):
        await intuit.oauth.exchange_code(answer["code"], REDIRECT_URI, answer["verifier"])


async def test_revoking_ends_the_grant(intuit):
    answer = await consent(intuit)
    tokens = await intuit.oauth.exchange_code(answer["code"], REDIRECT_URI, answer["verifier"])
    await intuit.oauth.revoke(tokens.refresh_token)
    with pytest.raises(LedgerAuthError):
        await intuit.oauth.refresh(tokens.refresh_token)
