"""Intuit's OAuth endpoints as served by the sandbox: consent, PKCE, client authentication,
revocation; and the gateway's minorversion and concurrency rules."""

from __future__ import annotations

import asyncio
import base64
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from duely.sandbox.quickbooks.identity import pkce_challenge
from tests.sandbox.quickbooks.conftest import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, api

BASIC = {
    "Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
}
TOKEN = "/quickbooks/oauth2/v1/tokens/bearer"


def authorize_params(**extra: str) -> dict:
    return {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "scope": "com.intuit.quickbooks.accounting",
        "redirect_uri": REDIRECT_URI,
        "state": "st-1",
        **extra,
    }


async def consent(client, company, decision="allow", **extra) -> dict:
    page = await client.get("/quickbooks/connect/oauth2", params=authorize_params(**extra))
    assert page.status_code == 200 and company.name in page.text
    form = {**authorize_params(**extra), "decision": decision, "realm_id": company.realm_id}
    answer = await client.post(
        "/quickbooks/connect/oauth2",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["location"]).query).items()}


async def test_code_with_pkce(client, company):
    verifier = secrets.token_urlsafe(48)
    callback = await consent(
        client, company, code_challenge=pkce_challenge(verifier), code_challenge_method="S256"
    )
    assert callback["state"] == "st-1" and callback["realmId"] == company.realm_id
    form = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": REDIRECT_URI,
    }
    wrong = await client.post(TOKEN, data={**form, "code_verifier": "nope"}, headers=BASIC)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    callback = await consent(
        client, company, code_challenge=pkce_challenge(verifier), code_challenge_method="S256"
    )
    form["code"] = callback["code"]
    tokens = await client.post(TOKEN, data={**form, "code_verifier": verifier}, headers=BASIC)
    assert tokens.status_code == 200
    assert set(tokens.json()) == {
        "token_type",
        "access_token",
        "expires_in",
        "refresh_token",
        "x_refresh_token_expires_in",
    }
    reused = await client.post(TOKEN, data={**form, "code_verifier": verifier}, headers=BASIC)
    assert reused.json()["error"] == "invalid_grant"


async def test_refusals(client, company):
    assert (await consent(client, company, decision="cancel"))["error"] == "access_denied"
    bad_client = await client.get(
        "/quickbooks/connect/oauth2", params=authorize_params(client_id="x")
    )
    assert bad_client.status_code == 400 and "location" not in bad_client.headers
    bad_scope = await client.get(
        "/quickbooks/connect/oauth2",
        params=authorize_params(scope="everything"),
        follow_redirects=False,
    )
    assert "error=invalid_scope" in bad_scope.headers["location"]
    bad_secret = {"Authorization": "Basic " + base64.b64encode(f"{CLIENT_ID}:no".encode()).decode()}
    answer = await client.post(
        TOKEN, data={"grant_type": "refresh_token", "refresh_token": "x"}, headers=bad_secret
    )
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


async def test_revoke_takes_json_and_ends_the_grant(client, company, quickbooks):
    tokens = quickbooks.connect(CLIENT_ID, company.realm_id)
    revoked = await client.post(
        "/quickbooks/v2/oauth2/tokens/revoke", json={"token": tokens.refresh_token}, headers=BASIC
    )
    assert revoked.status_code == 200
    api_call = await client.get(
        f"{api(company)}/preferences", headers={"Authorization": f"Bearer {tokens.access_token}"}
    )
    assert api_call.status_code == 401
    again = await client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token},
        headers=BASIC,
    )
    assert again.json()["error"] == "invalid_grant"


async def test_minorversion(client, company, auth):
    for version in ("75", "65", "76"):
        answer = await client.get(
            f"{api(company)}/preferences", params={"minorversion": version}, headers=auth
        )
        assert answer.status_code == 200
    refused = await client.get(
        f"{api(company)}/preferences", params={"minorversion": "x"}, headers=auth
    )
    assert refused.status_code == 400 and refused.json()["Fault"]["type"] == "ValidationFault"


async def test_ten_in_flight(server, company, auth):
    """Eleven calls at once over a real socket: ten are served, one is throttled."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        rule = {"path_contains": "/preferences", "latency_ms": 300}
        await http.put("/quickbooks/_admin/faults", json={"rules": [rule]})
        answers = await asyncio.gather(
            *(http.get(f"{api(company)}/preferences", headers=auth) for _ in range(11))
        )
    assert sorted(a.status_code for a in answers) == [200] * 10 + [429]
